package fakesmolvm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Machine records live in one JSON file in the state dir. Writers take an
// exclusive flock on a lock file and replace the file atomically (temp file
// + rename), so readers never see a torn file and parallel invocations never
// lose an update. Lifecycle commands also hold a per-machine lock while they
// start or stop the guest, so that two starts of one machine do not race.

type mount struct {
	Host     string `json:"host"`
	Guest    string `json:"guest"`
	ReadOnly bool   `json:"ro,omitempty"`
}

type record struct {
	Name      string            `json:"name"`
	State     string            `json:"state"` // created, running, stopped
	CPUs      uint64            `json:"cpus"`
	MemoryMiB uint64            `json:"memory_mib"`
	StorageGB *uint64           `json:"storage_gb,omitempty"`
	OverlayGB *uint64           `json:"overlay_gb,omitempty"`
	Mounts    []mount           `json:"mounts,omitempty"`
	Ports     []portMap         `json:"ports,omitempty"` // -p, in order; also passed to the guest (Config.Ports)
	CreatedAt int64             `json:"created_at"`
	Image     string            `json:"image,omitempty"`
	Cmd       []string          `json:"cmd,omitempty"`
	Env       []string          `json:"env,omitempty"`
	Workdir   string            `json:"workdir,omitempty"`
	Init      []string          `json:"init,omitempty"`
	InitDone  bool              `json:"init_done,omitempty"`
	Pulled    bool              `json:"pulled,omitempty"` // the image was laid down by a first start
	Labels    map[string]string `json:"labels,omitempty"`
	Network   bool              `json:"network,omitempty"`
	Ephemeral bool              `json:"ephemeral,omitempty"` // a run without -d

	// Accepted and kept, with no effect in the fake.
	GPU         bool    `json:"gpu,omitempty"`
	GPUVRAMMiB  *uint64 `json:"gpu_vram_mib,omitempty"`
	CUDA        bool    `json:"cuda,omitempty"`
	NetBackend  string  `json:"net_backend,omitempty"`
	DNS         string  `json:"dns,omitempty"`
	OCIPlatform string  `json:"oci_platform,omitempty"`
}

// check refuses a record no command can act on: a hand-edited or damaged
// file must give one clear error, never a crash.
func (r *record) check(name string) error {
	switch {
	case r == nil:
		return errors.New("record is null")
	case r.Name != name:
		return fmt.Errorf("record is named '%s'", r.Name)
	case r.State != "created" && r.State != "running" && r.State != "stopped":
		return fmt.Errorf("unknown state '%s'", r.State)
	}
	return nil
}

type db struct {
	Machines map[string]*record `json:"machines"`
}

func (d *db) sorted() []*record {
	out := make([]*record, 0, len(d.Machines))
	for _, r := range d.Machines {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

type store struct{ dir string }

func (s *store) file() string { return filepath.Join(s.dir, "machines.json") }

// load reads a consistent snapshot without locking (writes are renames).
func (s *store) load() (*db, error) {
	d := &db{Machines: map[string]*record{}}
	b, err := os.ReadFile(s.file())
	if errors.Is(err, fs.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return nil, fmt.Errorf("io operation failed: read state: %w", err)
	}
	if err := json.Unmarshal(b, d); err != nil {
		return nil, fmt.Errorf("io operation failed: parse state %s: %w", s.file(), err)
	}
	if d.Machines == nil {
		d.Machines = map[string]*record{}
	}
	for name, r := range d.Machines {
		if err := r.check(name); err != nil {
			return nil, fmt.Errorf("io operation failed: parse state %s: machine '%s': %w", s.file(), name, err)
		}
	}
	return d, nil
}

func (s *store) get(name string) (*record, error) {
	d, err := s.load()
	if err != nil {
		return nil, err
	}
	return d.Machines[name], nil
}

// update runs fn on the current records under the state lock and saves them
// if fn returns nil.
func (s *store) update(fn func(*db) error) error {
	unlock, err := lockFile(filepath.Join(s.dir, "state.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	d, err := s.load()
	if err != nil {
		return err
	}
	if err := fn(d); err != nil {
		return err
	}
	b, err := marshalJSON(d, true)
	if err != nil {
		return err
	}
	return writeAtomic(s.file(), b)
}

// lockMachine serialises lifecycle operations on one machine.
func (s *store) lockMachine(name string) (func(), error) {
	return lockFile(s.machineLockPath(name))
}

func (s *store) machineLockPath(name string) string {
	sum := sha256.Sum256([]byte(name))
	return filepath.Join(s.dir, "locks", hex.EncodeToString(sum[:8])+".lock")
}

// ownerLockPath is held by a `machine run` for as long as it lives.
func (s *store) ownerLockPath(name string) string {
	return strings.TrimSuffix(s.machineLockPath(name), ".lock") + ".run"
}

// tryLockFile takes an exclusive flock if nobody holds it, creating the
// file and its directory.
func tryLockFile(path string) (func(), bool) {
	_ = os.MkdirAll(filepath.Dir(path), 0o755)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, false
	}
	return func() { f.Close() }, true
}

// lockFile takes an exclusive flock, creating the file and its directory.
func lockFile(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("io operation failed: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("io operation failed: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("io operation failed: lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// writeAtomic replaces path with b: readers see the old or the new file.
func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("io operation failed: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("io operation failed: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("io operation failed: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("io operation failed: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("io operation failed: %w", err)
	}
	return nil
}
