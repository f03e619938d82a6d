// Package ptybridge connects the user's terminal to a command that needs a
// terminal of its own, typically `smolvm machine exec -i -t ...`, so that
// the guest always has the user's window size.
//
// # The TTY path
//
// When Options.Stdin is a terminal, Run opens a fresh host PTY, gives it the
// user's terminal settings and window size, and starts the command on its
// slave as a session leader with the slave as controlling terminal. The
// user's terminal goes into raw mode, so keys (Ctrl-C and Ctrl-D included)
// travel to the command as bytes, and bytes are copied both ways.
//
//   - SIGWINCH: the new size is read from the user's terminal and set on the
//     host PTY; the kernel turns that into a SIGWINCH for the command. A
//     burst of SIGWINCH is coalesced into one pending resize, and a size
//     equal to the last one is not set again. Setsize and Close of the master
//     are serialized, so a resize never races with teardown.
//   - SIGINT, SIGTERM, SIGHUP received by the bridge are sent to the
//     command's process group; the bridge itself does not die of them, so it
//     can restore the terminal and report the command's exit code.
//   - Exit: the command's exit status is returned, 128+n when signal n
//     killed it. Output is drained first: EIO from the master (every slave
//     descriptor is closed) is end of output, not an error.
//   - The user's terminal is restored exactly once on every exit path:
//     normal exit, error, forwarded SIGINT/SIGTERM/SIGHUP, and panic (the
//     command is killed and the panic continues after the restore).
//
// Reads on a PTY master, or on the user's terminal, do not unblock when the
// descriptor is closed, so the bridge never does a blocking read: it polls
// each descriptor together with a self-pipe and cancels through the pipe.
// The user's terminal is never put in O_NONBLOCK, which would leak to the
// user's shell. When the bridge returns, none of its goroutines is left
// reading the user's keys.
//
// When Options.Stdin is not a terminal there is no PTY and no raw mode: the
// command inherits the files and runs in its own process group, and the
// three signals are forwarded to it.
//
// Signals and files are parameters (Options.Signals, Options.Stdin...), so
// tests drive the bridge with real PTY pairs and synthetic signals.
//
// # The guest's size
//
// The real smolvm reads the size of its stdin (our host PTY) only after the
// guest reports that the session started, so the guest command can begin at
// 80x24; it then forwards each SIGWINCH. The host PTY is sized before the
// command starts, so a forwarding smolvm brings the guest to the user's size
// on its own, at start and after every resize. That is mode Forward, the
// default, which runs smolvm's argv exactly as given.
//
// A smolvm that does not forward resizes needs mode Exec, chosen with
// BOTTLE_RESIZE=exec in the bottle CLI. The guest command is wrapped in a
// small POSIX shell script (busybox ash is enough) that starts a resize
// loop and then execs the command:
//
//	smolvm machine exec ... -- sh -c 'f=$1 p=$$; shift; ...; exec "$@"' sh /tmp/.bottle-resize-ID CMD...
//
// The loop creates the FIFO /tmp/.bottle-resize-ID (mode 600, so only the
// session's user can write to it), keeps the session's terminal as an open
// descriptor, and turns each "ROWS COLS" line it reads from the FIFO into
// one `stty rows R cols C` on that descriptor. Every size (once at start,
// then after each coalesced resize) is written into the FIFO by a
// side-channel exec:
//
//	smolvm machine exec --name M -- sh -c '...printf "%s %s\n" "$2" "$3" 1<>"$f"' sh FIFO R C
//
// The loop never opens the terminal by its path: where exec runs as an
// image's non-root user, the session's pts belongs to root (0620) and
// cannot be opened by that user, but a descriptor the session already
// holds needs no permission. Setting the size makes the guest kernel
// deliver SIGWINCH to the session's foreground process, as forwarding
// would. stty sets rows and columns with one ioctl each, so a program may
// see the new rows with the old columns for a moment, then the full size.
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
// The pushes never overlap and always carry the newest size, so the guest
// ends at the user's size whatever order smolvm's own first size and the
// pushes arrive in. Exec mode also works with a smolvm that does forward;
// the price is one short exec per resize burst, a guest argv that differs
// from the original's (docs/original.md), and two small shell processes per session, which is why
// it is not the default.
package ptybridge
