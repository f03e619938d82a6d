package smolbottle_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// The repository documents itself: code, scripts and docs cite the
// headings of docs/smolvm.md and docs/original.md; they never cite a
// document kept outside the repository. outsideCitation matches the ways such a citation has been
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
	err := eachLine(root, func(rel string, n int, line string) {
		if outsideCitation.MatchString(line) {
			found = append(found, fmt.Sprintf("%s:%d: %s", rel, n, strings.TrimSpace(line)))
		}
	})
	return found, err
}

// eachLine calls fn with every line (numbered from 1) of every regular
// file under root, but for skipDirs; rel is the file's path from root.
func eachLine(root string, fn func(rel string, n int, line string)) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
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
		rel, _ := filepath.Rel(root, path)
		for i, line := range strings.Split(string(data), "\n") {
			fn(rel, i+1, line)
		}
		return nil
	})
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

// ownDocs are the references code cites by heading ("docs/smolvm.md,
// exec: buffered") and links to by anchor ("smolvm.md#exec-buffered").
var ownDocs = []string{"docs/smolvm.md", "docs/original.md"}

// headings returns the markdown headings of doc, without the leading #s.
func headings(doc []byte) []string {
	var hs []string
	inFence := false
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		if h := strings.TrimSpace(strings.TrimLeft(line, "#")); h != "" {
			hs = append(hs, h)
		}
	}
	return hs
}

// anchor is the fragment GitHub gives a heading: lower case, everything
// but letters, digits, spaces, '-' and '_' dropped, spaces made '-'.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// plain drops the quoting a citation or a heading may carry.
func plain(s string) string { return strings.NewReplacer("`", "", "'", "", `"`, "").Replace(s) }

var (
	// headingCitation is "docs/NAME.md, " and the rest of the line.
	headingCitation = regexp.MustCompile(`docs/(smolvm|original)\.md, (.*)$`)
	// anchorLink is a markdown link to one of the docs, with a fragment.
	anchorLink = regexp.MustCompile(`\]\(((?:docs/)?(?:smolvm|original)\.md)?#([^)]*)\)`)
)

// checkCitation reports whether rest, the text after "docs/NAME.md, ",
// starts with one of hs. A heading must be followed by the end of the
// citation, not by ':' (which would name a sub-heading that does not
// exist). A citation cut by the end of a line (a wrapped comment) only
// has to be the start of a heading. Case does not matter: prose may say
// "docs/smolvm.md, machine names".
func checkCitation(hs []string, rest string) bool {
	rest = strings.ToLower(plain(strings.TrimSpace(rest)))
	if rest == "" {
		return true // wrapped right after the comma
	}
	best := ""
	for _, h := range hs {
		h = strings.ToLower(plain(h))
		if strings.HasPrefix(h, rest) {
			return true // wrapped inside the heading
		}
		if strings.HasPrefix(rest, h) && len(h) > len(best) {
			next, _ := utf8.DecodeRuneInString(rest[len(h):])
			if !unicode.IsLetter(next) && !unicode.IsDigit(next) && next != ':' {
				best = h
			}
		}
	}
	return best != ""
}

// findBrokenDocRefs walks root and returns "PATH:LINE: TEXT" for every
// citation of a heading, or link to an anchor, of ownDocs that does not
// exist.
func findBrokenDocRefs(root string) ([]string, error) {
	hs := map[string][]string{}
	anchors := map[string]map[string]bool{}
	for _, d := range ownDocs {
		data, err := os.ReadFile(filepath.Join(root, d))
		if err != nil {
			return nil, err
		}
		name := strings.TrimSuffix(filepath.Base(d), ".md")
		hs[name] = headings(data)
		anchors[d] = map[string]bool{}
		for _, h := range hs[name] {
			anchors[d][anchor(h)] = true
		}
	}
	var found []string
	err := eachLine(root, func(rel string, n int, line string) {
		bad := false
		if m := headingCitation.FindStringSubmatch(line); m != nil && !checkCitation(hs[m[1]], m[2]) {
			bad = true
		}
		for _, m := range anchorLink.FindAllStringSubmatch(line, -1) {
			target := m[1]
			switch {
			case target == "" && slices.Contains(ownDocs, filepath.ToSlash(rel)):
				target = filepath.ToSlash(rel)
			case target == "":
				continue // a fragment of some other page
			case !strings.HasPrefix(target, "docs/"):
				target = "docs/" + target
			}
			if !anchors[target][m[2]] {
				bad = true
			}
		}
		if bad {
			found = append(found, fmt.Sprintf("%s:%d: %s", rel, n, strings.TrimSpace(line)))
		}
	})
	return found, err
}

