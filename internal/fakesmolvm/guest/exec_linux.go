//go:build linux

package guest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// outputCap is smolvm's limit on captured (and streamed) output.
const outputCap = 11 << 20 // 11534336

// drainGrace is how long the streaming modes (-i, -t, --stream) still
// collect output after the command exited while something (a background
// child) keeps its pipes or terminal open. Buffered mode has no grace: it
// reads to EOF, as smolvm's agent joins its reader threads (docs/smolvm.md,
// exec).
const drainGrace = 100 * time.Millisecond

// openPTY opens a PTY pair whose master is non-blocking and in Go's
// poller, so read deadlines work on it: the drain after the command exits
// relies on them. pty.Open cannot give one: it calls Fd() on the master,
// which turns a descriptor os.OpenFile made non-blocking back to blocking
// for good. A descriptor that was non-blocking when os.NewFile wrapped it
// stays so even through Fd().
func openPTY() (master, slave *os.File, err error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("open /dev/ptmx", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err == nil {
		err = unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0)
	}
	if err != nil {
		unix.Close(fd)
		return nil, nil, os.NewSyscallError("ioctl", err)
	}
	master = os.NewFile(uintptr(fd), "/dev/ptmx")
	slave, err = os.OpenFile("/dev/pts/"+strconv.FormatUint(uint64(n), 10), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	return master, slave, nil
}

// setWinsize sets a PTY master's window size on its raw descriptor,
// through SyscallConn rather than Fd(), so that nothing about the master's
// mode depends on how it was opened.
func setWinsize(m *os.File, cols, rows uint16) error {
	rc, err := m.SyscallConn()
	if err != nil {
		return err
	}
	var ioctlErr error
	err = rc.Control(func(fd uintptr) {
		ioctlErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Col: cols, Row: rows})
	})
	if err != nil {
		return err
	}
	return ioctlErr
}

// spawnPrefix is the message prefix smolvm uses for a failed spawn, per mode.
func spawnPrefix(m Mode) string {
	switch m {
	case Interactive, TTY:
		return "agent operation failed: vm exec interactive: "
	case Stream:
		return "agent operation failed: streaming exec: "
	case Detach:
		return "agent operation failed: vm exec background: failed to spawn background command: "
	default:
		return "agent operation failed: vm exec: failed to spawn command: "
	}
}

