package bottle

import (
	"bytes"
	"context"
	"errors"
	"os"
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
		wantFlags    []string // between the name and -e HOME
		wantCode     int
		wantKind     error
	}{
		{"exit-0", "the agent's output reaches the given writers", stubAction{Stdout: "hi\n", Stderr: "note\n"}, false, []string{"-i"}, 0, nil},
		{"exit-5", "the agent's exit status is returned, not an error", stubAction{Exit: 5, Stderr: "bye\n"}, false, []string{"-i"}, 5, nil},
		{"smolvm-error", "without a TTY smolvm's own failure is a *SmolvmError",
			stubAction{Exit: 1, Stderr: "Error: agent operation failed: vm exec interactive: connection to VM lost\n"}, false, []string{"-i"}, 1, ErrSmolvm},
		{"smolvm-error-tty", "on a TTY too: smolvm's stderr is its own there",
			stubAction{Exit: 1, Stderr: "Error: agent operation failed: vm exec interactive: connection to VM lost\n"}, true, []string{"-i", "-t"}, 1, ErrSmolvm},
		{"agent-exit-1", "an agent that exits 1 without smolvm's error line is the agent's status",
			stubAction{Exit: 1, Stderr: "Error in my code\nfailed\n"}, false, []string{"-i"}, 1, nil},
		{"tty-direct", "a TTY run without a Runner runs directly", stubAction{Exit: 7}, true, []string{"-i", "-t"}, 7, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := running(t, stubConfig{Actions: map[string]stubAction{"exec": tc.act}})
			m, err := Open(Target{Program: s.prog, Name: "b1", GuestUser: "root"}, Agent{PromptPath: "/p"})
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
			if got := argv[5:slices.Index(argv, "-e")]; !slices.Equal(got, tc.wantFlags) {
				t.Errorf("agent argv %q: stdio flags %q, want %q", argv, got, tc.wantFlags)
			}
			if !slices.Contains(argv, "--append-system-prompt-file") {
				t.Errorf("agent argv %q", argv)
			}
		})
	}
}

// TestRunAgentStreams: without a TTY the agent's stdin reaches it and its
// stdout and stderr arrive apart, whatever their size (smolvm's buffered
// exec would cap them).
func TestRunAgentStreams(t *testing.T) {
	s := running(t, stubConfig{Actions: map[string]stubAction{"exec": {Echo: true}}})
	m, err := Open(Target{Program: s.prog, Name: "b1", GuestUser: "root"}, Agent{})
	if err != nil {
		t.Fatal(err)
	}
	in := bytes.Repeat([]byte("0123456789abcdef"), 12<<20/16) // 12 MiB: over smolvm's 11 MiB buffer cap
	var stdout, stderr bytes.Buffer
	code, err := m.RunAgent(context.Background(), nil, RunOptions{Stdin: bytes.NewReader(in), Stdout: &stdout, Stderr: &stderr})
	if code != 0 || err != nil {
		t.Fatalf("RunAgent = %d, %v", code, err)
	}
	if !bytes.Equal(stdout.Bytes(), in) {
		t.Errorf("stdout: %d bytes back of %d sent", stdout.Len(), len(in))
	}
	if stderr.String() != "echoed\n" {
		t.Errorf("stderr %q, want the stub's own line only", stderr.String())
	}
}

func TestRunAgentRunner(t *testing.T) {
	s := running(t, stubConfig{Actions: map[string]stubAction{"exec": {Exit: 9, Stderr: "smolvm says\n"}}})
	m, err := Open(Target{Program: s.prog, Name: "b1", GuestUser: "node"}, Agent{})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	var stderr bytes.Buffer
	code, err := m.RunAgent(context.Background(), []string{"--dangerously-skip-permissions"}, RunOptions{
		TTY:    true,
		Stderr: &stderr,
		Runner: func(cmd *exec.Cmd) (int, error) {
			seen = cmd.Args
			if cmd.SysProcAttr != nil {
				t.Errorf("the runner gets a command without SysProcAttr to set its own")
			}
			if cmd.Stderr == nil || cmd.Stderr == &stderr {
				t.Errorf("the runner gets a Stderr that RunAgent reads, got %v", cmd.Stderr)
			}
			cmd.Stdin = nil
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
		t.Errorf("runner got argv %q, want %q", seen, want)
	}
	if stderr.String() != "smolvm says\n" {
		t.Errorf("smolvm's stderr reached the caller as %q", stderr.String())
	}
}

// TestOpenDefaultProgram: an empty Program is "smolvm" from PATH, as in
// the builders; the library never reads $SMOLVM (the CLI does).
func TestOpenDefaultProgram(t *testing.T) {
	s := running(t, stubConfig{})
	t.Setenv("PATH", s.dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("SMOLVM", "/nonexistent/smolvm")
	m, err := Open(Target{Name: "b1"}, Agent{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Exec(context.Background(), "true", "root"); err != nil {
		t.Fatalf("Exec through smolvm on PATH: %v", err)
	}
	if got := s.verbs(); !slices.Equal(got, []string{"probe", "exec"}) {
		t.Errorf("the stub on PATH saw %v", got)
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
