package ptybridge

import (
	"errors"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// errCanceled is returned by an fdIO operation after cancel was called.
var errCanceled = errors.New("ptybridge: canceled")

// fdIO reads and writes a raw file descriptor with poll(2), so that a
// blocked read or write can be abandoned by cancel. Neither the user's
// terminal nor a PTY master unblocks a pending read(2) when another goroutine
// closes it, and putting the user's terminal in O_NONBLOCK (to use Go's
// poller) would change it for every other process sharing it, the user's
// shell included.
type fdIO struct {
	fd     int
	wake   [2]int // self-pipe: cancel writes to wake[1], poll watches wake[0]
	once   sync.Once
	closed bool
}

func newFdIO(fd int) (*fdIO, error) {
	f := &fdIO{fd: fd}
	if err := pipe(f.wake[:]); err != nil {
		return nil, os.NewSyscallError("pipe2", err)
	}
	return f, nil
}

// cancel makes every pending and future Read and Write return errCanceled.
func (f *fdIO) cancel() {
	f.once.Do(func() { _, _ = unix.Write(f.wake[1], []byte{0}) })
}

// closeWake releases the self-pipe; call it once no goroutine uses f.
func (f *fdIO) closeWake() {
	if !f.closed {
		f.closed = true
		unix.Close(f.wake[0])
		unix.Close(f.wake[1])
	}
}

// wait blocks until fd is ready for events or f is canceled. timeoutMs < 0
// waits forever; a timeout returns (false, nil).
func (f *fdIO) wait(events int16, timeoutMs int) (bool, error) {
	for {
		fds := []unix.PollFd{
			{Fd: int32(f.fd), Events: events},
			{Fd: int32(f.wake[0]), Events: unix.POLLIN},
		}
		n, err := unix.Poll(fds, timeoutMs)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false, os.NewSyscallError("poll", err)
		}
		if fds[1].Revents != 0 {
			return false, errCanceled
		}
		if n == 0 {
			return false, nil
		}
		if fds[0].Revents&unix.POLLNVAL != 0 {
			return false, os.ErrClosed
		}
		// POLLHUP and POLLERR are "ready" too: the read or write reports
		// them (EIO from a PTY master whose slave is gone, after the data).
		return true, nil
	}
}

// Read implements io.Reader. EIO, which a PTY master returns once every
// slave descriptor is closed and the buffered output has been read, is
// io.EOF.
func (f *fdIO) Read(p []byte) (int, error) {
	return f.readTimeout(p, -1)
}

// readTimeout is Read that gives up with (0, nil) after timeoutMs of no data.
func (f *fdIO) readTimeout(p []byte, timeoutMs int) (int, error) {
	for {
		ok, err := f.wait(unix.POLLIN, timeoutMs)
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, nil
		}
		n, err := unix.Read(f.fd, p)
		switch {
		case err == unix.EINTR || err == unix.EAGAIN:
			continue
		case err == unix.EIO:
			return 0, io.EOF
		case err != nil:
			return 0, os.NewSyscallError("read", err)
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// Write implements io.Writer.
func (f *fdIO) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		if _, err := f.wait(unix.POLLOUT, -1); err != nil {
			return done, err
		}
		n, err := unix.Write(f.fd, p[done:])
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err == unix.EIO {
			return done, io.ErrClosedPipe
		}
		if err != nil {
			return done, os.NewSyscallError("write", err)
		}
		done += n
	}
	return done, nil
}