func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// exec runs one guest command for one connection.
func (a *agent) exec(br *bufio.Reader, fw *frameWriter, req *ExecRequest) {
	fail := func(err error) { fw.writeString(frameError, spawnPrefix(req.Mode)+OSError(err)) }
	if len(req.Argv) == 0 {
		fail(unix.ENOENT)
		return
	}
	u, env, dir, err := a.execContext(req)
	if err != nil {
		fail(err)
		return
	}
	path, err := lookPath(req.Argv[0], envGet(env, "PATH"))
	if err != nil {
		fail(err)
		return
	}
	// The command leads its own process group, which a timeout or a hang-up
	// kills; buffered, it leads a new session too, as under smolvm's agent.
	sys := &syscall.SysProcAttr{Setpgid: req.Mode != Buffered, Setsid: req.Mode == Buffered}
	if u.uid != 0 || u.gid != 0 {
		sys.Credential = &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid), Groups: u.groups}
	}
	attr := &syscall.ProcAttr{Dir: dir, Env: env, Sys: sys}

	null, err := os.OpenFile("/dev/null", os.O_RDWR, 0)
	if err != nil {
		fail(err)
		return
	}
	defer null.Close()

	if req.Mode == Detach {
		sys.Setpgid = false
		attr.Files = []uintptr{null.Fd(), null.Fd(), null.Fd()}
		pid, _, err := a.reaper.spawn(path, req.Argv, attr, false)
		if err != nil {
			fail(err)
			return
		}
		fw.writeString(frameStarted, strconv.Itoa(pid))
		fw.writeString(frameExit, "0")
		return
	}

	var (
		stdinW      io.WriteCloser // where stdin frames go
		outs        []*os.File     // read ends we drain
		outTypes    []byte
		closeAfter  []*os.File // child ends, closed once spawned
		ptmx        *os.File
		onStdinEOF  func()
		stdinClosed bool
	)
	// The child ends are closed right after the spawn; this catches a
	// setup that fails before it.
	defer func() {
		for _, f := range closeAfter {
			f.Close()
		}
	}()
	switch req.Mode {
	case TTY:
		m, s, err := openPTY()
		if err != nil {
			fail(err)
			return
		}
		ptmx = m
		defer m.Close()
		if err := setWinsize(m, 80, 24); err != nil {
			s.Close()
			fail(err)
			return
		}
		sys.Setpgid = false
		sys.Setsid, sys.Setctty, sys.Ctty = true, true, 0
		attr.Files = []uintptr{s.Fd(), s.Fd(), s.Fd()}
		closeAfter = append(closeAfter, s)
		stdinW = m
		outs, outTypes = []*os.File{m}, []byte{frameStdout}
		// Two ^D: the first ends a pending partial line, the second is EOF.
		onStdinEOF = func() { m.Write([]byte{4, 4}) }
	default:
		or, ow, err := os.Pipe()
		if err != nil {
			fail(err)
			return
		}
		defer or.Close()
		closeAfter = append(closeAfter, ow)
		er, ew, err := os.Pipe()
		if err != nil {
			fail(err)
			return
		}
		defer er.Close()
		closeAfter = append(closeAfter, ew)
		outs, outTypes = []*os.File{or, er}, []byte{frameStdout, frameStderr}
		stdinFd := null.Fd()
		if req.Mode == Interactive || req.Mode == Stream {
			ir, iw, err := os.Pipe()
			if err != nil {
				fail(err)
				return
			}
			defer iw.Close()
			closeAfter = append(closeAfter, ir)
			stdinFd = ir.Fd()
			if req.Mode == Interactive {
				stdinW = iw
				onStdinEOF = func() { iw.Close() }
			}
		}
		attr.Files = []uintptr{stdinFd, ow.Fd(), ew.Fd()}
	}

	pid, exited, err := a.reaper.spawn(path, req.Argv, attr, true)
	for _, f := range closeAfter {
		f.Close()
	}
	if err != nil {
		fail(err)
		return
	}
	killGroup := func() { unix.Kill(-pid, unix.SIGKILL) }
	fw.writeString(frameStarted, strconv.Itoa(pid))
	if req.KillMachine {
		// The machine "dies" under the running command: the whole guest goes.
		os.Exit(137)
	}

	// Client side: stdin, resizes, and hang-up detection.
	clientGone := make(chan struct{})
	go func() {
		defer close(clientGone)
		for {
			typ, p, err := readFrame(br)
			if err != nil {
				return
			}
			switch typ {
			case frameStdin:
				if stdinW != nil && !stdinClosed {
					stdinW.Write(p)
				}
			case frameStdinEOF:
				if onStdinEOF != nil && !stdinClosed {
					stdinClosed = true
					onStdinEOF()
				}
			case frameResize:
				if ptmx != nil && len(p) == 4 {
					setWinsize(ptmx, binary.BigEndian.Uint16(p), binary.BigEndian.Uint16(p[2:]))
				}
			}
		}
	}()

	// Output.
	buffered := req.Mode == Buffered
	var bufMu sync.Mutex
	var bufs [2][]byte
	var total int64
	overCap := make(chan int, 2) // stream index that went over
	done := make(chan struct{}, len(outs))
	for i, f := range outs {
		go func(i int, f *os.File, typ byte) {
			defer func() { done <- struct{}{} }()
			var n64 int64
			// emit takes one chunk; false stops reading.
			emit := func(b []byte) bool {
				n64 += int64(len(b))
				switch {
				case buffered:
					if n64 > outputCap {
						overCap <- i
						killGroup()
						return false
					}
					bufMu.Lock()
					bufs[i] = append(bufs[i], b...)
					bufMu.Unlock()
				case req.Mode == Stream && atomicAdd(&total, int64(len(b))) > outputCap:
					// the stream cap counts both streams together
					overCap <- i
					killGroup()
					return false
				default:
					fw.write(typ, b)
				}
				return true
			}
			buf := make([]byte, 32<<10)
			for {
				n, err := f.Read(buf)
				if n > 0 && !emit(buf[:n]) {
					return
				}
				if errors.Is(err, os.ErrDeadlineExceeded) {
					// The command is gone but something holds the pipe:
					// take what is buffered now, without waiting for more.
					drainNow(f, buf, emit)
					return
				}
				if err != nil {
					return
				}
			}
		}(i, f, outTypes[i])
	}

	var timeout <-chan time.Time
	if req.Timeout > 0 {
		t := time.NewTimer(req.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	timedOut, hungUp := false, false
	var ws unix.WaitStatus
wait:
	for {
		select {
		case ws = <-exited:
			break wait
		case <-timeout:
			// The timeout applies while the direct child lives; it ends
			// its process group, not a child that left it (setsid).
			timedOut = true
			killGroup()
			timeout = nil
		case <-clientGone:
			// The host client went away: nobody will read the result.
			killGroup()
			clientGone, hungUp = nil, true
		}
	}
	if buffered {
		if hungUp {
			for _, f := range outs {
				f.SetReadDeadline(time.Now())
			}
		}
		// Read to EOF: every process holding the pipes (a background
		// child) holds the exec, until the client goes away.
		for n := 0; n < len(outs); {
			select {
			case <-done:
				n++
			case <-clientGone:
				killGroup()
				for _, f := range outs {
					f.SetReadDeadline(time.Now())
				}
				clientGone = nil
			}
		}
	} else {
		// Read on until EOF; a pipe or terminal a background child keeps
		// open is drained of what it holds once drainGrace has passed.
		deadline := time.Now().Add(drainGrace)
		for _, f := range outs {
			f.SetReadDeadline(deadline)
		}
		for range outs {
			select {
			case <-done:
			case <-time.After(5 * time.Second): // a descriptor without deadlines
			}
		}
	}
	select {
	case <-overCap:
		if buffered {
			fw.writeString(frameError, "agent operation failed: vm exec: command output exceeded 11534336 bytes and was truncated. Use streaming exec (exec_stream / execStream) for large output.")
		} else {
			fw.writeString(frameWarn, "streaming output exceeded 11534336 byte cap; exec terminated (output truncated)")
		}
		return
	default:
	}
	if buffered {
		bufMu.Lock()
		writeChunks(fw, frameStdout, bufs[0])
		writeChunks(fw, frameStderr, bufs[1])
		bufMu.Unlock()
	}
	code := exitCode(ws)
	if timedOut {
		code = 124
	}
	fw.writeString(frameExit, strconv.Itoa(code))
}

// drainNow reads what f holds right now without blocking.
func drainNow(f *os.File, buf []byte, emit func([]byte) bool) {
	f.SetReadDeadline(time.Time{})
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Read(func(fd uintptr) bool {
		// bounded: a background writer may never stop
		for range 256 {
			n, err := unix.Read(int(fd), buf)
			if n <= 0 || err != nil || !emit(buf[:n]) {
				return true
			}
		}
		return true
	})
}

func writeChunks(fw *frameWriter, typ byte, b []byte) {
	for len(b) > 0 {
		n := min(len(b), 1<<20)
		fw.write(typ, b[:n])
		b = b[n:]
	}
}

func execClient(dataDir string, req ExecRequest, stdio Stdio) (int, error) {
	c, err := dial(dataDir)
	if err != nil {
		return 0, notRunning()
	}
	defer c.Close()
	if stdio.Stdout == nil {
		stdio.Stdout = io.Discard
	}
	if stdio.Stderr == nil {
		stdio.Stderr = io.Discard
	}
	fw := &frameWriter{w: c}
	if err := sendRequest(fw, request{Op: "exec", Exec: &req}); err != nil {
		return 0, notRunning()
	}

	stdinTTY := stdio.Stdin != nil && term.IsTerminal(int(stdio.Stdin.Fd()))
	if req.Mode == TTY && stdinTTY {
		if restore := rawMode(stdio.Stdin); restore != nil {
			defer restore()
		}
	}

	done := make(chan struct{})
	defer close(done)
	// The stdin pump must be gone when Exec returns, or a long-lived caller
	// would keep a goroutine that eats its stdin. stop closes c itself, so
	// a pump blocked writing to the agent returns too.
	var pump *stdinPump
	defer func() {
		if pump != nil {
			pump.stop(c)
		}
	}()
	br := bufio.NewReaderSize(c, 64<<10)
	for {
		typ, p, err := readFrame(br)
		if err != nil {
			return 0, errors.New(lostMessage(req.Mode))
		}
		switch typ {
		case frameStarted:
			if req.Mode == Detach {
				fmt.Fprintf(stdio.Stdout, "%s\n", p)
				continue
			}
			if req.Mode == TTY && stdinTTY {
				sendSize(fw, stdio.Stdin)
				if !req.NoResizeForwarding {
					forwardResizes(fw, stdio.Stdin, done)
				}
			}
			if (req.Mode == Interactive || req.Mode == TTY) && pump == nil {
				if pump, err = startStdinPump(fw, stdio.Stdin, stdio.StdinCount); err != nil {
					return 0, fmt.Errorf("agent operation failed: vm exec interactive: %w", err)
				}
			}
		case frameStdout:
			stdio.Stdout.Write(p)
		case frameStderr:
			stdio.Stderr.Write(p)
		case frameExit:
			code, _ := strconv.Atoi(string(p))
			return code, nil
		case frameError:
			return 0, errors.New(string(p))
		case frameWarn:
			fmt.Fprintf(stdio.Stderr, "error: %s\n", p)
			return 1, nil
		}
	}
}
