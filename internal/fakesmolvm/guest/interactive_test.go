//go:build linux

package guest

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// syncBuffer is a bytes.Buffer safe to read while Exec writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond until it holds; the deadline only bounds a failure.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func pipeWith(t *testing.T, data []byte) *os.File {
	t.Helper()
	f := filepath.Join(t.TempDir(), "stdin")
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := os.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestExecInteractive(t *testing.T) {
	d := startMachine(t, Config{})
	data := make([]byte, 1<<20)
	rand.Read(data)
	r := run(t, d, ExecRequest{Argv: []string{"cat"}, Mode: Interactive}, pipeWith(t, data))
	if r.err != nil || r.code != 0 || r.stdout != string(data) {
		t.Fatalf("1 MiB through -i cat: err=%v code=%d len=%d equal=%v", r.err, r.code, len(r.stdout), r.stdout == string(data))
	}
	r = run(t, d, ExecRequest{Argv: []string{"sh", "-c", "cat; echo err >&2; exit 3"}, Mode: Interactive}, pipeWith(t, []byte("in")))
	if r.stdout != "in" || r.stderr != "err\n" || r.code != 3 {
		t.Fatalf("-i streams: %+v", r)
	}
	r = run(t, d, ExecRequest{Argv: []string{"nope"}, Mode: Interactive}, pipeWith(t, nil))
	if want := "agent operation failed: vm exec interactive: No such file or directory (os error 2)"; r.err == nil || r.err.Error() != want {
		t.Fatalf("-i spawn failure: %v, want %q", r.err, want)
	}
	r = run(t, d, ExecRequest{Argv: []string{"sleep", "30"}, Mode: Interactive, Timeout: 200 * time.Millisecond}, pipeWith(t, nil))
	if r.code != 124 || r.err != nil {
		t.Fatalf("-i timeout: %+v", r)
	}
}

func TestExecStream(t *testing.T) {
	d := startMachine(t, Config{})
	r := run(t, d, ExecRequest{Argv: []string{"sh", "-c", "echo a; echo b >&2; exit 5"}, Mode: Stream}, pipeWith(t, []byte("ignored")))
	if r.stdout != "a\n" || r.stderr != "b\n" || r.code != 5 || r.err != nil {
		t.Fatalf("stream: %+v", r)
	}
	// stdin is never forwarded and never ends
	r = run(t, d, ExecRequest{Argv: []string{"cat"}, Mode: Stream, Timeout: 300 * time.Millisecond}, pipeWith(t, []byte("x")))
	if r.code != 124 || r.stdout != "" {
		t.Fatalf("stream stdin: %+v", r)
	}
	r = run(t, d, ExecRequest{Argv: []string{"nope"}, Mode: Stream}, nil)
	if want := "agent operation failed: streaming exec: No such file or directory (os error 2)"; r.err == nil || r.err.Error() != want {
		t.Fatalf("stream spawn failure: %v", r.err)
	}
	r = run(t, d, ExecRequest{Argv: []string{"sh", "-c", "head -c 11534337 /dev/zero"}, Mode: Stream}, nil)
	if want := "error: streaming output exceeded 11534336 byte cap; exec terminated (output truncated)\n"; r.code != 1 || r.err != nil || r.stderr != want {
		t.Fatalf("stream cap: code=%d err=%v stderr=%q", r.code, r.err, r.stderr)
	}
}

func TestExecDetach(t *testing.T) {
	d := startMachine(t, Config{})
	r := run(t, d, ExecRequest{Argv: []string{"sh", "-c", "echo $X > /root/x; pwd >> /root/x"}, Mode: Detach, Env: []string{"X=y"}, Workdir: "/workspace"}, nil)
	if r.err != nil || r.code != 0 {
		t.Fatalf("%+v", r)
	}
	if _, err := strconv.Atoi(strings.TrimSuffix(r.stdout, "\n")); err != nil || !strings.HasSuffix(r.stdout, "\n") {
		t.Fatalf("detach stdout %q, want PID and newline", r.stdout)
	}
	waitFor(t, "detached command", func() bool { return sh(t, d, "cat /root/x").stdout == "y\n/workspace\n" })
	r = run(t, d, ExecRequest{Argv: []string{"nope"}, Mode: Detach}, nil)
	if want := "agent operation failed: vm exec background: failed to spawn background command: No such file or directory (os error 2)"; r.err == nil || r.err.Error() != want {
		t.Fatalf("detach spawn failure: %v", r.err)
	}
}

