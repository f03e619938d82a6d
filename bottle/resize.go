package bottle

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
)

// A guest terminal learns the user's window size from smolvm, which
// forwards each change (docs/smolvm.md, exec: -t). For a smolvm that does
// not, the resize side channel pushes sizes into the guest itself:
//
//   - ResizeWrap runs the session's guest command under a small POSIX shell
//     wrapper (busybox ash is enough) that starts a resize loop and then
//     execs the command:
//
//     smolvm machine exec ... -- sh -c 'f=$1 p=$$; shift; ...; exec "$@"' sh FIFO CMD...
//
//   - each size is then written into the session's FIFO by one short exec,
//     ResizeArgv:
//
//     smolvm machine exec --name NAME -- sh -c '...' sh FIFO ROWS COLS
//
// The loop creates the FIFO (mode 600, so only the session's user can
// write to it), keeps the session's terminal as an open descriptor, and
// turns each "ROWS COLS" line it reads from the FIFO into one
// `stty rows R cols C` on that descriptor; the guest kernel then delivers
// SIGWINCH to the session's foreground process, as forwarding would. The
// loop never opens the terminal by its path: where exec runs as an image's
// non-root user, the session's pts belongs to root (0620) and cannot be
// opened by that user, but a descriptor the session already holds needs no
// permission. stty sets rows and columns with one ioctl each, so a program
// may see the new rows with the old columns for a moment, then the full
// size.
//
// The FIFO only appears once the loop holds it open, and writers open it
// read-write, so a push never blocks and never loses its line. The loop
// ends with the session: it gets the kernel's SIGHUP when the session
// leader exits, and a watcher checks every second that the command (the
// wrapper's PID, which exec keeps) still lives, then removes the FIFO and
// stops the loop. The loop is not a child of the command, so a `wait` in
// the command does not wait for it. If the session is killed with SIGKILL
// along with its whole process group, an empty FIFO may stay in the
// guest's /tmp.
//
// The price is one short exec per resize, a guest argv that differs from
// the original's, and two small shell processes per session, which is why
// the bottle CLI uses it only when told to (BOTTLE_RESIZE=exec).

// wrapScript runs as the guest command's parent shell, with the session's
// terminal as stdin, $1 the path of the session's resize FIFO and the
// command after it. It starts the resize loop and then becomes the command
// (same PID, so the loop can tell when the session is over).
//
// The loop is started twice forked, so the command never has it as a child
// (a `wait` in the command must not wait for it), and holds the terminal on
// fd 9. It creates the FIFO under a temporary name, opens it read-write and
// only then renames it into place, so a writer that finds the FIFO always
// finds it open and never loses a size; read-write also means no open of it
// ever blocks. Errors are silent: the command runs even if the loop cannot
// start.
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

// resizeScript runs through `smolvm machine exec` (no TTY): it waits for
// the session's loop to have put its FIFO in place (the first push can come
// before the guest command started), then writes one "ROWS COLS" line into
// it. It opens the FIFO read-write, which never blocks, and the line is
// small enough to be written at once; the loop holds the FIFO open while
// its path exists, so the line stays there until read.
const resizeScript = `f=$1 i=0
while [ ! -p "$f" ]; do
	i=$((i+1)); [ "$i" -gt 200 ] && { echo "no resize FIFO at $f" >&2; exit 3; }
	sleep 0.05
done
printf '%s %s\n' "$2" "$3" 1<>"$f"`

// resizeFIFOPrefix is where ResizeFIFO puts a session's FIFO.
const resizeFIFOPrefix = "/tmp/.bottle-resize-"

// ResizeFIFO returns a fresh guest path for a session's resize FIFO, under
// the guest's /tmp.
func ResizeFIFO() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return resizeFIFOPrefix + hex.EncodeToString(b)
}

// ResizeWrap returns inv with its guest command (the words after smolvm's
// first "--") run under the resize wrapper, which applies the sizes
// written into fifo to the session's terminal.
func ResizeWrap(inv Invocation, fifo string) (Invocation, error) {
	if err := checkFIFO(fifo); err != nil {
		return Invocation{}, err
	}
	for i, w := range inv.Argv {
		if w != "--" {
			continue
		}
		if i == len(inv.Argv)-1 {
			break
		}
		out := append([]string{}, inv.Argv[:i+1]...)
		out = append(out, "sh", "-c", wrapScript, "sh", fifo)
		inv.Argv = append(out, inv.Argv[i+1:]...)
		return inv, nil
	}
	return Invocation{}, invalidf("resize side channel: the smolvm command needs `-- COMMAND...` to wrap")
}

// ResizeArgv builds the side-channel exec that writes one size into the
// session's FIFO in machine t.Name, as smolvm exec's default user:
// "smolvm machine exec --name NAME -- sh -c SCRIPT sh FIFO ROWS COLS".
func ResizeArgv(t Target, fifo string, rows, cols int) (Invocation, error) {
	if err := ValidateName(t.Name); err != nil {
		return Invocation{}, err
	}
	if err := checkFIFO(fifo); err != nil {
		return Invocation{}, err
	}
	if rows < 1 || cols < 1 || rows > 0xffff || cols > 0xffff {
		return Invocation{}, invalidf("window size %dx%d: want 1..65535 rows and columns", rows, cols)
	}
	return Invocation{Argv: []string{t.program(), "machine", "exec", "--name", t.Name, "--",
		"sh", "-c", resizeScript, "sh", fifo, strconv.Itoa(rows), strconv.Itoa(cols)}}, nil
}

// checkFIFO accepts an absolute guest path that no shell word splitting or
// option parsing can change.
func checkFIFO(p string) error {
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " \t\n\x00") {
		return invalidf("resize FIFO %q: want an absolute guest path without blanks", p)
	}
	return nil
}
