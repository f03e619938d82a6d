package fakesmolvm

import (
	"io/fs"
	"path/filepath"

	"github.com/smolbottle/smolbottle/internal/fakesmolvm/guest"
)

// StopAll stops every fake machine whose data dir lies under root (found by
// its agent.pid file) and returns how many it found. Test harnesses call it
// on teardown so that no agent or guest process outlives a test, also when
// the test failed midway.
func StopAll(root string) int {
	var dirs []string
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && filepath.Base(filepath.Dir(path)) == "vms" {
			// A machine data dir: do not descend into the guest tree.
			dirs = append(dirs, path)
			return filepath.SkipDir
		}
		if !d.IsDir() && d.Name() == "agent.pid" {
			dirs = append(dirs, filepath.Dir(path))
		}
		return nil
	})
	// Agents whose pid file is gone are found from the process table.
	defer guest.StopAllUnder(root)
	n := 0
	for _, d := range dirs {
		if _, ok := guest.Alive(d); ok {
			n++
		}
		_ = guest.Stop(d)
	}
	return n
}
