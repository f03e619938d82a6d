package ptybridge

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWrap(t *testing.T) {
	sc := &SideChannel{Machine: "m1", TTYFile: "/tmp/.bottle-tty-x"}
	wrap := []string{"sh", "-c", wrapScript, "sh", "/tmp/.bottle-tty-x"}
	for _, tc := range []struct {
		name   string
		argv   []string
		want   []string
		reason string
	}{
		{
			name:   "agent",
			argv:   []string{"smolvm", "machine", "exec", "--name", "m1", "-i", "-t", "-e", "HOME=/home/node", "--", "runuser", "-u", "node", "--", "claude", "--x"},
			want:   append(append([]string{"smolvm", "machine", "exec", "--name", "m1", "-i", "-t", "-e", "HOME=/home/node", "--"}, wrap...), "runuser", "-u", "node", "--", "claude", "--x"),
			reason: "the wrapper goes right after smolvm's own `--`; later `--` belong to the guest command",
		},
		{
			name:   "no dash dash",
			argv:   []string{"smolvm", "machine", "exec", "--name", "m1", "-it", "sh"},
			reason: "without `--` the guest command cannot be found reliably",
		},
		{
			name:   "nothing after",
			argv:   []string{"smolvm", "machine", "exec", "--name", "m1", "--"},
			reason: "an empty guest command is not wrapped",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sc.Wrap(tc.argv)
			if tc.want == nil {
				if err == nil {
					t.Errorf("Wrap(%q) = %q, want an error: %s", tc.argv, got, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Wrap (-want +got):\n%s\n%s", diff, tc.reason)
			}
		})
	}
}

// TestWrapScriptRecordsTerminal runs the wrapper with sh: it records the
// terminal (here: none) and then is the command, with its arguments and
// exit code untouched.
func TestWrapScriptRecordsTerminal(t *testing.T) {
	file := t.TempDir() + "/tty"
	cmd := exec.Command("sh", "-c", wrapScript, "sh", file, "sh", "-c", `printf '%s|' "$@"; exit 5`, "x", "a b", "--", "")
	out, err := cmd.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 5 {
		t.Fatalf("exit = %v, want 5", err)
	}
	if string(out) != "a b|--||" {
		t.Errorf("command saw %q, want its arguments unchanged", out)
	}
	rec, _ := exec.Command("cat", file).Output()
	if strings.TrimSpace(string(rec)) != "not a tty" {
		t.Errorf("recorded %q, want tty(1)'s answer for a non-terminal", rec)
	}
}

func TestResizeArgv(t *testing.T) {
	sc := &SideChannel{Smolvm: "/opt/smolvm", Machine: "m1", TTYFile: "/tmp/f"}
	want := []string{"/opt/smolvm", "machine", "exec", "--name", "m1", "--", "sh", "-c", resizeScript, "sh", "/tmp/f", "40", "120"}
	if diff := cmp.Diff(want, sc.ResizeArgv(Size{Rows: 40, Cols: 120})); diff != "" {
		t.Errorf("ResizeArgv (-want +got):\n%s", diff)
	}
	sc.Smolvm = ""
	if got := sc.ResizeArgv(Size{1, 2})[0]; got != "smolvm" {
		t.Errorf("program = %q, want smolvm from PATH by default", got)
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": Forward, "forward": Forward, "exec": Exec} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseMode("Exec"); err == nil {
		t.Error("ParseMode(\"Exec\") succeeded; modes are lower case")
	}
}

func TestNewSideChannelFreshFile(t *testing.T) {
	a, b := NewSideChannel("", "m"), NewSideChannel("", "m")
	if a.TTYFile == b.TTYFile || !strings.HasPrefix(a.TTYFile, "/tmp/.bottle-tty-") {
		t.Errorf("TTYFiles %q and %q: want distinct files under /tmp", a.TTYFile, b.TTYFile)
	}
}
