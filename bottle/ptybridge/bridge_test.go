package ptybridge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/smolbottle/smolbottle/internal/ptytest"
)

// TestMain doubles the test binary as a child process whose signal
// dispositions are known from its first instruction (a shell catches SIGINT
// at moments of its own choosing, which makes it a racy subject).
func TestMain(m *testing.M) {
	if os.Getenv("PTYBRIDGE_TEST_HELPER") == "sleeper" {
		// A grandchild in our process group, which the signal must reach too.
		sleep := exec.Command("sleep", "1000")
		if err := sleep.Start(); err != nil {
			fmt.Println("helper:", err)
			os.Exit(99)
		}
		fmt.Printf("ready %d\n", sleep.Process.Pid)
		_ = sleep.Wait()
		// A signal to the group may end the sleep a moment before the
		// runtime acts on our own copy of it: wait for that instead of
		// exiting 0 (a test that sends no signal kills us at cleanup).
		fmt.Println("not-killed")
		time.Sleep(time.Hour)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// sleeper is a child that prints "ready PID" (PID: its own child, a sleep)
// and then waits; the Go runtime makes it die of SIGINT, SIGTERM and SIGHUP.
func sleeper() *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "PTYBRIDGE_TEST_HELPER=sleeper")
	return cmd
}

// gone waits until pid has exited (a zombie awaiting its reaper counts).
func gone(t *testing.T, pid int) bool {
	t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true
		}
		if f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); len(f) > 0 && f[0] == "Z" {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// wait is the deadline for things that should happen at once; it only
// bounds a broken test, it measures nothing.
const wait = 20 * time.Second

// session is one bridge run on a user terminal played by a PTY pair.
type session struct {
	t    *testing.T
	term *ptytest.Term
	sigs chan os.Signal
	// checkRestored checks that the user's terminal is back as it was,
	// restored exactly once.
	checkRestored func()
	done          chan struct{}
	cmd           *exec.Cmd
	code          int
	err           error
}

var hookMu sync.Mutex

// countRestores installs restoreHook for the test; tests using it do not
// run in parallel with each other.
func countRestores(t *testing.T) *atomic.Int32 {
	t.Helper()
	hookMu.Lock()
	var n atomic.Int32
	restoreHook = func() { n.Add(1) }
	t.Cleanup(func() { restoreHook = nil; hookMu.Unlock() })
	return &n
}

func termios(t *testing.T, f *os.File) *unix.Termios {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(f.Fd()), ioctlGetTermios)
	if err != nil {
		t.Fatal(err)
	}
	return tio
}

// start runs `sh -c script` through the bridge on a fresh user terminal of
// 24x80 (resized to rows x cols first).
func start(t *testing.T, rows, cols int, script string, o Options) *session {
	t.Helper()
	return startCmd(t, rows, cols, exec.Command("sh", "-c", script), o)
}

func startCmd(t *testing.T, rows, cols int, cmd *exec.Cmd, o Options) *session {
	t.Helper()
	term, checkRestored := userTerm(t, rows, cols)
	s := &session{t: t, term: term, sigs: make(chan os.Signal, 64), done: make(chan struct{}), checkRestored: checkRestored}
	o.Stdin = term.Slave()
	if o.Stdout == nil {
		o.Stdout = term.Slave()
	}
	o.Signals = s.sigs
	s.cmd = cmd
	go func() {
		defer close(s.done)
		s.code, s.err = Run(cmd, o)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			s.sigs <- syscall.SIGKILL
			<-s.done
		}
	})
	return s
}

func (s *session) expect(re string) string {
	s.t.Helper()
	m, err := s.term.WaitFor(regexp.MustCompile(re), wait)
	if err != nil {
		s.t.Fatal(err)
	}
	return m
}

// readyPID waits for the sleeper's "ready PID" line and returns PID.
func (s *session) readyPID() int {
	s.t.Helper()
	m := s.expect(`ready [0-9]+`)
	var pid int
	if _, err := fmt.Sscanf(m, "ready %d", &pid); err != nil {
		s.t.Fatal(err)
	}
	return pid
}

func (s *session) type_(text string) {
	s.t.Helper()
	if _, err := s.term.Write([]byte(text)); err != nil {
		s.t.Fatal(err)
	}
}

// finish waits for Run to return and checks the exit code and that the
// user's terminal is back exactly as it was, restored exactly once.
func (s *session) finish(wantCode int) {
	s.t.Helper()
	select {
	case <-s.done:
	case <-time.After(wait):
		s.t.Fatalf("bridge did not return; output: %q", s.term.Output())
	}
	if s.err != nil {
		s.t.Fatalf("Run: %v", s.err)
	}
	if s.code != wantCode {
		s.t.Errorf("exit code = %d, want %d; output: %q", s.code, wantCode, s.term.Output())
	}
	s.checkRestored()
}

