package ptybridge

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/smolbottle/smolbottle/internal/ptytest"
)

// The benchmarks compare the bridge with the least a terminal program can
// do: a command on a plain PTY whose master is copied with io.Copy. `make
// bench` prints the ratios.

const benchBytes = 32 << 20

func benchFile(b *testing.B) string {
	b.Helper()
	f := filepath.Join(b.TempDir(), "data")
	data := make([]byte, benchBytes)
	for i := range data {
		data[i] = byte(i*7 + i>>9)
	}
	if err := os.WriteFile(f, data, 0o600); err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkThroughput/plain: `cat FILE` on a PTY, master copied to
// io.Discard. /bridge: the same command behind the bridge, whose user
// terminal is itself a PTY; output copied to io.Discard.
func BenchmarkThroughput(b *testing.B) {
	script := "stty raw -echo && cat "
	b.Run("plain", func(b *testing.B) {
		file := benchFile(b)
		b.SetBytes(benchBytes)
		b.ResetTimer()
		for range b.N {
			cmd := exec.Command("sh", "-c", script+file)
			ptmx, err := pty.Start(cmd)
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, ptmx) // ends with EIO once cat is gone
			_ = cmd.Wait()
			ptmx.Close()
			if n != benchBytes {
				b.Fatalf("copied %d bytes, want %d", n, benchBytes)
			}
		}
	})
	b.Run("bridge", func(b *testing.B) {
		file := benchFile(b)
		term, err := ptytest.Open(24, 80)
		if err != nil {
			b.Fatal(err)
		}
		defer term.Close()
		b.SetBytes(benchBytes)
		b.ResetTimer()
		for range b.N {
			cw := &countingWriter{}
			code, err := Run(exec.Command("sh", "-c", script+file), Options{Stdin: term.Slave(), Stdout: cw, Signals: make(chan os.Signal)})
			if err != nil || code != 0 {
				b.Fatalf("Run = %d, %v", code, err)
			}
			if cw.n != benchBytes {
				b.Fatalf("copied %d bytes, want %d", cw.n, benchBytes)
			}
		}
	})
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// BenchmarkKeystroke measures one key's round trip: typed on the user's
// terminal, echoed by `cat` on a raw terminal, read back. /plain: cat on a
// PTY, the key written to and read from its master. /bridge: cat behind
// the bridge, the key written to and read from the user terminal.
func BenchmarkKeystroke(b *testing.B) {
	roundTrip := func(b *testing.B, w io.Writer, r io.Reader) {
		b.Helper()
		// Wait until cat echoes, i.e. the terminal is raw and cat runs.
		key, buf := []byte{'k'}, make([]byte, 1)
		for range 2 {
			if _, err := w.Write(key); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(r, buf); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		for range b.N {
			if _, err := w.Write(key); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(r, buf); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
	}
	// The first key may arrive before `stty raw -echo` ran: keep typing
	// until echoes come back one for one.
	script := "stty raw -echo && printf . && exec cat"
	b.Run("plain", func(b *testing.B) {
		cmd := exec.Command("sh", "-c", script)
		ptmx, err := pty.Start(cmd)
		if err != nil {
			b.Fatal(err)
		}
		defer func() { ptmx.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		readDot(b, ptmx)
		roundTrip(b, ptmx, ptmx)
	})
	b.Run("bridge", func(b *testing.B) {
		// The user's terminal, raw on our side too so bytes pass as is.
		um, us, err := pty.Open()
		if err != nil {
			b.Fatal(err)
		}
		defer um.Close()
		defer us.Close()
		sigs := make(chan os.Signal, 1)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = Run(exec.Command("sh", "-c", script), Options{Stdin: us, Stdout: us, Signals: sigs})
		}()
		readDot(b, um)
		roundTrip(b, um, um)
		sigs <- unix.SIGKILL
		<-done
	})
}

func readDot(b *testing.B, r io.Reader) {
	b.Helper()
	buf := make([]byte, 1)
	for {
		if _, err := r.Read(buf); err != nil {
			b.Fatal(err)
		}
		if buf[0] == '.' {
			return
		}
	}
}
