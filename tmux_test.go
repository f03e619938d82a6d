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

	"github.com/smolbottle/smolbottle/internal/fakesmolvm"
	"github.com/smolbottle/smolbottle/internal/scripttest"
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
		name     string
		scenario string // FAKE_SMOLVM_SCENARIO content, "" for none
		mode     string // BOTTLE_RESIZE
	}{
		{"forward", "", "forward"},
		{"no_forwarding_exec", `{"rules": [{"command": "exec", "no_resize_forwarding": true}]}`, "exec"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmuxRun(t, tc.scenario, tc.mode)
		})
	}
}

func tmuxRun(t *testing.T, scenario, mode string) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	// Whatever happens, no fake machine outlives the test.
	t.Cleanup(func() { fakesmolvm.StopAll(dir) })
	examples := filepath.Join(dir, "examples")
	if err := scripttest.BuildExamples("examples", examples); err != nil {
		t.Fatal(err)
	}
	examples = filepath.Join(examples, "images")
	env := []string{
		"HOME=" + home,
		"PATH=" + os.Getenv("PATH"),
		"FAKE_SMOLVM_IMAGES=" + examples,
		"BOTTLE_RESIZE=" + mode,
		"TERM=xterm-256color",
	}
	if scenario != "" {
		f := filepath.Join(dir, "scenario.json")
		if err := os.WriteFile(f, []byte(scenario), 0o644); err != nil {
			t.Fatal(err)
		}
		env = append(env, "FAKE_SMOLVM_SCENARIO="+f)
	}
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

	ls := exec.Command("smolvm", "machine", "ls")
	ls.Env = env
	out, err := ls.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "No machines found") {
		t.Errorf("machines left after Ctrl-C (%v):\n%s", err, out)
	}
}

// ptySysProcAttr makes a child the session leader with its stdin as the
// controlling terminal, as a terminal emulator does.
func ptySysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
}