func TestExecTTYPiped(t *testing.T) {
	d := startMachine(t, Config{})
	for _, in := range []string{"x", "x\n"} {
		r := run(t, d, ExecRequest{Argv: []string{"cat"}, Mode: TTY}, pipeWith(t, []byte(in)))
		if r.err != nil || r.code != 0 || !strings.Contains(r.stdout, "x") {
			t.Fatalf("tty cat with piped %q: %+v", in, r)
		}
	}
	r := run(t, d, ExecRequest{Argv: []string{"sh", "-c", "stty size; echo out; echo err >&2; test -t 0 && echo tty; echo $TERM"}, Mode: TTY}, pipeWith(t, nil))
	if r.stdout != "24 80\r\nout\r\nerr\r\ntty\r\nxterm-256color\r\n" || r.stderr != "" {
		t.Fatalf("tty: stdout %q stderr %q; want 80x24, merged output with \\r\\n", r.stdout, r.stderr)
	}
	r = run(t, d, ExecRequest{Argv: []string{"sleep", "30"}, Mode: TTY, Timeout: 200 * time.Millisecond}, pipeWith(t, nil))
	if r.code != 124 {
		t.Fatalf("tty timeout: %+v", r)
	}
}

// TestExecTTYResize drives exec -t from a real terminal: the first size
// comes from the terminal, and a SIGWINCH sends the new one.
func TestExecTTYResize(t *testing.T) {
	for _, noForward := range []bool{false, true} {
		t.Run("noforward="+strconv.FormatBool(noForward), func(t *testing.T) {
			d := startMachine(t, Config{})
			ptmx, tty, err := pty.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer ptmx.Close()
			defer tty.Close()
			go func() { // keep the terminal's output side drained
				b := make([]byte, 4096)
				for {
					if _, err := ptmx.Read(b); err != nil {
						return
					}
				}
			}()
			pty.Setsize(ptmx, &pty.Winsize{Cols: 100, Rows: 30})
			var out syncBuffer
			done := make(chan result, 1)
			go func() {
				code, err := Exec(d, ExecRequest{Argv: []string{"sh", "-c", "while :; do stty size; sleep 0.05; done"}, Mode: TTY, Timeout: 20 * time.Second, NoResizeForwarding: noForward}, Stdio{Stdin: tty, Stdout: &out, Stderr: &out})
				done <- result{code: code, err: err}
			}()
			waitFor(t, "initial size 30x100", func() bool { return strings.Contains(out.String(), "30 100") })
			pty.Setsize(ptmx, &pty.Winsize{Cols: 120, Rows: 40})
			syscall.Kill(os.Getpid(), syscall.SIGWINCH)
			if noForward {
				time.Sleep(500 * time.Millisecond)
				if strings.Contains(out.String(), "40 120") {
					t.Fatal("resize forwarded although NoResizeForwarding")
				}
			} else {
				waitFor(t, "resized 40x120", func() bool { return strings.Contains(out.String(), "40 120") })
			}
			// ^C in raw mode travels to the guest as a byte and interrupts it.
			ptmx.Write([]byte{3})
			select {
			case r := <-done:
				if r.err != nil || r.code != 130 {
					t.Fatalf("after ^C: %+v", r)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("^C did not end the guest command")
			}
		})
	}
}

func TestExecKillMachine(t *testing.T) {
	d := startMachine(t, Config{})
	r := run(t, d, ExecRequest{Argv: []string{"sleep", "30"}, Mode: Interactive, KillMachine: true}, pipeWith(t, nil))
	if want := "agent operation failed: vm exec interactive: connection to VM lost"; r.err == nil || r.err.Error() != want {
		t.Fatalf("got %+v, want %q", r, want)
	}
	if _, ok := Alive(d); ok {
		t.Fatal("agent still answers after KillMachine")
	}
}

// TestClientHangupKillsCommand: a client that goes away mid-command takes
// the guest process group with it, and the machine stays usable.
func TestClientHangupKillsCommand(t *testing.T) {
	d := startMachine(t, Config{})
	c, err := dial(d)
	if err != nil {
		t.Fatal(err)
	}
	fw := &frameWriter{w: c}
	sendRequest(fw, request{Op: "exec", Exec: &ExecRequest{Argv: []string{"sh", "-c", "sleep 1000 & sleep 1000"}}})
	typ, p, err := readFrame(bufio.NewReader(c))
	if err != nil || typ != frameStarted {
		t.Fatalf("no started frame: %c %q %v", typ, p, err)
	}
	waitFor(t, "both sleeps running", func() bool { return countProcs(t, d, "sleep") == 2 })
	c.Close()
	waitFor(t, "guest sleeps to be killed", func() bool { return countProcs(t, d, "sleep") == 0 })
}

// countProcs counts guest processes by command name, from the guest's /proc.
func countProcs(t *testing.T, d, comm string) int {
	t.Helper()
	r := sh(t, d, "cat /proc/[0-9]*/comm 2>/dev/null | grep -cx "+comm+"; true")
	n, err := strconv.Atoi(strings.TrimSpace(r.stdout))
	if err != nil {
		t.Fatalf("counting processes: %+v", r)
	}
	return n
}

// TestTTYRestoresTerminal: the client's raw mode is undone on a normal
// exit and when a signal ends it, and the guest command dies with it.
func TestTTYRestoresTerminal(t *testing.T) {
	d := startMachine(t, Config{})
	exe, _ := os.Executable()
	for _, how := range []string{"exit", "SIGTERM", "SIGHUP"} {
		t.Run(how, func(t *testing.T) {
			ptmx, tty, err := pty.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer ptmx.Close()
			defer tty.Close()
			go io.Copy(io.Discard, ptmx)
			script := "sleep 1000"
			if how == "exit" {
				script = "sleep 0.5"
			}
			cmd := exec.Command(exe, "__exec_tty", d, "sh", "-c", script)
			cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			raw := func() bool {
				tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
				return err == nil && tio.Lflag&unix.ICANON == 0
			}
			waitFor(t, "raw mode", raw)
			if how != "exit" {
				waitFor(t, "guest sleep", func() bool { return countProcs(t, d, "sleep") == 1 })
				sig := map[string]syscall.Signal{"SIGTERM": syscall.SIGTERM, "SIGHUP": syscall.SIGHUP}[how]
				cmd.Process.Signal(sig)
			}
			cmd.Wait()
			if raw() {
				t.Fatal("terminal left in raw mode")
			}
			tio, _ := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
			if tio.Lflag&unix.ECHO == 0 {
				t.Error("echo not restored")
			}
			waitFor(t, "guest command to end", func() bool { return countProcs(t, d, "sleep") == 0 })
		})
	}
}

// TestExecLeavesStdinUnread: once an -i or -t Exec returns, nothing of it
// reads the caller's stdin any more, so a long-lived caller keeps what
// arrives later. A pump left blocked in read(2) would take "later".
func TestExecLeavesStdinUnread(t *testing.T) {
	d := startMachine(t, Config{})
	for _, mode := range []Mode{Interactive, TTY} {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		var count atomic.Int64
		if _, err := pw.WriteString("first\n"); err != nil {
			t.Fatal(err)
		}
		var o bytes.Buffer
		code, err := Exec(d, ExecRequest{Argv: []string{"sh", "-c", "read l; echo got $l"}, Mode: mode, Timeout: 20 * time.Second}, Stdio{Stdin: pr, Stdout: &o, Stderr: &o, StdinCount: &count})
		if err != nil || code != 0 || !strings.Contains(o.String(), "got first") {
			t.Fatalf("mode %d: code=%d err=%v out=%q", mode, code, err, o.String())
		}
		if n := count.Load(); n != int64(len("first\n")) {
			t.Errorf("mode %d: StdinCount %d, want %d", mode, n, len("first\n"))
		}
		if _, err := pw.WriteString("later"); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		rest, err := io.ReadAll(pr)
		pr.Close()
		if err != nil || string(rest) != "later" {
			t.Fatalf("mode %d: after Exec the caller read %q (%v), want %q", mode, rest, err, "later")
		}
	}
}

// TestExecTTYBackgroundKeepsTerminal: a background child that ignores
// SIGHUP keeps the guest terminal open after the command exits; the exec
// still ends after a short drain, not when the child does nor after the
// 5 s safety net (a master in blocking mode would ignore its deadline).
func TestExecTTYBackgroundKeepsTerminal(t *testing.T) {
	d := startMachine(t, Config{})
	t0 := time.Now()
	r := run(t, d, ExecRequest{Argv: []string{"sh", "-c", `(trap "" HUP; sleep 8) & echo hi`}, Mode: TTY}, pipeWith(t, nil))
	el := time.Since(t0)
	if r.err != nil || r.code != 0 || !strings.Contains(r.stdout, "hi") {
		t.Fatalf("tty exec: %+v", r)
	}
	if el > 4*time.Second {
		t.Fatalf("tty exec with a background child took %v; want about drainGrace (%v)", el, drainGrace)
	}
}

// TestExecTTYResizeKeepsDrain: after a resize has reached the guest
// terminal, a background child that keeps the terminal still does not hold
// the exec (applying a size must not make the master blocking).
func TestExecTTYResizeKeepsDrain(t *testing.T) {
	d := startMachine(t, Config{})
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	go func() {
		b := make([]byte, 4096)
		for {
			if _, err := ptmx.Read(b); err != nil {
				return
			}
		}
	}()
	pty.Setsize(ptmx, &pty.Winsize{Cols: 100, Rows: 30})
	var out syncBuffer
	done := make(chan result, 1)
	script := `while [ "$(stty size)" != "40 120" ]; do sleep 0.05; done; (trap "" HUP; sleep 8) & echo resized`
	go func() {
		code, err := Exec(d, ExecRequest{Argv: []string{"sh", "-c", script}, Mode: TTY, Timeout: 20 * time.Second}, Stdio{Stdin: tty, Stdout: &out, Stderr: &out})
		done <- result{code: code, err: err}
	}()
	time.Sleep(200 * time.Millisecond)
	pty.Setsize(ptmx, &pty.Winsize{Cols: 120, Rows: 40})
	syscall.Kill(os.Getpid(), syscall.SIGWINCH)
	waitFor(t, "the guest to see 40x120", func() bool { return strings.Contains(out.String(), "resized") })
	t0 := time.Now()
	select {
	case r := <-done:
		if r.err != nil || r.code != 0 {
			t.Fatalf("exec: %+v", r)
		}
		if el := time.Since(t0); el > 4*time.Second {
			t.Fatalf("exec ended %v after its command; want about drainGrace (%v)", el, drainGrace)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("exec did not end")
	}
}
