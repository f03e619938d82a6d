// Package golden compares test output with golden files kept in the calling
// package's testdata directory. Run the tests with -update to rewrite them.
//
// Golden files store values, never diffs: a mismatch is reported as a go-cmp
// diff (-want +got) computed at test time.
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Update is the single -update switch of the module's tests. Golden files
// and testscript's UpdateScripts both follow it.
var Update = flag.Bool("update", false, "rewrite golden files and testscript scripts with the current output")

// Path returns the path of the golden file name under testdata.
func Path(name string) string {
	return filepath.Join("testdata", name+".golden")
}

// Check compares got with the golden file testdata/NAME.golden, rewriting it
// first when -update is set.
func Check(t testing.TB, name string, got []byte) {
	t.Helper()
	path := Path(name)
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatalf("golden: %v", err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("golden: %v", err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden: %v (run the test with -update to create it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("golden %s mismatch (-want +got):\n%s", path, cmp.Diff(string(want), string(got)))
	}
}
