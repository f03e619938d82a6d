package bottle

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestResizeFIFOFresh(t *testing.T) {
	a, b := ResizeFIFO(), ResizeFIFO()
	if a == b || !strings.HasPrefix(a, "/tmp/.bottle-resize-") || checkFIFO(a) != nil {
		t.Errorf("FIFOs %q and %q: want distinct valid paths under /tmp", a, b)
	}
}

// TestRunAgentResizeFIFO: with a resize FIFO the agent's guest command
// runs under the wrapper; without a terminal there is none to resize.
func TestRunAgentResizeFIFO(t *testing.T) {
	s := running(t, stubConfig{})
	m, err := Open(Target{Program: s.prog, Name: "b1", GuestUser: "node"}, Agent{})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	runner := func(cmd *exec.Cmd) (int, error) { seen = cmd.Args; return 0, nil }
	if _, err := m.RunAgent(context.Background(), nil, RunOptions{TTY: true, ResizeFIFO: "/tmp/.bottle-resize-1", Runner: runner}); err != nil {
		t.Fatal(err)
	}
	want := []string{s.prog, "machine", "exec", "--name", "b1", "-i", "-t", "-e", "HOME=/home/node", "-e", "USER=node",
		"--", "sh", "-c", wrapScript, "sh", "/tmp/.bottle-resize-1", "claude"}
	if !slices.Equal(seen, want) {
		t.Errorf("runner got %q, want %q", seen, want)
	}
	if _, err := m.RunAgent(context.Background(), nil, RunOptions{ResizeFIFO: "/tmp/f", Runner: runner}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a resize FIFO without a TTY: err = %v, want ErrInvalid", err)
	}
}
