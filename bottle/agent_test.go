package bottle

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestRunAgent(t *testing.T) {
	tests := []struct {
		name, reason string
		act          stubAction
		tty          bool
		wantCode     int
		wantKind     error
	}{
		{"exit-0", "the agent's output reaches the given writers", stubAction{Stdout: "hi\n", Stderr: "note\n"}, false, 0, nil},
		{"exit-5", "the agent's exit status is returned, not an error", stubAction{Exit: 5, Stderr: "bye\n"}, false, 5, nil},
		{"smolvm-error", "without a TTY smolvm's own failure is a *SmolvmError",
			stubAction{Exit: 1, Stderr: "Error: agent operation failed: vm exec interactive: connection to VM lost\n"}, false, 1, ErrSmolvm},
		{"tty-direct", "a TTY run without a Terminal runs directly", stubAction{Exit: 7}, true, 7, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := running(t, stubConfig{Actions: map[string]stubAction{"exec": tc.act}})
			m, err := Open(Target{Program: s.prog, Name: "b1", DefaultUser: "root"}, Agent{PromptPath: "/p"})
			if err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code, err := m.RunAgent(context.Background(), []string{"-p", "x"},
				RunOptions{TTY: tc.tty, Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
			if code != tc.wantCode {
				t.Errorf("%s: code %d, want %d", tc.reason, code, tc.wantCode)
			}
			if tc.wantKind == nil && err != nil || tc.wantKind != nil && !errors.Is(err, tc.wantKind) {
				t.Errorf("%s: err = %v, want %v", tc.reason, err, tc.wantKind)
			}
			if stdout.String() != tc.act.Stdout || stderr.String() != tc.act.Stderr {
				t.Errorf("%s: stdout %q stderr %q", tc.reason, stdout.String(), stderr.String())
			}
			argv := s.calls()[0].Argv
			hasTTY := slices.Contains(argv, "-t")
			if hasTTY != tc.tty || !slices.Contains(argv, "--append-system-prompt-file") {
				t.Errorf("agent argv %q", argv)
			}
		})
	}
}

func TestRunAgentTerminal(t *testing.T) {
	s := running(t, stubConfig{Actions: map[string]stubAction{"exec": {Exit: 9}}})
	m, err := Open(Target{Program: s.prog, Name: "b1", DefaultUser: "node"}, Agent{})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	code, err := m.RunAgent(context.Background(), []string{"--dangerously-skip-permissions"}, RunOptions{
		TTY: true,
		Terminal: func(cmd *exec.Cmd) (int, error) {
			seen = cmd.Args
			if cmd.SysProcAttr != nil {
				t.Errorf("the terminal runner gets a command without SysProcAttr to set its own")
			}
			err := cmd.Run()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return ee.ExitCode(), nil
			}
			return 0, err
		},
	})
	if code != 9 || err != nil {
		t.Fatalf("RunAgent = %d, %v; want 9, nil", code, err)
	}
	want := []string{s.prog, "machine", "exec", "--name", "b1", "-i", "-t", "-e", "HOME=/home/node", "-e", "USER=node",
		"--", "claude", "--dangerously-skip-permissions"}
	if !slices.Equal(seen, want) {
		t.Errorf("terminal got argv %q, want %q", seen, want)
	}
}

func TestOpenUsesSMOLVM(t *testing.T) {
	s := running(t, stubConfig{})
	t.Setenv("SMOLVM", s.prog)
	m, err := Open(Target{Name: "b1"}, Agent{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Exec(context.Background(), "true", "root"); err != nil {
		t.Fatalf("Exec through $SMOLVM: %v", err)
	}
	if got := s.verbs(); !slices.Equal(got, []string{"probe", "exec"}) {
		t.Errorf("the stub named by $SMOLVM saw %v", got)
	}
}

// TestTailWriter: everything passes through, and whatever the sizes of
// the writes, the kept tail is exactly the last tailKeep bytes.
func TestTailWriter(t *testing.T) {
	var all, out bytes.Buffer
	tw := &tailWriter{w: &out}
	for i := range 200 {
		p := bytes.Repeat([]byte{byte('a' + i%26)}, 1+i*7%300)
		all.Write(p)
		if _, err := tw.Write(p); err != nil {
			t.Fatal(err)
		}
		want := all.Bytes()[max(0, all.Len()-tailKeep):]
		if !bytes.Equal(tw.bytes(), want) {
			t.Fatalf("after %d bytes the tail is %d bytes, not the last %d written", all.Len(), len(tw.bytes()), len(want))
		}
	}
	if !bytes.Equal(out.Bytes(), all.Bytes()) {
		t.Errorf("passed through %d bytes, want all %d", out.Len(), all.Len())
	}
}
