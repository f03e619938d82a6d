package fakesmolvm

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smolbottle/smolbottle/internal/fakesmolvm/guest"
)

// The benchmarks run the built fake binary, as callers do, and report the
// median latency of one invocation (ms/median) next to the mean (ns/op).
// Targets on a 2-core machine: exec under 10 ms, start under 50 ms.
//
//	go test -run '^$' -bench . -benchtime 200x ./internal/fakesmolvm/

// fakeWorld is a built fake binary and a private HOME.
type fakeWorld struct {
	tb   testing.TB
	bin  string
	home string
}

func newFakeWorld(tb testing.TB) *fakeWorld {
	tb.Helper()
	dir := tb.TempDir()
	bin := filepath.Join(dir, "smolvm")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/smolbottle/smolbottle/cmd/fake-smolvm").CombinedOutput()
	if err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	w := &fakeWorld{tb: tb, bin: bin, home: filepath.Join(dir, "home")}
	tb.Cleanup(func() {
		if n := StopAll(dir); n > 0 {
			tb.Logf("stopped %d machine(s) left running", n)
		}
	})
	return w
}

func (w *fakeWorld) cmd(args ...string) *exec.Cmd {
	c := exec.Command(w.bin, args...)
	// The owner PID makes the machines end with this test binary, even
	// when it dies before its cleanups run.
	c.Env = []string{"HOME=" + w.home, "PATH=" + os.Getenv("PATH"), guest.OwnerPIDEnv + "=" + strconv.Itoa(os.Getpid())}
	c.Dir = filepath.Dir(w.home)
	return c
}

func (w *fakeWorld) run(args ...string) string {
	w.tb.Helper()
	var stdout, stderr bytes.Buffer
	c := w.cmd(args...)
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		w.tb.Fatalf("smolvm %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func reportMedian(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "ms/median")
}

func BenchmarkExecTrue(b *testing.B) {
	w := newFakeWorld(b)
	w.run("machine", "create", "--name", "bench")
	w.run("machine", "start", "--name", "bench")
	var d []time.Duration
	b.ResetTimer()
	for b.Loop() {
		t := time.Now()
		w.run("machine", "exec", "--name", "bench", "--", "true")
		d = append(d, time.Since(t))
	}
	b.StopTimer()
	reportMedian(b, d)
	w.run("machine", "stop", "--name", "bench")
}

func BenchmarkStart(b *testing.B) {
	w := newFakeWorld(b)
	w.run("machine", "create", "--name", "bench")
	var d []time.Duration
	b.ResetTimer()
	for b.Loop() {
		t := time.Now()
		w.run("machine", "start", "--name", "bench")
		d = append(d, time.Since(t))
		b.StopTimer()
		w.run("machine", "stop", "--name", "bench")
		b.StartTimer()
	}
	b.StopTimer()
	reportMedian(b, d)
}

func BenchmarkCp1MiB(b *testing.B) {
	w := newFakeWorld(b)
	w.run("machine", "create", "--name", "bench")
	w.run("machine", "start", "--name", "bench")
	src := filepath.Join(b.TempDir(), "blob")
	if err := os.WriteFile(src, bytes.Repeat([]byte("0123456789abcdef"), 1<<16), 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(1 << 20)
	var d []time.Duration
	b.ResetTimer()
	for b.Loop() {
		t := time.Now()
		w.run("machine", "cp", src, "bench:/root/blob")
		d = append(d, time.Since(t))
	}
	b.StopTimer()
	reportMedian(b, d)
	w.run("machine", "stop", "--name", "bench")
}
