// Package ptytest plays the user's terminal in tests: a real PTY pair whose
// slave a program under test gets as its terminal, and whose master the
// test reads (all output is kept), writes (keystrokes) and resizes (the
// kernel then sends SIGWINCH to the slave's foreground process group).
package ptytest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sync"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// Term is the user's side of a PTY pair.
type Term struct {
	master *os.File // never Fd()'d: it stays in Go's poller, so Close ends the reader
	slave  *os.File

	mu       sync.Mutex
	out      []byte
	consumed int           // WaitFor has matched up to here
	changed  chan struct{} // closed and replaced on each change
	readErr  error
	readDone chan struct{}
}

// Open opens a PTY pair sized rows x cols and starts collecting its output.
func Open(rows, cols int) (*Term, error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("open pty: %w", err)
	}
	t := &Term{master: m, slave: s, changed: make(chan struct{}), readDone: make(chan struct{})}
	if err := t.Resize(rows, cols); err != nil {
		t.Close()
		return nil, err
	}
	go t.read()
	return t, nil
}

// Slave is the terminal to hand to the program under test.
func (t *Term) Slave() *os.File { return t.slave }

// Master is the test's end. Do not call Fd on it.
func (t *Term) Master() *os.File { return t.master }

func (t *Term) read() {
	defer close(t.readDone)
	buf := make([]byte, 64*1024)
	for {
		n, err := t.master.Read(buf)
		t.mu.Lock()
		t.out = append(t.out, buf[:n]...)
		if err != nil {
			t.readErr = err
		}
		close(t.changed)
		t.changed = make(chan struct{})
		t.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// Resize sets the window size, as a terminal emulator does when its window
// changes.
func (t *Term) Resize(rows, cols int) error {
	rc, err := t.master.SyscallConn()
	if err != nil {
		return err
	}
	var ierr error
	err = rc.Control(func(fd uintptr) {
		ierr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(rows), Col: uint16(cols)})
	})
	if err == nil {
		err = ierr
	}
	if err != nil {
		return fmt.Errorf("resize pty to %dx%d: %w", rows, cols, err)
	}
	return nil
}

// Termios returns the terminal's current modes (read through the master,
// so it works after CloseSlave).
func (t *Term) Termios() (*unix.Termios, error) {
	rc, err := t.master.SyscallConn()
	if err != nil {
		return nil, err
	}
	var tio *unix.Termios
	var ierr error
	if err := rc.Control(func(fd uintptr) { tio, ierr = unix.IoctlGetTermios(int(fd), ioctlGetTermios) }); err != nil {
		return nil, err
	}
	if ierr != nil {
		return nil, fmt.Errorf("read terminal modes: %w", ierr)
	}
	return tio, nil
}

// Write types p.
func (t *Term) Write(p []byte) (int, error) { return t.master.Write(p) }

// Output returns everything read so far.
func (t *Term) Output() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bytes.Clone(t.out)
}

// ErrTimeout is returned by WaitFor when the deadline passes.
var ErrTimeout = errors.New("timed out")

// WaitFor waits until the output not yet consumed by an earlier WaitFor
// matches re, consumes it up to the end of the match and returns the
// match. It fails when timeout passes or the output ends first.
func (t *Term) WaitFor(re *regexp.Regexp, timeout time.Duration) (string, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		t.mu.Lock()
		rest := t.out[t.consumed:]
		if loc := re.FindIndex(rest); loc != nil {
			m := string(rest[loc[0]:loc[1]])
			t.consumed += loc[1]
			t.mu.Unlock()
			return m, nil
		}
		changed, rerr := t.changed, t.readErr
		tail := string(rest)
		t.mu.Unlock()
		if rerr != nil {
			return "", fmt.Errorf("output ended (%v) without matching %q; unmatched output: %q", rerr, re, tail)
		}
		select {
		case <-changed:
		case <-deadline.C:
			return "", fmt.Errorf("%w after %v waiting for %q; unmatched output: %q", ErrTimeout, timeout, re, tail)
		}
	}
}

// CloseSlave closes the test's copy of the slave (do it once the program
// under test has it, so that the master sees EIO when the program is gone).
func (t *Term) CloseSlave() { t.slave.Close() }

// WaitOutputEnd waits until reading the master fails (every slave holder
// is gone) or timeout passes.
func (t *Term) WaitOutputEnd(timeout time.Duration) error {
	select {
	case <-t.readDone:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("%w after %v waiting for the end of output", ErrTimeout, timeout)
	}
}

// Close closes both ends and stops the reader.
func (t *Term) Close() {
	t.slave.Close()
	t.master.Close()
	<-t.readDone
}

// SizeWatcher is a Perl program (perl -e) for the program under test's
// side: it prints "size=ROWS COLS." at start and on every SIGWINCH, at once
// (a shell runs its trap only after its foreground child). SIGWINCH stays
// blocked except inside sigsuspend, so none is lost between two waits.
// 0x5413 is TIOCGWINSZ and 28 SIGWINCH on Linux. Perl and its POSIX module
// are part of every Debian (perl-base).
const SizeWatcher = `use POSIX; $| = 1;
sub p { my $w = " " x 8; ioctl(STDIN, 0x5413, $w) or die "TIOCGWINSZ: $!"; my ($r, $c) = unpack("S2", $w); print "size=$r $c.\n" }
$SIG{WINCH} = \&p;
my $winch = POSIX::SigSet->new(28);
sigprocmask(SIG_BLOCK, $winch);
p();
sigsuspend(POSIX::SigSet->new()) while 1;`
