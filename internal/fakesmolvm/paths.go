package fakesmolvm

import (
	"crypto/sha256"
	"encoding/hex"
	"os/user"
	"path/filepath"
)

// paths are the directories smolvm derives from the environment
// (docs/smolvm.md, State and data dirs): the cache dir holds machine data
// dirs, the local data dir holds the database, here the fake's state.
type paths struct {
	cache string // <cache dir>/smolvm
	data  string // <local data dir>/smolvm
}

// resolvePaths follows the dirs crate on Linux: XDG_* only when absolute,
// else under HOME. SMOLVM_DATA_DIR=D moves HOME to D and clears XDG_*.
func resolvePaths(getenv func(string) string) paths {
	home := getenv("HOME")
	xdgCache := getenv("XDG_CACHE_HOME")
	xdgData := getenv("XDG_DATA_HOME")
	if d := getenv("SMOLVM_DATA_DIR"); d != "" {
		home, xdgCache, xdgData = d, "", ""
	}
	if home == "" {
		if u, err := user.Current(); err == nil {
			home = u.HomeDir
		}
	}
	cache := filepath.Join(home, ".cache")
	if filepath.IsAbs(xdgCache) {
		cache = xdgCache
	}
	data := filepath.Join(home, ".local", "share")
	if filepath.IsAbs(xdgData) {
		data = xdgData
	}
	return paths{cache: filepath.Join(cache, "smolvm"), data: filepath.Join(data, "smolvm")}
}

// machineDir is a machine's data dir: <cache>/smolvm/vms/<first 16 hex of sha256(name)>.
func (p paths) machineDir(name string) string {
	sum := sha256.Sum256([]byte(name))
	return filepath.Join(p.cache, "vms", hex.EncodeToString(sum[:])[:16])
}

// stateDir holds the fake's records, locks, invocation log and fault counters.
func (p paths) stateDir() string { return filepath.Join(p.data, "fake") }