// userTerm opens a user terminal of rows x cols and returns it with a
// check that, once Run has returned, the terminal is back exactly as it was
// now, restored exactly once.
func userTerm(t *testing.T, rows, cols int) (*ptytest.Term, func()) {
	t.Helper()
	term, err := ptytest.Open(rows, cols)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(term.Close)
	restores := countRestores(t)
	before := termios(t, term.Slave())
	return term, func() {
		t.Helper()
		if diff := cmp.Diff(before, termios(t, term.Slave())); diff != "" {
			t.Errorf("user terminal not restored (-before +after):\n%s", diff)
		}
		if n := restores.Load(); n != 1 {
			t.Errorf("terminal restored %d times, want exactly 1", n)
		}
	}
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		want         int
		reason       string
	}{
		{"zero", "exit 0", 0, "a clean exit is 0"},
		{"three", "exit 3", 3, "the exit status passes through unchanged"},
		{"sigint", "kill -INT $$", 130, "death by SIGINT is 128+2, like a shell reports it"},
		{"sigterm", "kill -TERM $$", 143, "a child killed by SIGTERM gives 128+15"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, 24, 80, "echo started; "+tc.script, Options{})
			s.expect("started")
			s.finish(tc.want)
			if t.Failed() {
				t.Log(tc.reason)
			}
		})
	}
}

func TestSignalsToBridgeReachChild(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sig    syscall.Signal
		want   int
		reason string
	}{
		{"sigint", syscall.SIGINT, 130, "kill -INT of the bridge ends the child, which reports 128+2"},
		{"sigterm", syscall.SIGTERM, 143, "SIGTERM is forwarded, not fatal to the bridge"},
		{"sighup", syscall.SIGHUP, 129, "a hangup is forwarded so the child ends too"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startCmd(t, 24, 80, sleeper(), Options{})
			grandchild := s.readyPID()
			s.sigs <- tc.sig
			s.finish(tc.want)
			// The child's own child is in its process group: the signal
			// reaches the whole group, as it would from a terminal.
			if !gone(t, grandchild) {
				t.Errorf("the child's child survived %v", tc.sig)
			}
			if t.Failed() {
				t.Log(tc.reason)
			}
		})
	}
}

func TestRawModeWhileRunning(t *testing.T) {
	s := start(t, 24, 80, "echo ready; read line; echo got:$line", Options{})
	s.expect("ready")
	tio := termios(t, s.term.Slave())
	if tio.Lflag&(unix.ICANON|unix.ECHO|unix.ISIG) != 0 {
		t.Errorf("user terminal not raw while the child runs: lflag=%#x", tio.Lflag)
	}
	// Keys travel as bytes (no echo, no line editing by the user's
	// terminal); the child's own terminal, cooked, makes the line.
	s.type_("hello\r")
	s.expect("got:hello")
	s.finish(0)
}

func TestCtrlCKillsChildThroughItsTerminal(t *testing.T) {
	s := startCmd(t, 24, 80, sleeper(), Options{})
	s.readyPID()
	s.type_("\x03")
	s.finish(130)
}

func TestInitialSizeAndResize(t *testing.T) {
	script := `o=; while :; do s=$(stty size); [ "$s" != "$o" ] && echo "size=$s." && o=$s; sleep 0.02; done`
	s := start(t, 33, 101, script, Options{})
	s.expect(`size=33 101\.`)
	if err := s.term.Resize(40, 120); err != nil {
		t.Fatal(err)
	}
	s.sigs <- syscall.SIGWINCH
	s.expect(`size=40 120\.`)
	// A burst of resizes ends at the last size.
	for i := range 30 {
		if err := s.term.Resize(10+i, 50+i); err != nil {
			t.Fatal(err)
		}
		s.sigs <- syscall.SIGWINCH
	}
	s.expect(`size=39 79\.`)
	s.sigs <- syscall.SIGTERM
	s.finish(143)
}

// recordingResizer records the sizes it is given and whether calls
// overlapped.
type recordingResizer struct {
	mu       sync.Mutex
	sizes    []Size
	inFlight atomic.Int32
	overlap  atomic.Bool
	got      chan Size
}

func (r *recordingResizer) Resize(ctx context.Context, s Size) error {
	if r.inFlight.Add(1) > 1 {
		r.overlap.Store(true)
	}
	defer r.inFlight.Add(-1)
	time.Sleep(5 * time.Millisecond) // a side-channel exec takes a while
	r.mu.Lock()
	r.sizes = append(r.sizes, s)
	r.mu.Unlock()
	r.got <- s
	return nil
}

