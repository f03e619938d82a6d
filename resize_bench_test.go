package smolbottle_test

import (
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/smolbottle/smolbottle/internal/ptytest"
	"github.com/smolbottle/smolbottle/smolvmtest"
)

// BenchmarkResizeToGuest measures how long a window resize takes to reach
// the guest: from the resize of the user's terminal to the guest program
// printing the new size, through `bottle pty-resize` and fake-smolvm.
// Reports p50-ms and p99-ms. forward: the fake forwards each SIGWINCH at
// once (the real smolvm notices it at its I/O loop's next wake-up, at most
// 100 ms later, which this does not measure). exec: the fake does not
// forward, BOTTLE_RESIZE=exec pushes each size with a side-channel exec.
// Run with -benchtime=Nx.
func BenchmarkResizeToGuest(b *testing.B) {
	if _, err := exec.LookPath("perl"); err != nil {
		b.Skip("perl is not installed")
	}
	for _, mode := range []string{"forward", "exec"} {
		b.Run(mode, func(b *testing.B) { benchResize(b, mode) })
	}
}

func benchResize(b *testing.B, mode string) {
	f := smolvmtest.New(b)
	env := append(f.Env, "BOTTLE_RESIZE="+mode)
	if mode == "exec" {
		if err := f.SetFaults(smolvmtest.Rule{Command: "exec", NoResizeForwarding: true}); err != nil {
			b.Fatal(err)
		}
	}
	name := "bench-" + mode
	for _, verb := range []string{"create", "start"} {
		if out, err := f.Command("machine", verb, "--name", name).CombinedOutput(); err != nil {
			b.Fatalf("smolvm machine %s: %v: %s", verb, err, out)
		}
	}

	term, err := ptytest.Open(30, 100)
	if err != nil {
		b.Fatal(err)
	}
	defer term.Close()
	cmd := exec.Command("bottle", "pty-resize", name, "--",
		"smolvm", "machine", "exec", "--name", name, "-i", "-t", "--", "perl", "-e", ptytest.SizeWatcher)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = term.Slave(), term.Slave(), term.Slave()
	cmd.SysProcAttr = ptySysProcAttr()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	term.CloseSlave()
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if _, err := term.WaitFor(regexp.MustCompile(`size=30 100\.`), time.Minute); err != nil {
		b.Fatal(err)
	}

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		rows, cols := 31+i%2, 101+i%2 // always a change
		t0 := time.Now()
		if err := term.Resize(rows, cols); err != nil {
			b.Fatal(err)
		}
		if _, err := term.WaitFor(regexp.MustCompile(fmt.Sprintf(`size=%d %d\.`, rows, cols)), time.Minute); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
