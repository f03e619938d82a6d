package ptybridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// Size is a terminal size in character cells.
type Size struct {
	Rows, Cols int
}

func (s Size) String() string { return fmt.Sprintf("%dx%d", s.Rows, s.Cols) }

// Resizer pushes the user's window size somewhere besides the host PTY, for
// example into the guest through a side channel (package bottle's
// ResizeArgv). Run calls
// it once when the command has started and again after every change of the
// user's window. Calls never overlap; bursts are coalesced, so a call always
// carries the newest size and intermediate sizes may be skipped. ctx ends
// when the command exits.
type Resizer interface {
	Resize(ctx context.Context, size Size) error
}

// Options are the files and signals Run works with. They are parameters so
// tests can drive the bridge with PTY pairs and synthetic signals.
type Options struct {
	// Stdin is the user's terminal. When it is not a terminal (or nil) Run
	// allocates no PTY and touches no terminal modes: the command simply
	// inherits Stdin, Stdout and Stderr.
	Stdin  *os.File
	Stdout io.Writer
	// Stderr is the command's stderr on the plain path. On the TTY path
	// the command's stderr is the PTY. Either way a cmd.Stderr set before
	// Run is kept: a command whose own messages must reach the caller
	// apart from the session's output (smolvm's error line) sets it.
	Stderr io.Writer

	// Signals delivers SIGWINCH, SIGINT, SIGTERM and SIGHUP. Nil means Run
	// subscribes to them itself (signal.Notify) for its duration.
	Signals <-chan os.Signal

	// Resizer, if set, is told about the window size at start and after
	// every resize (TTY path only).
	Resizer Resizer
	// ResizeError, if set, receives the errors the Resizer returns; they
	// never end the session.
	ResizeError func(error)
}

// forwardedSignals are the signals Run passes on to the command.
var forwardedSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

// notify subscribes to SIGWINCH and forwardedSignals, as Run does when
// Options.Signals is nil. Call stop to unsubscribe.
func notify() (signals <-chan os.Signal, stop func()) {
	ch := make(chan os.Signal, 16)
	signal.Notify(ch, append([]os.Signal{syscall.SIGWINCH}, forwardedSignals...)...)
	return ch, func() { signal.Stop(ch) }
}

// IsTerminal reports whether f is a terminal, i.e. whether Run takes the
// TTY path for it.
func IsTerminal(f *os.File) bool {
	return f != nil && term.IsTerminal(int(f.Fd()))
}

// getSize returns the window size of the terminal f.
func getSize(f *os.File) (Size, error) {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return Size{}, fmt.Errorf("read terminal size: %w", err)
	}
	return Size{Rows: int(ws.Row), Cols: int(ws.Col)}, nil
}

// Run starts cmd and connects it to the user's terminal, as described in
// the package documentation, and returns the command's exit code: its exit
// status, or 128+n when signal n killed it. A non-nil error means the
// bridge itself failed (the command could not start, no PTY could be
// allocated); the exit code is then -1. cmd's Stdin and Stdout are set by
// Run, and its Stderr unless already set.
func Run(cmd *exec.Cmd, o Options) (code int, err error) {
	sigs := o.Signals
	if sigs == nil {
		ch, stop := notify()
		defer stop()
		sigs = ch
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if IsTerminal(o.Stdin) {
		return runTTY(cmd, o, sigs)
	}
	return runPlain(cmd, o, sigs)
}

// child tracks a started command so that signals are only ever sent to it
// while it has not been reaped (after that its PID may belong to someone
// else).
type child struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	exited bool
	done   chan struct{} // closed once cmd.Wait returned
	group  bool          // the command leads its own process group
}

func startChild(cmd *exec.Cmd, group bool) (*child, error) {
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	c := &child{cmd: cmd, done: make(chan struct{}), group: group}
	go func() {
		// Wait for the exit without reaping, mark it, then reap: signal
		// never races with the PID being recycled.
		if waitNoReap(cmd.Process.Pid) {
			c.markExited()
		}
		_ = cmd.Wait() // the status is read from cmd.ProcessState
		c.markExited()
		close(c.done)
	}()
	return c, nil
}

func (c *child) markExited() {
	c.mu.Lock()
	c.exited = true
	c.mu.Unlock()
}

// signal sends sig to the command (its whole process group when it leads
// one, as a terminal would) unless it has exited.
func (c *child) signal(sig syscall.Signal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.exited {
		return
	}
	pid := c.cmd.Process.Pid
	if c.group {
		if syscall.Kill(-pid, sig) == nil {
			return
		}
	}
	_ = syscall.Kill(pid, sig)
}

