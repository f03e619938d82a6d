package golden

import (
	"os"
	"path/filepath"
	"testing"
)

// fakeTB records failures instead of failing the real test.
type fakeTB struct {
	testing.TB
	failed bool
	msg    string
}

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Errorf(format string, a ...any) { f.failed = true; f.msg = format }
func (f *fakeTB) Fatalf(format string, a ...any) { f.failed = true; f.msg = format }

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	t.Cleanup(func() { os.Chdir(wd) })
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}

	// Missing golden file: fails and says how to create it.
	tb := &fakeTB{TB: t}
	Check(tb, "x", []byte("hello\n"))
	if !tb.failed {
		t.Fatal("Check passed with no golden file")
	}

	// -update writes it.
	*Update = true
	Check(&fakeTB{TB: t}, "x", []byte("hello\n"))
	*Update = false
	data, err := os.ReadFile(filepath.Join(dir, "testdata", "x.golden"))
	if err != nil || string(data) != "hello\n" {
		t.Fatalf("update wrote %q, %v", data, err)
	}

	// Same value passes; a different one fails.
	tb = &fakeTB{TB: t}
	Check(tb, "x", []byte("hello\n"))
	if tb.failed {
		t.Fatal("Check failed on equal content")
	}
	tb = &fakeTB{TB: t}
	Check(tb, "x", []byte("hullo\n"))
	if !tb.failed {
		t.Fatal("Check passed on different content")
	}
}
