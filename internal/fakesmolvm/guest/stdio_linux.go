//go:build linux

package guest

import (
	"encoding/binary"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// The client's side of an exec's stdin and terminal: the stdin pump, window sizes, raw mode.

// stdinPump forwards the caller's stdin to the guest until EOF or stop.
// It reads with poll(2) and a cancel pipe: a read(2) blocked on a terminal
// or a pipe is not woken by closing the file, and setting O_NONBLOCK on
// the caller's stdin would change it for every process that shares it.
type stdinPump struct {
	cancel [2]int // stop writes to cancel[1]; the pump polls cancel[0]
	done   chan struct{}
}

func startStdinPump(fw *frameWriter, in *os.File, count *atomic.Int64) (*stdinPump, error) {
	p := &stdinPump{done: make(chan struct{})}
	if err := unix.Pipe2(p.cancel[:], unix.O_CLOEXEC); err != nil {
		return nil, os.NewSyscallError("pipe2", err)
	}
	fd := -1
	if in != nil {
		fd = int(in.Fd())
	}
	go func() {
		defer close(p.done)
		if !p.forward(fw, fd, count) {
			return
		}
		fw.write(frameStdinEOF, nil)
	}()
	return p, nil
}

// forward copies fd to the guest; false means stop: canceled or the
// connection is gone.
func (p *stdinPump) forward(fw *frameWriter, fd int, count *atomic.Int64) bool {
	if fd < 0 {
		return true
	}
	buf := make([]byte, 32<<10)
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(p.cancel[0]), Events: unix.POLLIN}}
		_, err := unix.Poll(fds, -1)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return true // stdin cannot be watched: it ends here
		case fds[1].Revents != 0:
			return false
		}
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if n <= 0 {
			return true // EOF, or an error that ends stdin all the same
		}
		if fw.write(frameStdin, buf[:n]) != nil {
			return false
		}
		if count != nil {
			count.Add(int64(n))
		}
	}
}

// stop ends the pump and waits for it. c is closed first so that a pump
// blocked writing to the agent returns too.
func (p *stdinPump) stop(c io.Closer) {
	unix.Write(p.cancel[1], []byte{0})
	c.Close()
	<-p.done
	unix.Close(p.cancel[0])
	unix.Close(p.cancel[1])
}

func sendSize(fw *frameWriter, f *os.File) {
	cols, rows, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return
	}
	var p [4]byte
	binary.BigEndian.PutUint16(p[:], uint16(cols))
	binary.BigEndian.PutUint16(p[2:], uint16(rows))
	fw.write(frameResize, p[:])
}

// forwardResizes sends the terminal's size on every SIGWINCH until done.
func forwardResizes(fw *frameWriter, f *os.File, done <-chan struct{}) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGWINCH)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ch:
				sendSize(fw, f)
			case <-done:
				return
			}
		}
	}()
}

// rawMode puts the terminal f in raw mode and returns the function that
// restores it, once. A terminating signal restores it too, then ends the
// process by that signal (the agent kills the guest command when the
// connection drops).
func rawMode(f *os.File) func() {
	fd := int(f.Fd())
	old, err := term.MakeRaw(fd)
	if err != nil {
		return nil
	}
	var once sync.Once
	restore := func() { once.Do(func() { term.Restore(fd, old) }) }
	sigc := make(chan os.Signal, 1)
	stop := make(chan struct{})
	signal.Notify(sigc, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT)
	go func() {
		select {
		case sig := <-sigc:
			restore()
			signal.Reset(sig)
			syscall.Kill(os.Getpid(), sig.(syscall.Signal))
		case <-stop:
		}
	}()
	return func() {
		signal.Stop(sigc)
		close(stop)
		restore()
	}
}