func (c *child) exitCode() int {
	st := c.cmd.ProcessState
	if st == nil {
		return -1
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}

// forwardSignals passes forwardedSignals on to c and SIGWINCH to winch
// (without blocking: one pending SIGWINCH stands for any number) until stop
// is closed.
func forwardSignals(c *child, sigs <-chan os.Signal, winch chan<- struct{}, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case s := <-sigs:
			sig, ok := s.(syscall.Signal)
			if !ok {
				continue
			}
			if sig == syscall.SIGWINCH {
				if winch != nil {
					select {
					case winch <- struct{}{}:
					default:
					}
				}
				continue
			}
			c.signal(sig)
		}
	}
}

// runPlain is the no-terminal path: the command inherits the files, runs in
// its own process group so that a signal reaches it exactly once (from us),
// and there is no PTY and no raw mode.
func runPlain(cmd *exec.Cmd, o Options, sigs <-chan os.Signal) (int, error) {
	if o.Stdin != nil {
		cmd.Stdin = o.Stdin
	}
	cmd.Stdout = o.Stdout
	if cmd.Stderr == nil {
		cmd.Stderr = o.Stderr
	}
	attr := withAttrs(cmd.SysProcAttr)
	attr.Setpgid = true
	cmd.SysProcAttr = attr
	c, err := startChild(cmd, true)
	if err != nil {
		return -1, err
	}
	stop := make(chan struct{})
	fwdDone := make(chan struct{})
	go func() { defer close(fwdDone); forwardSignals(c, sigs, nil, stop) }()
	<-c.done
	close(stop)
	<-fwdDone
	return c.exitCode(), nil
}

func withAttrs(a *syscall.SysProcAttr) *syscall.SysProcAttr {
	if a == nil {
		return &syscall.SysProcAttr{}
	}
	cp := *a
	return &cp
}

// master is the bridge's own descriptor of the PTY master. Setsize and
// Close are serialized, so a resize never reaches a closed (and possibly
// reused) descriptor number.
type master struct {
	fd     int
	mu     sync.Mutex
	closed bool
}

func (m *master) setSize(s Size) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return os.ErrClosed
	}
	return unix.IoctlSetWinsize(m.fd, unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(s.Rows), Col: uint16(s.Cols)})
}

func (m *master) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		unix.Close(m.fd)
	}
}

// restoreHook, when set by tests, is called after each terminal restore.
var restoreHook func()

