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
// on its own, at start and after every resize.
//
// For a smolvm that does not forward resizes, Options.Resizer is told each
// size (once at start, then after each coalesced resize), never two calls
// at once and always the newest size, so it can push the size into the
// guest another way. Package bottle has such a side channel (ResizeWrap,
// ResizeArgv); the bottle CLI plugs it in with BOTTLE_RESIZE=exec.
package ptybridge
