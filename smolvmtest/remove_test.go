package smolvmtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeRemovable: directories a guest locked (no write, or no access at
// all, nested) are opened up for their owner; files are left alone.
func TestMakeRemovable(t *testing.T) {
	dir := t.TempDir()
	locked := filepath.Join(dir, "a", "ro")
	inner := filepath.Join(locked, "none", "deep")
	if err := os.MkdirAll(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(locked, "f")
	if err := os.WriteFile(file, nil, 0o400); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{{inner, 0o500}, {filepath.Dir(inner), 0o000}, {locked, 0o555}} {
		if err := os.Chmod(c.path, c.mode); err != nil {
			t.Fatal(err)
		}
	}
	makeRemovable(dir)
	for path, want := range map[string]os.FileMode{
		locked: 0o755, filepath.Dir(inner): 0o700, inner: 0o700, file: 0o400,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", path, got, want)
		}
	}
}

// TestNotRegistered: without Main or Commands the test binary cannot serve
// as smolvm (it would run its tests instead), so Open refuses, saying how
// to fix it.
func TestNotRegistered(t *testing.T) {
	registered.Store(false)
	defer registered.Store(true)
	f, err := Open()
	if err == nil {
		f.Close()
		t.Fatal("Open succeeded without Main")
	}
	if !strings.Contains(err.Error(), "smolvmtest.Main(m)") {
		t.Errorf("error does not say how to fix it: %v", err)
	}
}
