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
	// guest command is wrapped so that it can apply those sizes itself.
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

// wrapScript runs as the guest command's parent shell, with the session's
// terminal as stdin, $1 the path of the session's resize FIFO and the
// command after it. It starts the resize loop and then becomes the command
// (same PID, so the loop can tell when the session is over).
//
// The loop is started twice forked, so the command never has it as a child
// (a `wait` in the command must not wait for it), and holds the terminal on
// fd 9: an open descriptor needs no permission, whereas the pts's path may
// be closed to the session's own user (root:root 0620 when exec runs as
// an image's user). It creates the FIFO (mode 600: only the session's user
// writes sizes) under a temporary name, opens it read-write and only then
// renames it into place, so a writer that finds the FIFO always finds it
// open and never loses a size; read-write also means no open of it ever
// blocks. Each "ROWS COLS" line becomes one `stty rows R cols C` on the
// terminal, after which the kernel sends SIGWINCH to the session's
// foreground process group.
//
// The loop ends with the session: as the session leader's process group
// it gets the kernel's SIGHUP when the command exits, and a watcher (which
// ignores SIGHUP and holds no terminal) checks every second that the
// command still lives, then removes the FIFO and tells the loop to quit.
// Errors are silent: the command runs even if the loop cannot start.
const wrapScript = `f=$1 p=$$; shift
( (
	mkfifo -m 600 "$f.new" || exit
	{ mv -f "$f.new" "$f" && {
		( trap '' HUP; while kill -0 "$p"; do sleep 1; done; rm -f "$f"; echo q >&4 ) 9<&- &
		while read -r r c <&4 && [ "$r" != q ]; do stty rows "$r" cols "$c" <&9; done
	}; } 4<>"$f.new"
	rm -f "$f.new"
) >/dev/null 2>&1 & ) 9<&0
exec "$@"`

// resizeScript runs through `smolvm machine exec` (no TTY) as the same user
// as the session: it waits for the session's loop to have put its FIFO in
// place (the first push can come before the guest command started), then
// writes one "ROWS COLS" line into it. It opens the FIFO read-write, which
// never blocks, and the line is small enough to be written at once; the
// loop holds the FIFO open while its path exists, so the line stays there
// until read.
const resizeScript = `f=$1 i=0
while [ ! -p "$f" ]; do
	i=$((i+1)); [ "$i" -gt 200 ] && { echo "no resize FIFO at $f" >&2; exit 3; }
	sleep 0.05
done
printf '%s %s\n' "$2" "$3" 1<>"$f"`

// SideChannel is the Resizer of the Exec mode: each size is written into
// the session's resize FIFO with
// `SMOLVM machine exec --name MACHINE -- sh -c SCRIPT sh FIFO ROWS COLS`,
// and the session, wrapped by Wrap, applies it to its own terminal.
type SideChannel struct {
	Smolvm  string   // the smolvm program; "" is "smolvm"
	Machine string   // the machine the session runs in
	FIFO    string   // guest path of the session's resize FIFO
	Env     []string // smolvm's environment; nil inherits ours
}

// NewSideChannel returns a SideChannel for machine with a fresh FIFO path
// under the guest's /tmp.
func NewSideChannel(smolvm, machine string) *SideChannel {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &SideChannel{Smolvm: smolvm, Machine: machine, FIFO: "/tmp/.bottle-resize-" + hex.EncodeToString(b)}
}

// Wrap returns the smolvm argv with its guest command (the words after the
// first "--") run under the session wrapper:
//
//	smolvm machine exec ... -- sh -c 'f=$1 p=$$; shift...' sh FIFO CMD...
func (s *SideChannel) Wrap(argv []string) ([]string, error) {
	for i, w := range argv {
		if w == "--" {
			if i == len(argv)-1 {
				break
			}
			out := append([]string{}, argv[:i+1]...)
			out = append(out, "sh", "-c", wrapScript, "sh", s.FIFO)
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
		"sh", "-c", resizeScript, "sh", s.FIFO, strconv.Itoa(size.Rows), strconv.Itoa(size.Cols)}
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
