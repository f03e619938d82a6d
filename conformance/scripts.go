package conformance

import (
	"bufio"
	"embed"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

//go:embed testdata/*.txtar
var scripts embed.FS

// removeAll removes dir, first making every directory in it writable (a
// guest may leave read-only directories behind).
func removeAll(dir string) {
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(path, 0o700)
		}
		return nil
	})
	os.RemoveAll(dir)
}

// writeScripts writes the embedded scripts to dir.
func writeScripts(dir string) error {
	return fs.WalkDir(scripts, "testdata", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := scripts.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, filepath.Base(path)), data, 0o644)
	})
}

func scriptName(file string) string {
	return strings.TrimSuffix(filepath.Base(file), ".txtar")
}

// modelAllowed reads the script's "# models: ..." line, if any.
func modelAllowed(file, model string) bool {
	f, err := os.Open(file)
	if err != nil {
		return true
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "-- ") {
			break
		}
		if rest, ok := strings.CutPrefix(line, "# models:"); ok {
			for _, m := range strings.Fields(rest) {
				if m == model {
					return true
				}
			}
			return false
		}
	}
	return true
}
