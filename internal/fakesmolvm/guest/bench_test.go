//go:build linux

package guest

import (
	"fmt"
	"path/filepath"
	"testing"
)

// Latency of the guest layer alone (no CLI process): see the CLI's
// benchmarks for the end-to-end numbers through the built binary.

func BenchmarkExecTrue(b *testing.B) {
	d := filepath.Join(b.TempDir(), "vm")
	b.Cleanup(func() { StopAllUnder(d) })
	if _, err := Start(Config{Name: "bench", DataDir: d}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if code, err := Exec(d, ExecRequest{Argv: []string{"true"}}, Stdio{}); err != nil || code != 0 {
			b.Fatal(code, err)
		}
	}
}

func BenchmarkStartStop(b *testing.B) {
	d := filepath.Join(b.TempDir(), "vm")
	b.Cleanup(func() { StopAllUnder(d) })
	if _, err := Start(Config{Name: "bench", DataDir: d}); err != nil { // first start populates
		b.Fatal(err)
	}
	Stop(d)
	b.ResetTimer()
	for b.Loop() {
		if _, err := Start(Config{Name: "bench", DataDir: d}); err != nil {
			b.Fatal(err)
		}
		if err := Stop(d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFirstStart(b *testing.B) {
	base := b.TempDir()
	i := 0
	for b.Loop() {
		i++
		d := filepath.Join(base, fmt.Sprintf("vm%d", i))
		if _, err := Start(Config{Name: "bench", DataDir: d}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		Stop(d)
		b.StartTimer()
	}
	StopAllUnder(base)
}
