//go:build linux

package guest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestExecBuffered(t *testing.T) {
	d := startMachine(t, Config{Env: []string{"REC=rec", "OVER=record"}})
	tests := []struct {
		name, reason        string
		req                 ExecRequest
		code                int
		stdout, stderr, err string
	}{
		{
			name: "stdout then stderr", reason: "buffered mode writes all stdout, then all stderr, never interleaved",
			req:    ExecRequest{Argv: []string{"sh", "-c", "echo o1; echo e1 >&2; echo o2; echo e2 >&2"}},
			stdout: "o1\no2\n", stderr: "e1\ne2\n",
		},
		{
			name: "exit code", reason: "the guest command's status is passed through",
			req: ExecRequest{Argv: []string{"sh", "-c", "exit 42"}}, code: 42,
		},
		{
			name: "signal", reason: "a command killed by a signal exits 128+signal",
			req: ExecRequest{Argv: []string{"sh", "-c", "kill -TERM $$"}}, code: 143,
		},
		{
			name: "stdin is /dev/null", reason: "cat must end at once with nothing",
			req: ExecRequest{Argv: []string{"cat"}},
		},
		{
			name: "no shell", reason: "argv is not interpreted by a shell",
			req: ExecRequest{Argv: []string{"echo", "$HOME", "a;b"}}, stdout: "$HOME a;b\n",
		},
		{
			name: "base env", reason: "smolvm's base environment, then record env, then exec -e (docs/smolvm.md, exec: environment)",
			req:    ExecRequest{Argv: []string{"sh", "-c", `echo "$HOME|$PATH|$TERM|$REC|$OVER|$X"`}, Env: []string{"OVER=exec", "X=1=2"}},
			stdout: "/root|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|xterm-256color|rec|exec|1=2\n",
		},
		{
			name: "workdir", reason: "-w sets the cwd",
			req: ExecRequest{Argv: []string{"pwd"}, Workdir: "/workspace"}, stdout: "/workspace\n",
		},
		{
			name: "missing binary", reason: "spawn failure is an Error, not exit 127",
			req: ExecRequest{Argv: []string{"no-such-binary"}},
			err: "agent operation failed: vm exec: failed to spawn command: No such file or directory (os error 2)",
		},
		{
			name: "empty argv0", reason: `exec -- "" is a spawn failure`,
			req: ExecRequest{Argv: []string{""}},
			err: "agent operation failed: vm exec: failed to spawn command: No such file or directory (os error 2)",
		},
		{
			name: "missing workdir", reason: "a missing -w directory is a spawn failure",
			req: ExecRequest{Argv: []string{"true"}, Workdir: "/nope"},
			err: "agent operation failed: vm exec: failed to spawn command: No such file or directory (os error 2)",
		},
		{
			name: "not executable", reason: "a non-executable file gives Permission denied",
			req: ExecRequest{Argv: []string{"/etc/passwd"}},
			err: "agent operation failed: vm exec: failed to spawn command: Permission denied (os error 13)",
		},
		{
			name: "sh missing command", reason: "the shell's own 127 passes through",
			req: ExecRequest{Argv: []string{"sh", "-c", "missingcmd 2>/dev/null"}}, code: 127,
		},
		{
			name: "timeout", reason: "the process group is killed, exit 124, output so far kept",
			req:  ExecRequest{Argv: []string{"sh", "-c", "echo before; sleep 30 & sleep 30"}, Timeout: 300 * time.Millisecond},
			code: 124, stdout: "before\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, d, tc.req, nil)
			gotErr := ""
			if r.err != nil {
				gotErr = r.err.Error()
			}
			if r.code != tc.code || r.stdout != tc.stdout || r.stderr != tc.stderr || gotErr != tc.err {
				t.Errorf("%s\ngot  code=%d stdout=%q stderr=%q err=%q\nwant code=%d stdout=%q stderr=%q err=%q",
					tc.reason, r.code, r.stdout, r.stderr, gotErr, tc.code, tc.stdout, tc.stderr, tc.err)
			}
		})
	}
}

func TestExecBinaryAndCap(t *testing.T) {
	d := startMachine(t, Config{})
	r := sh(t, d, "head -c 4 /proc/self/exe; printf '\\000\\377'")
	if r.err != nil || r.stdout != "\x7fELF\x00\xff" {
		t.Fatalf("binary output mangled: %+v", r)
	}
	r = sh(t, d, "head -c 11534336 /dev/zero")
	if r.err != nil || len(r.stdout) != 11534336 {
		t.Fatalf("exactly 11 MiB must pass: err=%v len=%d", r.err, len(r.stdout))
	}
	r = sh(t, d, "head -c 11534337 /dev/zero")
	want := "agent operation failed: vm exec: command output exceeded 11534336 bytes and was truncated. Use streaming exec (exec_stream / execStream) for large output."
	if r.err == nil || r.err.Error() != want || r.stdout != "" {
		t.Fatalf("over the cap: got err=%v stdout len %d, want %q", r.err, len(r.stdout), want)
	}
}