func TestResizerGetsStartSizeAndNewest(t *testing.T) {
	r := &recordingResizer{got: make(chan Size, 100)}
	s := startCmd(t, 30, 90, sleeper(), Options{Resizer: r})
	s.readyPID()
	waitSize := func(want Size) {
		t.Helper()
		timeout := time.After(wait)
		for {
			select {
			case got := <-r.got:
				if got == want {
					return
				}
			case <-timeout:
				t.Fatalf("resizer never got %v; got %v", want, r.sizes)
			}
		}
	}
	waitSize(Size{30, 90})
	for i := range 20 {
		if err := s.term.Resize(20+i, 60+i); err != nil {
			t.Fatal(err)
		}
		s.sigs <- syscall.SIGWINCH
	}
	waitSize(Size{39, 79})
	s.sigs <- syscall.SIGINT
	s.finish(130)
	if r.overlap.Load() {
		t.Error("resizer calls overlapped")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.sizes) == 0 || r.sizes[0] != (Size{30, 90}) {
		t.Errorf("first size = %v, want the start size 30x90", r.sizes)
	}
}

func TestLargeOutputArrivesComplete(t *testing.T) {
	const size = 64 << 20
	data := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{1})
	_, _ = rng.Read(data)
	file := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	data = nil

	// The test reads the bridge's output itself, from a pipe, so the
	// whole stream can be hashed without keeping 64 MiB of terminal output.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	type result struct {
		n   int64
		sum [32]byte
	}
	res := make(chan result, 1)
	go func() {
		h := sha256.New()
		n, _ := io.Copy(h, pr)
		var r result
		r.n = n
		copy(r.sum[:], h.Sum(nil))
		res <- r
	}()
	// stty raw on the host PTY: no \n -> \r\n translation of binary data.
	s := start(t, 24, 80, "stty raw -echo && cat "+file, Options{Stdout: pw})
	select {
	case <-s.done:
	case <-time.After(2 * wait):
		t.Fatal("bridge did not return")
	}
	pw.Close()
	if s.err != nil || s.code != 0 {
		t.Fatalf("Run = %d, %v", s.code, s.err)
	}
	got := <-res
	if got.n != size || got.sum != want {
		t.Errorf("got %d bytes (sha256 %x), want %d bytes (sha256 %x)", got.n, got.sum, size, want)
	}
	s.checkRestored()
}

func TestNoKeysStolenAfterReturn(t *testing.T) {
	s := start(t, 24, 80, "exit 0", Options{})
	s.finish(0)
	// The terminal is cooked again; a line typed now belongs to whoever
	// reads the terminal next, not to a leftover goroutine of the bridge.
	s.type_("after\n")
	// Wait with a deadline, so a stolen line fails the test instead of
	// hanging it.
	fds := []unix.PollFd{{Fd: int32(s.term.Slave().Fd()), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(wait/time.Millisecond))
		if err == unix.EINTR {
			continue
		}
		if n != 1 {
			t.Fatalf("no line to read %v after typing one (poll: %v): a goroutine of the bridge took it", wait, err)
		}
		break
	}
	buf := make([]byte, 100)
	n, err := s.term.Slave().Read(buf)
	if err != nil || string(buf[:n]) != "after\n" {
		t.Errorf("read after return = %q, %v; want %q", buf[:n], err, "after\n")
	}
}

type panicWriter struct{}

func (panicWriter) Write(p []byte) (int, error) { panic("writer broke") }

func TestPanicPropagates(t *testing.T) {
	// Run in the test goroutine to observe the panic.
	term, checkRestored := userTerm(t, 24, 80)
	pidFile := filepath.Join(t.TempDir(), "pid")
	cmd := exec.Command("sh", "-c", "echo $$ >"+pidFile+"; echo boom; exec sleep 1000")
	func() {
		defer func() {
			if r := recover(); r != "writer broke" {
				t.Errorf("recovered %v, want the writer's panic", r)
			}
		}()
		_, _ = Run(cmd, Options{Stdin: term.Slave(), Stdout: panicWriter{}, Signals: make(chan os.Signal)})
	}()
	checkRestored()
	// The child was killed: Run reaped it, so its PID is gone.
	if cmd.ProcessState == nil {
		t.Fatal("child not reaped")
	}
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("child status %v, want killed by SIGKILL", cmd.ProcessState)
	}
}

