package bottle

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The stub smolvm is this test binary, re-executed through a symlink named
// "smolvm" in a per-test directory that also holds its configuration, its
// record of calls and its machine state. It parses only what bottle sends.

func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "smolvm" {
		self := os.Args[0]
		if !strings.Contains(self, "/") { // run as "smolvm" from PATH
			var err error
			if self, err = exec.LookPath(self); err != nil {
				// Never fall back to the working directory: the stub's
				// record and state would land in the source tree.
				fmt.Fprintln(os.Stderr, "stub smolvm: cannot find its own directory:", err)
				os.Exit(2)
			}
		}
		os.Exit(stubMain(filepath.Dir(self), os.Args[1:]))
	}
	// Under -race every exiting binary sleeps 1s by default; the stub
	// exits a lot.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	os.Exit(m.Run())
}

// stubAction overrides what the stub does for one verb.
type stubAction struct {
	Exit           int
	Stdout, Stderr string
	// Partial applies the verb's state change even though the call then
	// fails or hangs (a half-done create or start).
	Partial bool
	// Hang blocks until killed, after writing the "hanging" file.
	Hang bool
	// Grandchild (with Hang) starts a sleep that holds stdout and stderr.
	Grandchild bool
	// Echo copies stdin to stdout, then writes "echoed" on stderr.
	Echo bool
}

type stubConfig struct {
	Actions   map[string]stubAction // by verb: create, start, stop, delete, exec, cp
	ProbeUser string                // answer to "id -un"; default root
}

// stubCall is one recorded invocation.
type stubCall struct {
	Argv []string
	// Env holds the values smolvm would copy for each "-e KEY".
	Env map[string]string
}

type stub struct {
	t    *testing.T
	dir  string
	prog string
}

