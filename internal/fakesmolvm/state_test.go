package fakesmolvm

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smolbottle/smolbottle/internal/fakesmolvm/guest"
)

// TestParallelCreate races invocations of the real binary on one state dir:
// the lock must let exactly one create of a name win and lose no record.
func TestParallelCreate(t *testing.T) {
	w := newFakeWorld(t)
	const n = 16
	var wg sync.WaitGroup
	results := make([]error, n)
	stderrs := make([]string, n)
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			var se bytes.Buffer
			c := w.cmd("machine", "create", "--name", "same")
			c.Stderr = &se
			results[i] = c.Run()
			stderrs[i] = se.String()
		}()
		go func() {
			defer wg.Done()
			w.cmd("machine", "create", "--name", fmt.Sprintf("m%02d", i)).Run()
		}()
	}
	wg.Wait()
	wins := 0
	for i, err := range results {
		switch {
		case err == nil:
			wins++
		case stderrs[i] != "Error: config operation failed: create machine: machine 'same' already exists or is being created\n":
			t.Errorf("losing create: %v, stderr %q", err, stderrs[i])
		}
	}
	if wins != 1 {
		t.Errorf("%d creates of one name succeeded, want exactly 1", wins)
	}
	out := w.run("machine", "ls")
	for i := range n {
		if !strings.Contains(out, fmt.Sprintf("\nm%02d ", i)) {
			t.Errorf("record m%02d lost; ls:\n%s", i, out)
		}
	}
	// The state file is whole JSON, and no temp file is left behind.
	st := &store{dir: resolvePaths(func(k string) string { return map[string]string{"HOME": w.home}[k] }).stateDir()}
	d, err := st.load()
	if err != nil || len(d.Machines) != n+1 {
		t.Fatalf("state: %v, %d records, want %d", err, len(d.Machines), n+1)
	}
	tmps, _ := filepath.Glob(filepath.Join(st.dir, ".tmp-*"))
	if len(tmps) > 0 {
		t.Errorf("temp files left: %v", tmps)
	}
}

// TestStopAll is the teardown safety net: machines left running under a
// directory are all stopped, with their guest processes.
func TestStopAll(t *testing.T) {
	w := newFakeWorld(t)
	for _, m := range []string{"a", "b"} {
		w.run("machine", "create", "--name", m)
		w.run("machine", "start", "--name", m)
	}
	// A guest process the host can find by its unique argument.
	mark := fmt.Sprintf("300.%d%d", os.Getpid(), time.Now().UnixNano()%1000)
	w.run("machine", "exec", "--name", "a", "-d", "--", "sleep", mark)
	p := resolvePaths(func(k string) string { return map[string]string{"HOME": w.home}[k] })
	var pids []int
	for _, m := range []string{"a", "b"} {
		pid, ok := guest.Alive(p.machineDir(m))
		if !ok {
			t.Fatalf("machine %s not alive after start", m)
		}
		pids = append(pids, pid)
	}
	// procs lists the host processes as "/proc/PID/cmdline: ARGS" lines
	// whose command line names the world's directory or the guest sleep.
	procs := func() []string {
		files, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		var out []string
		for _, f := range files {
			b, _ := os.ReadFile(f)
			if strings.Contains(string(b), w.home) || slices.Contains(strings.Split(string(b), "\x00"), mark) {
				out = append(out, fmt.Sprintf("%s: %q", f, b))
			}
		}
		return out
	}
	sawMark := false // the guest sleep runs before StopAll
	for deadline := time.Now().Add(10 * time.Second); !sawMark && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		sawMark = slices.ContainsFunc(procs(), func(l string) bool { return strings.Contains(l, mark) })
	}
	if !sawMark {
		t.Fatalf("guest sleep %s not found on the host", mark)
	}
	if n := StopAll(filepath.Dir(w.home)); n != 2 {
		t.Errorf("StopAll found %d running machines, want 2", n)
	}
	for i, m := range []string{"a", "b"} {
		if _, ok := guest.Alive(p.machineDir(m)); ok {
			t.Errorf("machine %s still alive", m)
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pids[i])); err == nil {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pids[i])); !strings.Contains(string(b), ") Z ") {
				t.Errorf("agent %d of %s still running", pids[i], m)
			}
		}
	}
	// Nothing whose command line names the world's directory, or the guest
	// sleep, survives.
	for _, l := range procs() {
		t.Errorf("process left: %s", l)
	}
}
