package ptybridge

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// Mode says how the guest learns the user's window size.
type Mode string

const (
	// Forward relies on smolvm: the bridge sizes the host PTY, the kernel
	// sends smolvm a SIGWINCH, smolvm forwards the size to the guest. The
	// smolvm argv is run unchanged.
	Forward Mode = "forward"
	// Exec also pushes every size into the guest through a side channel
	// (see SideChannel), for a smolvm that does not forward resizes. The
	// guest command is wrapped so that it records its terminal first.
	Exec Mode = "exec"
)

// ModeEnv is the environment variable the bottle CLI reads the Mode from.
const ModeEnv = "BOTTLE_RESIZE"

// ParseMode parses a Mode; "" is Forward.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "", Forward:
		return Forward, nil
	case Exec:
		return Exec, nil
	}
	return "", fmt.Errorf("unknown resize mode %q (want %q or %q)", s, Forward, Exec)
}

// wrapScript runs as the guest command's parent shell: it records the
// session's terminal device in the file $1, then becomes the command.
const wrapScript = `f=$1; shift; tty >"$f" 2>/dev/null; exec "$@"`

// resizeScript runs through `smolvm machine exec` (no TTY): it waits for the
// session to have recorded its terminal (the first push can come before the
// guest command started), then sets that terminal's size, which also
// delivers SIGWINCH to the session's foreground process group.
const resizeScript = `f=$1 i=0
while [ ! -s "$f" ]; do
	i=$((i+1)); [ "$i" -gt 200 ] && { echo "no terminal recorded in $f" >&2; exit 3; }
	sleep 0.05
done
stty -F "$(cat "$f")" rows "$2" cols "$3"`

// SideChannel is the Resizer of the Exec mode: each size is applied with
// `SMOLVM machine exec --name MACHINE -- sh -c SCRIPT sh TTYFILE ROWS COLS`,
// where TTYFILE is the guest file in which the session, wrapped by Wrap,
// recorded its terminal.
type SideChannel struct {
	Smolvm  string   // the smolvm program; "" is "smolvm"
	Machine string   // the machine the session runs in
	TTYFile string   // guest path of the recorded terminal device
	Env     []string // smolvm's environment; nil inherits ours
}

// NewSideChannel returns a SideChannel for machine with a fresh TTYFile
// under the guest's /tmp.
func NewSideChannel(smolvm, machine string) *SideChannel {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &SideChannel{Smolvm: smolvm, Machine: machine, TTYFile: "/tmp/.bottle-tty-" + hex.EncodeToString(b)}
}

// Wrap returns the smolvm argv with its guest command (the words after the
// first "--") run under the recording shell:
//
//	smolvm machine exec ... -- sh -c 'f=$1; shift; tty >"$f"...' sh TTYFILE CMD...
func (s *SideChannel) Wrap(argv []string) ([]string, error) {
	for i, w := range argv {
		if w == "--" {
			if i == len(argv)-1 {
				break
			}
			out := append([]string{}, argv[:i+1]...)
			out = append(out, "sh", "-c", wrapScript, "sh", s.TTYFile)
			return append(out, argv[i+1:]...), nil
		}
	}
	return nil, errors.New("resize side channel: the smolvm command needs `-- COMMAND...` to wrap")
}

// ResizeArgv is the side-channel command that applies size.
func (s *SideChannel) ResizeArgv(size Size) []string {
	prog := s.Smolvm
	if prog == "" {
		prog = "smolvm"
	}
	return []string{prog, "machine", "exec", "--name", s.Machine, "--",
		"sh", "-c", resizeScript, "sh", s.TTYFile, strconv.Itoa(size.Rows), strconv.Itoa(size.Cols)}
}

// Resize implements Resizer.
func (s *SideChannel) Resize(ctx context.Context, size Size) error {
	argv := s.ResizeArgv(size)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = s.Env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv[:6], " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}