// runTTY is the terminal path.
func runTTY(cmd *exec.Cmd, o Options, sigs <-chan os.Signal) (code int, err error) {
	inFd := int(o.Stdin.Fd())
	size, err := getSize(o.Stdin)
	if err != nil {
		return -1, err
	}
	ptmx, tty, err := pty.Open()
	if err != nil {
		return -1, fmt.Errorf("open pty: %w", err)
	}
	defer tty.Close() // closed early once the command has it; Close twice is harmless
	// The bridge owns a plain descriptor of the master, read and written
	// with poll(2) (see fdIO); the *os.File is only used to obtain it.
	mfd, err := unix.FcntlInt(ptmx.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	ptmx.Close()
	if err != nil {
		return -1, fmt.Errorf("dup pty master: %w", os.NewSyscallError("fcntl", err))
	}
	m := &master{fd: mfd}
	defer m.close()

	// The new terminal starts with the user's settings (erase character,
	// flow control...) and window size, like script(1) does.
	if tio, err := unix.IoctlGetTermios(inFd, ioctlGetTermios); err == nil {
		_ = unix.IoctlSetTermios(int(tty.Fd()), ioctlSetTermios, tio)
	}
	if err := m.setSize(size); err != nil {
		return -1, fmt.Errorf("set pty size: %w", err)
	}

	stdinR, err := newFdIO(inFd)
	if err != nil {
		return -1, err
	}
	defer stdinR.closeWake()
	masterR, err := newFdIO(mfd)
	if err != nil {
		return -1, err
	}
	defer masterR.closeWake()
	masterW, err := newFdIO(mfd)
	if err != nil {
		return -1, err
	}
	defer masterW.closeWake()

	old, err := term.MakeRaw(inFd)
	if err != nil {
		return -1, fmt.Errorf("raw mode: %w", err)
	}
	var restoreOnce sync.Once
	restore := func() {
		restoreOnce.Do(func() {
			_ = term.Restore(inFd, old)
			if restoreHook != nil {
				restoreHook()
			}
		})
	}
	defer restore()

	cmd.Stdin, cmd.Stdout = tty, tty
	if cmd.Stderr == nil {
		cmd.Stderr = tty
	}
	attr := withAttrs(cmd.SysProcAttr)
	attr.Setsid, attr.Setctty, attr.Ctty = true, true, 0
	cmd.SysProcAttr = attr
	c, err := startChild(cmd, true)
	if err != nil {
		return -1, err
	}
	tty.Close() // the command holds the slave now; EIO on the master means it is gone

	var (
		wg        sync.WaitGroup
		panicMu   sync.Mutex
		panicVal  any // the first panic of a goroutine of the bridge
		childGone atomic.Bool
		stop      = make(chan struct{})
		winch     = make(chan struct{}, 1)
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A panic in any goroutine of the bridge kills the command (nobody
	// would read its output any more), and Run re-panics once the terminal
	// is restored.
	guard := func() {
		if r := recover(); r != nil {
			panicMu.Lock()
			if panicVal == nil {
				panicVal = r
			}
			panicMu.Unlock()
			c.signal(syscall.SIGKILL)
		}
	}
	defer func() {
		if r := recover(); r != nil {
			c.signal(syscall.SIGKILL)
			stdinR.cancel()
			masterR.cancel()
			masterW.cancel()
			restore()
			panic(r)
		}
	}()

	outDone := make(chan error, 1)
	go func() {
		var err error
		defer func() { outDone <- err }()
		defer guard()
		err = copyOutput(o.Stdout, masterR, &childGone)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer guard()
		copyInput(masterW, stdinR)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer guard()
		forwardSignals(c, sigs, winch, stop)
	}()
	var mailbox chan Size
	if o.Resizer != nil {
		mailbox = make(chan Size, 1)
		post(mailbox, size)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer guard()
			pushSizes(ctx, o.Resizer, mailbox, o.ResizeError)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer guard()
		applySizes(o.Stdin, m, size, winch, stop, mailbox)
	}()

	<-c.done
	childGone.Store(true)
	outErr := <-outDone
	// Output is drained; stop everything else before handing the terminal
	// back, so that no goroutine of ours keeps reading the user's keys.
	cancel()
	close(stop)
	stdinR.cancel()
	masterW.cancel()
	wg.Wait()
	m.close()
	restore()
	panicMu.Lock()
	p := panicVal
	panicMu.Unlock()
	if p != nil {
		panic(p)
	}
	code = c.exitCode()
	if outErr != nil && !errors.Is(outErr, errCanceled) {
		return code, fmt.Errorf("copy output: %w", outErr)
	}
	return code, nil
}

// idlePollMs is how often the output copy checks, while no output arrives,
// whether the command has exited. After the exit, output is read until the
// master reports EIO (every holder of the slave is gone) or, if a process
// the command left behind still holds the slave, until one such interval
// passes without output.
const idlePollMs = 50

func copyOutput(dst io.Writer, src *fdIO, childGone *atomic.Bool) error {
	buf := make([]byte, 32*1024)
	for {
		goneBefore := childGone.Load()
		n, err := src.readTimeout(buf, idlePollMs)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				// The user's side is gone; keep draining so the command
				// never blocks on a full PTY.
				dst = io.Discard
			}
			continue
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if goneBefore {
			return nil
		}
	}
}

func copyInput(dst *fdIO, src *fdIO) {
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// applySizes gives the host PTY the user's window size after every
// SIGWINCH, and hands each new size to the Resizer's mailbox.
func applySizes(user *os.File, m *master, last Size, winch <-chan struct{}, stop <-chan struct{}, mailbox chan Size) {
	for {
		select {
		case <-stop:
			return
		case <-winch:
		}
		s, err := getSize(user)
		if err != nil || s == last {
			continue
		}
		if m.setSize(s) != nil {
			return
		}
		last = s
		if mailbox != nil {
			post(mailbox, s)
		}
	}
}

// post leaves s in the one-slot mailbox, replacing an older size not yet
// taken. There is one sender.
func post(mailbox chan Size, s Size) {
	for {
		select {
		case mailbox <- s:
			return
		default:
			select {
			case <-mailbox:
			default:
			}
		}
	}
}

func pushSizes(ctx context.Context, r Resizer, mailbox <-chan Size, report func(error)) {
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-mailbox:
			if err := r.Resize(ctx, s); err != nil && ctx.Err() == nil && report != nil {
				report(fmt.Errorf("resize to %v: %w", s, err))
			}
		}
	}
}
