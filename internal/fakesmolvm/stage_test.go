package fakesmolvm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStageFileMemo: a staged archive file's hash is remembered while the
// file stays as it was, so a store archive is not read again on every
// create and start; any change to the file (content, even of the same
// size, or a touch) makes it read anew.
func TestStageFileMemo(t *testing.T) {
	home := t.TempDir()
	c := &cli{getenv: func(string) string { return "" }, paths: paths{cache: filepath.Join(home, "cache", "smolvm")}}
	p := filepath.Join(home, "app.tar")
	if err := os.WriteFile(p, []byte("first archive"), 0o644); err != nil {
		t.Fatal(err)
	}
	h1, err := c.stageFile(p, p)
	if err != nil || len(h1) != 64 || !c.isStaged(h1) {
		t.Fatalf("stage: %q %v", h1, err)
	}
	raw, err := os.ReadFile(c.stageMemo(p))
	if err != nil || !strings.HasSuffix(string(raw), "\n"+h1+"\n") {
		t.Fatalf("memo: %q %v", raw, err)
	}

	// The memo is trusted while the file is unchanged: point it at
	// another staged hash and that is what staging answers.
	fake := strings.Repeat("a", 64)
	if err := c.placeStaged(fake, func(staged string) error { return os.WriteFile(staged, nil, 0o644) }); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	writeStageMemo(c.stageMemo(p), fi, fake)
	if h, err := c.stageFile(p, p); err != nil || h != fake {
		t.Errorf("unchanged file: %q %v, want the remembered %q", h, err, fake)
	}

	// Changed content of the same size: read again.
	time.Sleep(10 * time.Millisecond)
	if err := os.WriteFile(p, []byte("other archive"), 0o644); err != nil {
		t.Fatal(err)
	}
	h2, err := c.stageFile(p, p)
	if err != nil || h2 == fake || h2 == h1 {
		t.Errorf("rewritten file: %q %v, want a new hash", h2, err)
	}
	// A memo whose hash is no longer staged is not trusted.
	fi, _ = os.Stat(p)
	writeStageMemo(c.stageMemo(p), fi, strings.Repeat("b", 64))
	if h, err := c.stageFile(p, p); err != nil || h != h2 {
		t.Errorf("memo of an unstaged hash: %q %v, want %q", h, err, h2)
	}
}
