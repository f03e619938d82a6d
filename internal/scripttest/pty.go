package scripttest

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"

	"github.com/smolbottle/smolbottle/internal/ptytest"
)

// ptyWait bounds every pty wait; it is a deadline for broken runs, not a
// measurement.
const ptyWait = 60 * time.Second

// ptySession is one program running on a PTY in a script.
type ptySession struct {
	term  *ptytest.Term
	modes *unix.Termios // the terminal's modes when the program started
	cmd   *exec.Cmd
	done  chan struct{} // closed when cmd.Wait returned
}

var (
	ptyMu       sync.Mutex
	ptySessions = map[*testscript.TestScript]map[string]*ptySession{}
)

// cmdPTY runs programs on a terminal whose size the script controls (the
// built-in ttyin/ttyout cannot resize):
//
//	pty start NAME ROWSxCOLS PROG [ARGS...]  start PROG (looked up on $PATH, with the script's env) on a new PTY
//	pty resize NAME ROWSxCOLS               change the window size; the kernel sends SIGWINCH to PROG
//	pty send NAME TEXT                      type TEXT (Go escapes: \r, \x03, \n...)
//	pty wait NAME REGEXP                    wait for output matching REGEXP, past what earlier waits matched
//	pty signal NAME SIG                     send SIG (INT, TERM, HUP, KILL...) to PROG
//	pty exit NAME CODE                      wait for PROG to exit with CODE and check that it left the
//	                                        terminal's modes as it found them (raw mode restored);
//	                                        stdout is then all of its output
//
// A session still running when the script ends gets SIGTERM, then SIGKILL.
func cmdPTY(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! pty")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: pty start|resize|send|wait|signal|exit NAME ...")
	}
	verb, name, rest := args[0], args[1], args[2:]
	if verb == "start" {
		ptyStart(ts, name, rest)
		return
	}
	ptyMu.Lock()
	s := ptySessions[ts][name]
	ptyMu.Unlock()
	if s == nil {
		ts.Fatalf("pty %s: no session %q", verb, name)
	}
	need := func(n int, usage string) {
		if len(rest) != n {
			ts.Fatalf("usage: pty %s NAME %s", verb, usage)
		}
	}
	switch verb {
	case "resize":
		need(1, "ROWSxCOLS")
		rows, cols := parseSize(ts, rest[0])
		ts.Check(s.term.Resize(rows, cols))
	case "send":
		need(1, "TEXT")
		text, err := strconv.Unquote(`"` + strings.ReplaceAll(rest[0], `"`, `\"`) + `"`)
		if err != nil {
			ts.Fatalf("pty send: bad escapes in %q: %v", rest[0], err)
		}
		_, err = s.term.Write([]byte(text))
		ts.Check(err)
	case "wait":
		need(1, "REGEXP")
		re, err := regexp.Compile(rest[0])
		ts.Check(err)
		m, err := s.term.WaitFor(re, ptyWait)
		if err != nil {
			ts.Fatalf("pty wait %s: %v", name, err)
		}
		ts.Logf("pty %s matched %q", name, m)
	case "signal":
		need(1, "SIG")
		sig := parseSignal(ts, rest[0])
		ts.Check(s.cmd.Process.Signal(sig))
	case "exit":
		need(1, "CODE")
		want, err := strconv.Atoi(rest[0])
		ts.Check(err)
		select {
		case <-s.done:
		case <-time.After(ptyWait):
			ts.Fatalf("pty %s did not exit within %v; output: %q", name, ptyWait, s.term.Output())
		}
		// Every holder of the slave is gone once the program and its
		// children are; then the output is complete.
		_ = s.term.WaitOutputEnd(ptyWait)
		out := s.term.Output()
		fmt.Fprintf(ts.Stdout(), "%s", out)
		if got := exitCode(s.cmd.ProcessState); got != want {
			ts.Fatalf("pty %s exited with %d, want %d; output: %q", name, got, want, out)
		}
		modes, err := s.term.Termios()
		ts.Check(err)
		if *modes != *s.modes {
			ts.Fatalf("pty %s left the terminal's modes changed:\nat start %+v\nat exit  %+v", name, *s.modes, *modes)
		}
	default:
		ts.Fatalf("pty: unknown verb %q", verb)
	}
}

func ptyStart(ts *testscript.TestScript, name string, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: pty start NAME ROWSxCOLS PROG [ARGS...]")
	}
	rows, cols := parseSize(ts, args[0])
	ptyMu.Lock()
	if ptySessions[ts] == nil {
		ptySessions[ts] = map[string]*ptySession{}
		ts.Defer(func() {
			ptyMu.Lock()
			ss := ptySessions[ts]
			delete(ptySessions, ts)
			ptyMu.Unlock()
			for _, s := range ss {
				s.stop()
			}
		})
	}
	_, dup := ptySessions[ts][name]
	ptyMu.Unlock()
	if dup {
		ts.Fatalf("pty start: session %q exists", name)
	}

	cmd, err := Command(ts, args[1], args[2:]...)
	ts.Check(err)
	term, err := ptytest.Open(rows, cols)
	ts.Check(err)
	modes, err := term.Termios()
	if err != nil {
		term.Close()
		ts.Fatalf("pty start %s: %v", name, err)
	}
	cmd.Dir = ts.MkAbs(".")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = term.Slave(), term.Slave(), term.Slave()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		term.Close()
		ts.Fatalf("pty start %s: %v", name, err)
	}
	term.CloseSlave()
	s := &ptySession{term: term, modes: modes, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	ptyMu.Lock()
	ptySessions[ts][name] = s
	ptyMu.Unlock()
}

// stop ends a session left running: SIGTERM first, so a program under test
// can clean up (tear down its machine), then SIGKILL.
func (s *ptySession) stop() {
	select {
	case <-s.done:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
		}
	}
	s.term.Close()
}

func parseSize(ts *testscript.TestScript, s string) (rows, cols int) {
	r, c, ok := strings.Cut(s, "x")
	rows, err1 := strconv.Atoi(r)
	cols, err2 := strconv.Atoi(c)
	if !ok || err1 != nil || err2 != nil || rows <= 0 || cols <= 0 {
		ts.Fatalf("pty: bad size %q, want ROWSxCOLS", s)
	}
	return rows, cols
}

func parseSignal(ts *testscript.TestScript, s string) syscall.Signal {
	sigs := map[string]syscall.Signal{
		"INT": syscall.SIGINT, "TERM": syscall.SIGTERM, "HUP": syscall.SIGHUP,
		"KILL": syscall.SIGKILL, "QUIT": syscall.SIGQUIT, "WINCH": syscall.SIGWINCH,
	}
	sig, ok := sigs[strings.TrimPrefix(s, "SIG")]
	if !ok {
		ts.Fatalf("pty signal: unknown signal %q", s)
	}
	return sig
}

func exitCode(st *os.ProcessState) int {
	if st == nil {
		return -1
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}