func TestPlainPathWhenStdinIsNotATerminal(t *testing.T) {
	in, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var out bytes.Buffer
	cmd := exec.Command("sh", "-c", `if [ -t 0 ] || [ -t 1 ]; then echo tty; else echo plain; fi; exit 3`)
	code, err := Run(cmd, Options{Stdin: in, Stdout: &out, Signals: make(chan os.Signal)})
	if err != nil || code != 3 {
		t.Fatalf("Run = %d, %v; want 3, nil", code, err)
	}
	if out.String() != "plain\n" {
		t.Errorf("output %q: want the command on the given files, no PTY", out.String())
	}
}

func TestPlainPathForwardsSignals(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	sigs := make(chan os.Signal, 1)
	cmd := sleeper()
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := Run(cmd, Options{Stdin: nil, Stdout: pw, Signals: sigs})
		pw.Close()
		done <- result{code, err}
	}()
	line := make([]byte, 5)
	if _, err := io.ReadFull(pr, line); err != nil || string(line) != "ready" {
		t.Fatalf("read %q, %v", line, err)
	}
	sigs <- syscall.SIGINT
	select {
	case r := <-done:
		if r.err != nil || r.code != 130 {
			t.Errorf("Run = %d, %v; want 130", r.code, r.err)
		}
	case <-time.After(wait):
		sigs <- syscall.SIGKILL
		<-done
		t.Fatal("SIGINT did not reach the child")
	}
}

func TestStartFailure(t *testing.T) {
	term, checkRestored := userTerm(t, 24, 80)
	code, err := Run(exec.Command("/nonexistent/program"), Options{Stdin: term.Slave(), Signals: make(chan os.Signal)})
	if code != -1 || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Run = %d, %v; want -1 and a not-exist error", code, err)
	}
	checkRestored()
}

// gateResizer holds each Resize until released.
type gateResizer struct {
	entered chan Size
	release chan struct{}
}

func (g *gateResizer) Resize(ctx context.Context, s Size) error {
	g.entered <- s
	<-g.release
	return nil
}

// TestPushSizesCoalesces: while one push is in flight, a burst of sizes
// leaves only the newest in the mailbox, so exactly one more push follows,
// with that size.
func TestPushSizesCoalesces(t *testing.T) {
	g := &gateResizer{entered: make(chan Size, 10), release: make(chan struct{})}
	mailbox := make(chan Size, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); pushSizes(ctx, g, mailbox, nil) }()
	post(mailbox, Size{24, 80})
	if s := <-g.entered; s != (Size{24, 80}) {
		t.Fatalf("first push %v, want 24x80", s)
	}
	for i := range 10 {
		post(mailbox, Size{30 + i, 100})
	}
	g.release <- struct{}{}
	if s := <-g.entered; s != (Size{39, 100}) {
		t.Fatalf("push after the burst %v, want the newest, 39x100", s)
	}
	g.release <- struct{}{}
	cancel()
	<-done
	if len(g.entered) != 0 {
		t.Errorf("%d more pushes after the newest size, want none", len(g.entered))
	}
}

// TestCommandStderrKept: a Stderr the caller set on cmd keeps the
// command's own messages apart from the session, on both paths (the TTY
// path would otherwise give the command the PTY as stderr).
func TestCommandStderrKept(t *testing.T) {
	t.Run("tty", func(t *testing.T) {
		var errb syncBuffer
		cmd := exec.Command("sh", "-c", `echo to-terminal; echo to-stderr >&2; [ -t 2 ] && echo stderr-is-tty; exit 4`)
		cmd.Stderr = &errb
		s := startCmd(t, 24, 80, cmd, Options{})
		s.expect("to-terminal")
		s.finish(4)
		if got := errb.String(); got != "to-stderr\n" {
			t.Errorf("cmd.Stderr got %q, want the command's stderr", got)
		}
		if out := string(s.term.Output()); strings.Contains(out, "to-stderr") || strings.Contains(out, "stderr-is-tty") {
			t.Errorf("the command's stderr reached the terminal: %q", out)
		}
	})
	t.Run("plain", func(t *testing.T) {
		in, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		var out, optErr, cmdErr bytes.Buffer
		cmd := exec.Command("sh", "-c", `echo out; echo err >&2`)
		cmd.Stderr = &cmdErr
		if code, err := Run(cmd, Options{Stdin: in, Stdout: &out, Stderr: &optErr, Signals: make(chan os.Signal)}); code != 0 || err != nil {
			t.Fatalf("Run = %d, %v", code, err)
		}
		if out.String() != "out\n" || cmdErr.String() != "err\n" || optErr.Len() != 0 {
			t.Errorf("stdout %q, cmd.Stderr %q, Options.Stderr %q; want stderr in cmd.Stderr only", out.String(), cmdErr.String(), optErr.String())
		}
	})
}

// syncBuffer is a bytes.Buffer safe for the command's copy goroutine and
// the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
