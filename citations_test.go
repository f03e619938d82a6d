package smolbottle_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The repository documents itself: code, scripts and docs cite
// docs/smolvm.md and docs/original.md, never a document kept outside the
// repository. outsideCitation matches the ways such a citation has been
// written: the name of the external smolvm description, a path into a
// sibling "shared" directory, the old name of the Python original, and
// numbered sections (a section sign and a number) that only that external
// description had. The words are split so this file does not match itself.
var outsideCitation = regexp.MustCompile(`(?i)` + regexp.QuoteMeta("smolvm-"+"cli.md") +
	`|` + regexp.QuoteMeta("../"+"shared/") +
	`|\bthe ` + `seed\b` +
	`|` + regexp.QuoteMeta("smolmachines_"+"bottle.py") +
	"|\u00a7" + `\s*\d`)

// skipDirs are never part of the repository's text: git's own directory
// and the build output (.gitignore).
var skipDirs = []string{".git", "bin"}

// findOutsideCitations walks root and returns "PATH:LINE: TEXT" for every
// line that cites a document outside the repository.
func findOutsideCitations(root string) ([]string, error) {
	var found []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && slices.Contains(skipDirs, d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range bytes.Split(data, []byte("\n")) {
			if outsideCitation.Match(line) {
				rel, _ := filepath.Rel(root, path)
				found = append(found, fmt.Sprintf("%s:%d: %s", rel, i+1, bytes.TrimSpace(line)))
			}
		}
		return nil
	})
	return found, err
}

// TestNoOutsideCitations fails when any file of the repository cites a
// document outside it; cite a heading of docs/smolvm.md or docs/original.md
// instead, or say the thing itself.
func TestNoOutsideCitations(t *testing.T) {
	found, err := findOutsideCitations(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Errorf("cites a document outside the repository (cite docs/smolvm.md or docs/original.md): %s", f)
	}
}

// TestFindOutsideCitations checks the checker itself on planted files, so
// TestNoOutsideCitations cannot pass by finding nothing anywhere.
func TestFindOutsideCitations(t *testing.T) {
	tests := []struct {
		name, text string
		want       bool
		reason     string
	}{
		{"cli-doc", "// parser (smolvm-" + "cli.md 1.2)\n", true, "the external smolvm description by name"},
		{"shared-path", "see ../" + "shared/DESIGN.md\n", true, "a path into the sibling shared directory"},
		{"seed", "# prints The " + "seed's argv\n", true, "the old name of the original, any case"},
		{"seed-file", "x\n(seed/smolmachines_" + "bottle.py.txt)\n", true, "the original's file name, on a later line"},
		{"section", "// exec (" + "\u00a7" + "11.2)\n", true, "a numbered section of the external description"},
		{"own-docs", "// exec (docs/smolvm.md, exec: environment)\n", false, "the repository's own reference"},
		{"random-seed", "// generated inputs (fixed seed, 1000 runs)\nseeds := 3\n", false, "a random seed is no citation"},
		{"shared", "// shared with the original\n", false, "the word shared alone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "pkg", "testdata")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "f.txt"), []byte(tt.text), 0o644); err != nil {
				t.Fatal(err)
			}
			// The same text in a skipped directory is never reported.
			for _, skip := range skipDirs {
				if err := os.MkdirAll(filepath.Join(root, skip), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(root, skip, "f.txt"), []byte(tt.text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			found, err := findOutsideCitations(root)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			if tt.want {
				want = []string{"pkg/testdata/f.txt"}
			}
			var got []string
			for _, f := range found {
				file, _, _ := strings.Cut(f, ":")
				got = append(got, file)
			}
			if !slices.Equal(got, want) {
				t.Errorf("found %q in %q, want files %q (%s)", found, tt.text, want, tt.reason)
			}
		})
	}
}
