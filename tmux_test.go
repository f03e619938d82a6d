package smolbottle_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smolbottle/smolbottle/internal/scripttest"
	"github.com/smolbottle/smolbottle/smolvmtest"
)

// TestRunInTmux drives `bottle run` end to end in a real terminal
// emulator: tmux runs it in a pane against fake-smolvm and the agent-stub
// image; the pane is resized and the guest's size must follow; Ctrl-C ends
// the agent and no machine is left behind. bottle and smolvm are this test
// binary (testscript.Main put them on PATH).
func TestRunInTmux(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (.ci/run installs it)")
	}
	for _, tc := range []struct {
		name   string
		faults []smolvmtest.Rule
		mode   string // BOTTLE_RESIZE
	}{
		{"forward", nil, "forward"},
		{"no_forwarding_exec", []smolvmtest.Rule{{Command: "exec", NoResizeForwarding: true}}, "exec"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmuxRun(t, tc.faults, tc.mode)
		})
	}
}

func tmuxRun(t *testing.T, faults []smolvmtest.Rule, mode string) {
	// A private fake, torn down with the test: no machine outlives it.
	f := smolvmtest.New(t)
	// The stub image's skeleton, completed with the host's busybox.
	built := filepath.Join(t.TempDir(), "examples")
	if err := scripttest.BuildExamples("examples", built); err != nil {
		t.Fatal(err)
	}
	if err := f.SetFaults(faults...); err != nil {
		t.Fatal(err)
	}
	// The built examples' images (agent-stub with its own config.json)
	// are found as the store's, as `make demo` finds them.
	env := append(f.Env, "FAKE_SMOLVM_IMAGES="+filepath.Join(built, "images"), "BOTTLE_RESIZE="+mode, "TERM=xterm-256color")
	dir := t.TempDir()
	exitFile := filepath.Join(dir, "exit")
	conf := filepath.Join(dir, "tmux.conf")
	if err := os.WriteFile(conf, []byte("set -g status off\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "tmux.sock")
	tmux := func(args ...string) (string, error) {
		cmd := exec.Command("tmux", append([]string{"-S", sock, "-f", conf}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { _, _ = tmux("kill-server") })

	name := "e2e-" + mode
	shell := fmt.Sprintf("bottle run --name %s --image agent-stub -- --follow-window; echo $? > %s", name, exitFile)
	if out, err := tmux("new-session", "-d", "-s", "e2e", "-x", "100", "-y", "30", shell); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}

	screen := func() string {
		out, _ := tmux("capture-pane", "-p", "-J", "-S", "-1000", "-t", "e2e")
		return out
	}
	waitScreen := func(what string, ok func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if ok(screen()) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("pane never showed %s; pane:\n%s", what, screen())
	}
	last := func(s string) string {
		// The guest's size as the agent last reported it.
		i := max(strings.LastIndex(s, "claude: terminal "), strings.LastIndex(s, "claude: window "))
		if i < 0 {
			return ""
		}
		line, _, _ := strings.Cut(s[i:], "\n")
		f := strings.Fields(line)
		return strings.Join(f[len(f)-2:], " ")
	}

	waitScreen("the agent following the window", func(s string) bool {
		return strings.Contains(s, "Ctrl-C ends") && last(s) == "30 100"
	})
	if out, err := tmux("resize-window", "-t", "e2e", "-x", "132", "-y", "41"); err != nil {
		t.Fatalf("tmux resize-window: %v: %s", err, out)
	}
	waitScreen("the guest at 41x132", func(s string) bool { return last(s) == "41 132" })
	if out, err := tmux("resize-window", "-t", "e2e", "-x", "80", "-y", "24"); err != nil {
		t.Fatalf("tmux resize-window: %v: %s", err, out)
	}
	waitScreen("the guest at 24x80", func(s string) bool { return last(s) == "24 80" })

	if out, err := tmux("send-keys", "-t", "e2e", "C-c"); err != nil {
		t.Fatalf("tmux send-keys: %v: %s", err, out)
	}
	deadline := time.Now().Add(60 * time.Second)
	var code []byte
	var err error
	for time.Now().Before(deadline) {
		if code, err = os.ReadFile(exitFile); err == nil && len(code) > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := strings.TrimSpace(string(code)); got != "130" {
		t.Errorf("bottle run exit status %q, want 130 (the agent died of Ctrl-C's SIGINT)", got)
	}

	out, err := f.Command("machine", "ls").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "No machines found") {
		t.Errorf("machines left after Ctrl-C (%v):\n%s", err, out)
	}
	// bottle's teardown, from the fake's log: the machine was stopped and
	// deleted after the agent's exec.
	invs, err := f.Invocations()
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, inv := range invs {
		if inv.Machine == name && inv.Command != "exec" && inv.Command != "status" {
			steps = append(steps, fmt.Sprintf("%s:%d", inv.Command, inv.Exit))
		}
	}
	if got, want := strings.Join(steps, " "), "create:0 start:0 stop:0 delete:0"; got != want {
		t.Errorf("bottle's calls about %s (command:exit, exec and status left out): %s, want %s", name, got, want)
	}
}

// ptySysProcAttr makes a child the session leader with its stdin as the
// controlling terminal, as a terminal emulator does.
func ptySysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
}