// TestDocReferencesResolve fails when a comment cites a heading of
// docs/smolvm.md or docs/original.md that does not exist, or a link points
// at a missing anchor: the headings are stable names, and renaming one
// means re-pointing what cites it.
func TestDocReferencesResolve(t *testing.T) {
	found, err := findBrokenDocRefs(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Errorf("cites a heading or anchor the docs do not have: %s", f)
	}
}

// TestFindBrokenDocRefs checks the checker on planted docs and citations,
// so TestDocReferencesResolve cannot pass by checking nothing.
func TestFindBrokenDocRefs(t *testing.T) {
	docs := map[string]string{
		"docs/smolvm.md":   "# smolvm\n\n## exec\n\n### exec: buffered\n\n```\n# not a heading\n```\n\n### cp: the `:` rule\n",
		"docs/original.md": "# original\n\n### Secrets never in argv\n",
	}
	tests := []struct {
		name, file, text string
		bad              bool
		reason           string
	}{
		{"heading", "a.go", "// x (DOCS/smolvm.md, exec: buffered).", false, "a sub-heading, closed"},
		{"top-heading", "a.go", "// x (DOCS/smolvm.md, exec) y", false, "a heading"},
		{"then-words", "a.go", "// (DOCS/smolvm.md, exec, step 3)", false, "a heading, then more words"},
		{"quoted", "a.go", "// (DOCS/smolvm.md, cp: the ':' rule)", false, "quotes are not part of the name"},
		{"lower-case", "a.go", `// (DOCS/smolvm.md, "exec: Buffered")`, false, "case is not part of the name"},
		{"original", "a.txtar", "# (DOCS/original.md, Secrets never in argv)", false, "the other doc"},
		{"wrapped", "a.go", "// see DOCS/smolvm.md, exec:", false, "a citation cut by the end of the line"},
		{"typo", "a.go", "// (DOCS/smolvm.md, exec: bufered)", true, "no such sub-heading"},
		{"missing", "a.go", "// (DOCS/smolvm.md, nosuch)", true, "no such heading"},
		{"wrong-doc", "a.go", "// (DOCS/original.md, exec)", true, "a heading of the other doc"},
		{"fence", "a.go", "// (DOCS/smolvm.md, not a heading)", true, "a line in a code block is no heading"},
		{"link", "README.md", "[x](DOCS/smolvm.md#exec-buffered)", false, "an anchor that exists"},
		{"link-colon", "docs/original.md", "[x](~smolvm.md#cp-the--rule)", false, "GitHub's anchor for a heading with code"},
		{"link-typo", "README.md", "[x](DOCS/smolvm.md#exec-bufered)", true, "a missing anchor"},
		{"own-anchor", "docs/smolvm.md", "[x](#exec)", false, "an anchor of the same page"},
		{"own-anchor-missing", "docs/smolvm.md", "[x](#nope)", true, "a missing anchor of the same page"},
		{"other-page", "README.md", "[x](#nope)", false, "a fragment of another page is not checked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			files := map[string]string{}
			for k, v := range docs {
				files[k] = v
			}
			// "DOCS/" and "(~" in the table keep this file from citing the
			// real docs itself.
			files[tt.file] += "\n" + strings.NewReplacer("DOCS/", "docs/", "(~", "(").Replace(tt.text) + "\n"
			for name, text := range files {
				p := filepath.Join(root, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			found, err := findBrokenDocRefs(root)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			if tt.bad {
				want = []string{tt.file}
			}
			var got []string
			for _, f := range found {
				file, _, _ := strings.Cut(f, ":")
				got = append(got, filepath.ToSlash(file))
			}
			if !slices.Equal(got, want) {
				t.Errorf("found %q for %q in %s, want files %q (%s)", found, tt.text, tt.file, want, tt.reason)
			}
		})
	}
}
