package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The summary is what a reader of a long run looks at: failures, then skips
// with their reasons, then exactly one count line, last.
func TestReport(t *testing.T) {
	r := &recorder{}
	r.result("bare/a", "pass")
	r.result("image/a", "pass")
	r.result("bare/b", "fail")
	r.skipped("image/c", "no image for the image model")
	r.skipped("bare/c", "") // a script that skipped itself without a reason
	var b strings.Builder
	r.report(&b)
	want := "conformance: failed bare/b\n" +
		"conformance: skipped bare/c: (no reason given)\n" +
		"conformance: skipped image/c: no image for the image model\n" +
		"conformance: 2 passed, 1 failed, 2 skipped\n"
	if b.String() != want {
		t.Fatalf("report:\n%s\nwant:\n%s", b.String(), want)
	}
}

// The first reason given for a skip is kept: the subtest's own Skip call
// records the script's reason before the generic cleanup sees Skipped().
func TestSkipKeepsFirstReason(t *testing.T) {
	r := &recorder{}
	r.skipped("bare/x", "needs fault injection")
	r.skipped("bare/x", "")
	if got := r.reasons["bare/x"]; got != "needs fault injection" {
		t.Fatalf("reason = %q", got)
	}
}

func TestModelAllowed(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"both.txtar":  "# no models line\nexec true\n-- f --\n# models: bare\n",
		"bare.txtar":  "# what it does\n# models: bare\nexec true\n",
		"image.txtar": "# models: image other\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		file, model string
		want        bool
		reason      string
	}{
		{"both.txtar", "bare", true, "no models line means every model"},
		{"both.txtar", "image", true, "a models line inside an archive file does not count"},
		{"bare.txtar", "bare", true, "listed"},
		{"bare.txtar", "image", false, "not listed"},
		{"image.txtar", "image", true, "listed among several"},
		{"image.txtar", "bare", false, "not listed among several"},
	} {
		if got := modelAllowed(filepath.Join(dir, tc.file), tc.model); got != tc.want {
			t.Errorf("modelAllowed(%s, %s) = %v, want %v: %s", tc.file, tc.model, got, tc.want, tc.reason)
		}
	}
}

// The suite's own runs read the scripts from testdata (so failures point
// at conformance/testdata/NAME.txtar); other modules get the embedded copy.
// Both must be the same scripts.
func TestEmbeddedScriptsAreTestdata(t *testing.T) {
	dir := t.TempDir()
	if err := writeScripts(dir); err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.Glob("testdata/*.txtar")
	got, _ := filepath.Glob(filepath.Join(dir, "*.txtar"))
	if len(want) == 0 || len(got) != len(want) {
		t.Fatalf("embedded %d scripts, testdata has %d", len(got), len(want))
	}
	for _, w := range want {
		a, _ := os.ReadFile(w)
		b, err := os.ReadFile(filepath.Join(dir, filepath.Base(w)))
		if err != nil || string(a) != string(b) {
			t.Errorf("%s: embedded copy differs or is missing (%v)", w, err)
		}
	}
}