func TestExecConcurrent(t *testing.T) {
	d := startMachine(t, Config{})
	var wg sync.WaitGroup
	errs := make(chan string, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := run(t, d, ExecRequest{Argv: []string{"sh", "-c", fmt.Sprintf("echo %d; exit %d", i, i%7)}}, nil)
			if r.err != nil || r.stdout != fmt.Sprintf("%d\n", i) || r.code != i%7 {
				errs <- fmt.Sprintf("exec %d: %+v", i, r)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestLifecycle(t *testing.T) {
	d := startMachine(t, Config{})
	pid, ok := Alive(d)
	if !ok || pid <= 0 {
		t.Fatalf("Alive = %d, %v after Start", pid, ok)
	}
	// Persisted and temporary state, and a detached process that must die
	// with the machine.
	if r := sh(t, d, "echo keep > /root/keep; echo gone > /tmp/gone; echo x > /workspace/w"); r.code != 0 || r.err != nil {
		t.Fatalf("%+v", r)
	}
	r := run(t, d, ExecRequest{Argv: []string{"sleep", "1000"}, Mode: Detach}, nil)
	if r.err != nil || r.code != 0 {
		t.Fatalf("detach: %+v", r)
	}
	gpid := strings.TrimSpace(r.stdout)
	if _, err := strconv.Atoi(gpid); err != nil {
		t.Fatalf("detach printed %q, want a PID", r.stdout)
	}
	if n := countProcs(t, d, "sleep"); n != 1 {
		t.Fatalf("%d sleep processes before stop, want the detached one", n)
	}
	if r := run(t, d, ExecRequest{Argv: []string{"kill", "-0", gpid}}, nil); r.code != 0 {
		t.Fatalf("detached process %s not alive after exec returned: %+v", gpid, r)
	}
	if err := Stop(d); err != nil {
		t.Fatal(err)
	}
	if !exited(pid) {
		t.Fatalf("agent %d still running after Stop", pid)
	}
	if _, ok := Alive(d); ok {
		t.Fatal("Alive after Stop")
	}
	if _, err := Exec(d, ExecRequest{Argv: []string{"true"}}, Stdio{}); err == nil {
		t.Fatal("Exec works on a stopped machine")
	}
	if err := Stop(d); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := Start(Config{Name: "testvm", DataDir: d}); err != nil {
		t.Fatal(err)
	}
	r = sh(t, d, "cat /root/keep /workspace/w; ls -A /tmp")
	if r.stdout != "keep\nx\n" {
		t.Errorf("after restart got %q; want /root and /workspace kept, /tmp empty", r.stdout)
	}
	if n := countProcs(t, d, "sleep"); n != 0 {
		t.Errorf("%d sleep processes survived the restart", n)
	}
}

func TestStopAllUnderEndsGuests(t *testing.T) {
	base := t.TempDir()
	var dirs, marks []string
	for i := range 2 {
		d := fmt.Sprintf("%s/vms/%d", base, i)
		startMachine(t, Config{DataDir: d, Name: fmt.Sprintf("m%d", i)})
		dirs = append(dirs, d)
		// A guest process the host can find by its unique argument.
		mark := fmt.Sprintf("%d.%d%d", 1000+i, os.Getpid(), time.Now().UnixNano()%1000)
		if r := run(t, d, ExecRequest{Argv: []string{"sleep", mark}, Mode: Detach}, nil); r.err != nil || r.code != 0 {
			t.Fatalf("detach: %+v", r)
		}
		marks = append(marks, mark)
	}
	for _, m := range marks {
		waitFor(t, "guest sleep "+m, func() bool { return len(hostProcsWith(m)) == 1 })
	}
	StopAllUnder(base)
	for _, m := range marks {
		if pids := hostProcsWith(m); len(pids) != 0 {
			t.Errorf("guest process sleep %s survived StopAllUnder: %v", m, pids)
		}
	}
	for _, d := range dirs {
		if _, ok := Alive(d); ok {
			t.Errorf("%s still alive after StopAllUnder", d)
		}
	}
	if pids := agentPIDs(func(d string) bool { return strings.HasPrefix(d, base) }); len(pids) != 0 {
		t.Errorf("agents left: %v", pids)
	}
}

func TestAgentExitsWhenDataDirRemoved(t *testing.T) {
	d := startMachine(t, Config{})
	pid, _ := Alive(d)
	if err := os.RemoveAll(d); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, ok := agentDataDir(pid); !ok {
			if _, err := os.Stat(d); !os.IsNotExist(err) {
				t.Fatalf("the data dir came back: %v", err)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("agent %d still running 5s after its data dir was removed", pid)
}

// hostProcsWith lists the host PIDs whose command line has the word w.
func hostProcsWith(w string) []int {
	files, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var out []int
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if slices.Contains(strings.Split(string(b), "\x00"), w) {
			pid, _ := strconv.Atoi(strings.Split(f, "/")[2])
			out = append(out, pid)
		}
	}
	return out
}

// exited reports whether a process is gone or a zombie (Start's own Wait
// goroutine reaps it a moment later).
func exited(pid int) bool {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func TestAgentExitsWithOwner(t *testing.T) {
	owner := exec.Command("sleep", "1000")
	if err := owner.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { owner.Process.Kill(); owner.Wait() })
	t.Setenv(OwnerPIDEnv, strconv.Itoa(owner.Process.Pid))
	d := startMachine(t, Config{})
	pid, ok := Alive(d)
	if !ok {
		t.Fatal("not alive")
	}
	if r := run(t, d, ExecRequest{Argv: []string{"ls", "/proc/self/fd"}}, nil); r.stdout != "0\n1\n2\n3\n" {
		t.Errorf("guest process has descriptors besides stdio and ls's own: %q", r.stdout)
	}
	owner.Process.Kill()
	owner.Wait()
	waitFor(t, "agent to follow its owner", func() bool { return exited(pid) })
}

// TestGuestDescriptors: guest processes get stdio and nothing else, not
// even what the CLI inherited (a leaked host pipe would be a way out).
func TestGuestDescriptors(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	// Make the write end inheritable at a high number, as a shell may.
	if err := syscall.Dup3(int(w.Fd()), 200, 0); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(200)
	d := startMachine(t, Config{})
	for _, m := range []Mode{Buffered, Interactive, Stream, TTY} {
		res := run(t, d, ExecRequest{Argv: []string{"ls", "-1", "/proc/self/fd"}, Mode: m}, pipeWith(t, nil))
		if got := strings.ReplaceAll(res.stdout, "\r", ""); got != "0\n1\n2\n3\n" {
			t.Errorf("mode %d: guest descriptors %q, want only stdio and ls's own", m, got)
		}
	}
}

// TestExecWaitsForPipes: a buffered exec ends when its pipes reach EOF, so
// a background child that keeps stdout holds it (docs/smolvm.md, exec);
// -d and a redirected background child do not wait. The timeout ends the
// child's process group, but not a child that left it with setsid.
func TestExecWaitsForPipes(t *testing.T) {
	d := startMachine(t, Config{})
	tests := []struct {
		name, reason string
		req          ExecRequest
		code         int
		stdout       string
		min, max     time.Duration
	}{
		{
			name: "background holds stdout", reason: "the exec waits for the sleep that keeps its stdout",
			req: ExecRequest{Argv: []string{"sh", "-c", "sleep 2 & echo hi"}}, stdout: "hi\n",
			min: 1800 * time.Millisecond, max: 10 * time.Second,
		},
		{
			name: "background output redirected", reason: "a background child without the pipes does not hold the exec",
			req: ExecRequest{Argv: []string{"sh", "-c", "sleep 10 >/dev/null 2>&1 & echo hi"}}, stdout: "hi\n",
			max: 8 * time.Second,
		},
		{
			name: "detach", reason: "-d returns at once",
			req: ExecRequest{Argv: []string{"sh", "-c", "sleep 10 & echo hi"}, Mode: Detach},
			max: 8 * time.Second,
		},
		{
			name: "timeout kills the group", reason: "the background sleep is in the child's group and dies with it",
			req:  ExecRequest{Argv: []string{"sh", "-c", "sleep 30 & sleep 60"}, Timeout: 300 * time.Millisecond},
			code: 124, max: 20 * time.Second,
		},
		{
			name: "setsid child holds after timeout", reason: "a child that left the group keeps the pipe past the deadline",
			req:  ExecRequest{Argv: []string{"sh", "-c", "setsid sleep 2 & sleep 10"}, Timeout: 300 * time.Millisecond},
			code: 124, min: 1800 * time.Millisecond, max: 10 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t0 := time.Now()
			r := run(t, d, tt.req, nil)
			el := time.Since(t0)
			if r.err != nil || r.code != tt.code || (tt.req.Mode != Detach && r.stdout != tt.stdout) {
				t.Fatalf("%s: got %+v, want code %d stdout %q", tt.reason, r, tt.code, tt.stdout)
			}
			if el < tt.min || el > tt.max {
				t.Fatalf("%s: took %v, want between %v and %v", tt.reason, el, tt.min, tt.max)
			}
		})
	}
}

// TestExecBufferedSession: a buffered command leads a new session and
// process group, as under smolvm's agent (docs/smolvm.md, exec: buffered).
func TestExecBufferedSession(t *testing.T) {
	d := startMachine(t, Config{})
	r := sh(t, d, `set -- $(cut -d' ' -f6 /proc/$$/stat) $(cut -d' ' -f5 /proc/$$/stat); echo "$$ $1 $2"`)
	f := strings.Fields(r.stdout)
	if r.code != 0 || len(f) != 3 || f[0] != f[1] || f[0] != f[2] {
		t.Fatalf("want pid = session id = process group id, got %+v", r)
	}
}