func newStub(t *testing.T, cfg stubConfig) *stub {
	t.Helper()
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(dir, "smolvm")
	if err := os.Symlink(self, prog); err != nil {
		t.Fatal(err)
	}
	s := &stub{t: t, dir: dir, prog: prog}
	// Whatever happens in the test, no grandchild outlives it.
	t.Cleanup(func() {
		if b, err := os.ReadFile(filepath.Join(dir, "grandchild.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && alive(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	s.configure(cfg)
	for _, d := range []string{"machines", "labels"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (s *stub) configure(cfg stubConfig) {
	b, err := json.Marshal(cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "config.json"), b, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

func (s *stub) target(name string) Target { return Target{Program: s.prog, Name: name} }

// calls returns the recorded invocations, argv[0] replaced by "smolvm".
func (s *stub) calls() []stubCall {
	s.t.Helper()
	f, err := os.Open(filepath.Join(s.dir, "calls.jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	var out []stubCall
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c stubCall
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			s.t.Fatal(err)
		}
		c.Argv[0] = "smolvm"
		out = append(out, c)
	}
	return out
}

// verbs summarizes the calls as "verb" words (exec probes as "probe").
func (s *stub) verbs() []string {
	var out []string
	for _, c := range s.calls() {
		v := c.Argv[2]
		if v == "exec" && strings.Join(c.Argv[len(c.Argv)-2:], " ") == "id -un" {
			v = "probe"
		}
		out = append(out, v)
	}
	return out
}

// machines lists machines the stub holds, with their state.
func (s *stub) machines() map[string]string {
	s.t.Helper()
	entries, err := os.ReadDir(filepath.Join(s.dir, "machines"))
	if err != nil {
		s.t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(s.dir, "machines", e.Name()))
		out[e.Name()] = string(b)
	}
	return out
}

// assertNothingLeft checks that every created machine was deleted and that
// no process the stub started survives.
func (s *stub) assertNothingLeft() {
	s.t.Helper()
	if m := s.machines(); len(m) != 0 {
		s.t.Errorf("machines left behind: %v (calls: %v)", m, s.verbs())
	}
	s.assertNoProcesses()
}

// assertNoProcesses checks that the grandchild a hanging stub started, if
// any, is gone.
func (s *stub) assertNoProcesses() {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, "grandchild.pid"))
	if err != nil {
		return
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	waitFor(s.t, fmt.Sprintf("grandchild %d to die", pid), func() bool { return !alive(pid) })
}

// waitHanging blocks until the stub reports that it hangs.
func (s *stub) waitHanging() {
	waitFor(s.t, "the stub to hang", func() bool {
		_, err := os.Stat(filepath.Join(s.dir, "hanging"))
		return err == nil
	})
}

// waitFor polls cond; the bound only turns a hang into a failure.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// Field 3 is the state; a zombie is dead for our purpose.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// checkGoroutines fails if the goroutine count does not settle back to
// what it was when the test began.
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				n := runtime.Stack(buf, true)
				t.Errorf("goroutines: %d before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:n])
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// stubMain is the stub smolvm.
func stubMain(dir string, args []string) int {
	var cfg stubConfig
	if b, err := os.ReadFile(filepath.Join(dir, "config.json")); err == nil {
		_ = json.Unmarshal(b, &cfg)
	}
	rec := stubCall{Argv: append([]string{os.Args[0]}, args...), Env: map[string]string{}}
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--" {
			break
		}
		if args[i] == "-e" && !strings.Contains(args[i+1], "=") {
			rec.Env[args[i+1]] = os.Getenv(args[i+1])
		}
	}
	if b, err := json.Marshal(rec); err == nil {
		f, err := os.OpenFile(filepath.Join(dir, "calls.jsonl"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err == nil {
			_, _ = f.Write(append(b, '\n'))
			_ = f.Close()
		}
	}
	if len(args) < 2 || args[0] != "machine" {
		fmt.Fprintln(os.Stderr, "error: unrecognized subcommand")
		return 2
	}
	verb, name := args[1], "default"
	for i := 2; i+1 < len(args); i++ {
		if args[i] == "--" {
			break
		}
		if args[i] == "--name" {
			name = args[i+1]
		}
	}
	act, overridden := cfg.Actions[verb]
	if overridden {
		if act.Partial {
			_ = stubApply(dir, verb, name, args, cfg)
		}
		fmt.Print(act.Stdout)
		fmt.Fprint(os.Stderr, act.Stderr)
		if act.Echo {
			if _, err := io.Copy(os.Stdout, os.Stdin); err != nil {
				return 3
			}
			fmt.Fprintln(os.Stderr, "echoed")
		}
		if act.Hang {
			if act.Grandchild {
				cmd := exec.Command("sleep", "300")
				cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
				if err := cmd.Start(); err == nil {
					_ = os.WriteFile(filepath.Join(dir, "grandchild.pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
				}
			}
			_ = os.WriteFile(filepath.Join(dir, "hanging"), nil, 0o644)
			time.Sleep(time.Hour)
		}
		if act.Exit != 0 || act.Partial {
			return act.Exit
		}
	}
	return stubApply(dir, verb, name, args, cfg)
}

// stubApply is the stub's normal behaviour for a verb.
func stubApply(dir, verb, name string, args []string, cfg stubConfig) int {
	state := filepath.Join(dir, "machines", name)
	cur, err := os.ReadFile(state)
	exists := err == nil
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "Error: "+format+"\n", a...)
		return 1
	}
	switch verb {
	case "create":
		if exists {
			return fail("config operation failed: create machine: machine '%s' already exists or is being created", name)
		}
		_ = os.WriteFile(state, []byte("created"), 0o644)
		labels := map[string]string{}
		for i := 2; i+1 < len(args); i++ {
			if args[i] == "--label" {
				k, v, _ := strings.Cut(args[i+1], "=")
				labels[k] = v
			}
		}
		b, _ := json.Marshal(labels)
		_ = os.WriteFile(filepath.Join(dir, "labels", name), b, 0o644)
		fmt.Printf("Created machine: %s\n", name)
	case "start":
		if !exists {
			return fail("vm not found: %s", name)
		}
		_ = os.WriteFile(state, []byte("running"), 0o644)
		fmt.Printf("Machine '%s' running (PID: 1)\n", name)
	case "stop":
		if !exists {
			return fail("vm not found: %s", name)
		}
		if string(cur) == "running" {
			_ = os.WriteFile(state, []byte("stopped"), 0o644)
			fmt.Printf("Stopped machine: %s\n", name)
		}
	case "delete":
		if !exists {
			return fail("vm not found: %s", name)
		}
		_ = os.Remove(state)
		_ = os.Remove(filepath.Join(dir, "labels", name))
		fmt.Printf("Deleted machine: %s\n", name)
	case "exec":
		if !exists {
			return fail("vm not found: %s", name)
		}
		if string(cur) != "running" {
			return fail("agent operation failed: connect: machine '%s' is not running. Use 'smolvm machine start --name %s' first.", name, name)
		}
		if args[len(args)-2] == "id" && args[len(args)-1] == "-un" {
			u := cfg.ProbeUser
			if u == "" {
				u = "root"
			}
			fmt.Println(u)
		}
	case "ls":
		// machine ls --json: name, state and labels, as smolvm prints them.
		entries, _ := os.ReadDir(filepath.Join(dir, "machines"))
		out := []map[string]any{}
		for _, e := range entries {
			st, _ := os.ReadFile(filepath.Join(dir, "machines", e.Name()))
			labels := map[string]string{}
			if b, err := os.ReadFile(filepath.Join(dir, "labels", e.Name())); err == nil {
				_ = json.Unmarshal(b, &labels)
			}
			out = append(out, map[string]any{"name": e.Name(), "state": string(st), "labels": labels, "cpus": 4})
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Println(string(b))
	case "cp":
		pos := args[2:]
		for len(pos) > 2 && slices.Contains([]string{"--mode", "--uid", "--gid"}, pos[0]) {
			pos = pos[2:] // upload options: only recorded
		}
		src, dst := pos[0], pos[1]
		if m, p, ok := strings.Cut(src, ":"); ok {
			return stubCopy(dir, m, p, dst, false)
		}
		if m, p, ok := strings.Cut(dst, ":"); ok {
			return stubCopy(dir, m, p, src, true)
		}
		return fail("config operation failed: cp: one of SRC or DST must use machine:path syntax (e.g., myvm:/workspace/file)")
	}
	return 0
}

// stubCopy keeps guest files flat under dir/guest, named by their path.
func stubCopy(dir, machine, guestPath, local string, upload bool) int {
	if b, err := os.ReadFile(filepath.Join(dir, "machines", machine)); err != nil || string(b) != "running" {
		fmt.Fprintf(os.Stderr, "Error: vm not found: %s\n", machine)
		return 1
	}
	g := filepath.Join(dir, "guest", strings.ReplaceAll(guestPath, "/", "%"))
	_ = os.MkdirAll(filepath.Dir(g), 0o755)
	from, to := g, local
	if upload {
		from, to = local, g
	}
	b, err := os.ReadFile(from)
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: agent operation failed: read file: %v\n", err)
		return 1
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "Error: agent operation failed: write local file: %v\n", err)
		return 1
	}
	return 0
}

// guestFile reads what the stub holds at a guest path.
func (s *stub) guestFile(guestPath string) string {
	b, err := os.ReadFile(filepath.Join(s.dir, "guest", strings.ReplaceAll(guestPath, "/", "%")))
	if err != nil {
		s.t.Fatalf("guest file %s: %v", guestPath, err)
	}
	return string(b)
}
