package smolvmtest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/smolbottle/smolbottle/internal/fakesmolvm"
	"github.com/smolbottle/smolbottle/internal/fakesmolvm/guest"
)

// programName is the name the test binary answers to as the fake: the
// fake's Path ends in it, and the guest runs the bound fake under it too.
const programName = "smolvm"

// registered is set once Main or Commands has made this test binary able
// to serve as smolvm.
var registered atomic.Bool

// Main is for TestMain: when the test binary is run as smolvm (a Fake's
// Path), it is the fake, and Main runs it and exits; otherwise Main runs
// the tests and exits with their status. No fake binary is built or
// installed: the test binary is the fake.
//
//	func TestMain(m *testing.M) { smolvmtest.Main(m) }
func Main(m *testing.M) {
	if filepath.Base(os.Args[0]) == programName {
		os.Exit(fakesmolvm.Main())
	}
	registered.Store(true)
	os.Exit(m.Run())
}

// Commands is for a TestMain that already hands the test binary to
// testscript.Main: it returns cmds plus "smolvm" run by the fake (a script's
// `exec smolvm` runs it), and makes New work in this test binary as Main
// does.
//
//	func TestMain(m *testing.M) {
//		testscript.Main(m, smolvmtest.Commands(map[string]func(){"mytool": mytool.Main}))
//	}
func Commands(cmds map[string]func()) map[string]func() {
	out := make(map[string]func(), len(cmds)+1)
	for k, v := range cmds {
		out[k] = v
	}
	out[programName] = func() { os.Exit(fakesmolvm.Main()) }
	registered.Store(true)
	return out
}

// A Fake is one private fake smolvm: its own machines, image store,
// invocation log and fault rules, in a directory of its own. Run it
// through Path with Env (Command does both). Machines of one Fake are
// invisible to every other.
type Fake struct {
	// Path is the program to run as smolvm. Its base name is "smolvm".
	Path string
	// Env is the environment to run Path with: this process's environment
	// with Path's directory first on PATH (so code that runs "smolvm" from
	// PATH finds the fake) and the fake's own state, images and fault
	// rules. The fake's machines end with this test process, also when it
	// dies.
	Env []string

	dir       string // the fake's root: bin/, data/, images/, scenario.json
	removeDir bool   // Close removes dir (Open); New leaves it to t.TempDir
	mu        sync.Mutex
	closed    bool
	faultSets int // SetFaults calls so far
}

// The fake's environment variables. Env sets them and drops every other
// SMOLVM_* and FAKE_SMOLVM_* variable of the host, and SMOLVM (a common
// way to name the smolvm program), so that nothing of a developer's shell
// reaches a real smolvm or another fake's state.
const (
	envDataDir  = "SMOLVM_DATA_DIR"
	envImages   = "FAKE_SMOLVM_IMAGES"
	envScenario = "FAKE_SMOLVM_SCENARIO"
)

var errNotRegistered = errors.New("smolvmtest: this test binary cannot serve as smolvm: call smolvmtest.Main(m) from TestMain (or register smolvmtest.Commands with testscript.Main)")

// New returns a fake for the test, torn down with it: when the test and
// its subtests end, every machine the fake started is stopped, with every
// process of its guests, also when the test failed or panicked midway.
// It fails the test when the test binary cannot serve as smolvm (see Main)
// or the host cannot hold the fake's state.
func New(t testing.TB) *Fake {
	t.Helper()
	if !registered.Load() {
		t.Fatal(errNotRegistered)
	}
	f, err := newFake(t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	})
	return f
}

// Open is New for code without a testing.TB (an Example, a fake shared by
// several tests): the fake lives in a new temporary directory until Close,
// which its user must call.
func Open() (*Fake, error) {
	if !registered.Load() {
		return nil, errNotRegistered
	}
	dir, err := os.MkdirTemp("", "smolvmtest-")
	if err != nil {
		return nil, fmt.Errorf("smolvmtest: %w", err)
	}
	f, err := newFake(dir, true)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return f, nil
}

func newFake(dir string, removeDir bool) (*Fake, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("smolvmtest: the test binary: %w", err)
	}
	f := &Fake{dir: dir, removeDir: removeDir}
	bin := filepath.Join(dir, "bin")
	for _, d := range []string{bin, f.dataDir(), f.imagesDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("smolvmtest: %w", err)
		}
	}
	f.Path = filepath.Join(bin, programName)
	if err := os.Symlink(exe, f.Path); err != nil {
		return nil, fmt.Errorf("smolvmtest: %w", err)
	}
	if err := f.SetFaults(); err != nil {
		return nil, err
	}
	f.Env = f.environ(os.Environ())
	return f, nil
}

func (f *Fake) dataDir() string      { return filepath.Join(f.dir, "data") }
func (f *Fake) imagesDir() string    { return filepath.Join(f.dir, "images") }
func (f *Fake) scenarioPath() string { return filepath.Join(f.dir, "scenario.json") }

// environ builds Env from the host's environment.
func (f *Fake) environ(host []string) []string {
	env := make([]string, 0, len(host)+6)
	path, gorace := "", false
	for _, kv := range host {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case k == "PATH":
			path = v
			continue
		case k == "GORACE":
			gorace = true
		case k == "SMOLVM", strings.HasPrefix(k, "SMOLVM_"), strings.HasPrefix(k, "FAKE_SMOLVM_"):
			continue
		}
		env = append(env, kv)
	}
	bin := filepath.Dir(f.Path)
	if path != "" {
		bin += string(filepath.ListSeparator) + path
	}
	env = append(env,
		"PATH="+bin,
		envDataDir+"="+f.dataDir(),
		envImages+"="+f.imagesDir(),
		envScenario+"="+f.scenarioPath(),
		guest.OwnerPIDEnv+"="+strconv.Itoa(os.Getpid()),
	)
	if !gorace {
		// A test binary built with -race sleeps 1s at exit by default;
		// every smolvm call would pay it.
		env = append(env, "GORACE=atexit_sleep_ms=0")
	}
	// Full, so that append(f.Env, ...) copies instead of writing into
	// another caller's additions.
	return slices.Clip(env)
}

// Command returns an exec.Cmd that runs the fake with args and Env.
func (f *Fake) Command(args ...string) *exec.Cmd {
	cmd := exec.Command(f.Path, args...)
	cmd.Env = append([]string(nil), f.Env...)
	return cmd
}

// Close stops every machine of the fake, with every process of its
// guests, and (for a fake from Open) removes its directory. New's cleanup
// calls it; calling it again does nothing. Invocations of Path that are
// still running (a hang fault) belong to whoever started them.
func (f *Fake) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	fakesmolvm.StopAll(f.dir)
	makeRemovable(f.dir)
	if f.removeDir {
		if err := os.RemoveAll(f.dir); err != nil {
			return fmt.Errorf("smolvmtest: remove the fake's directory: %w", err)
		}
	}
	return nil
}

// makeRemovable gives the owner full access to every directory under dir: a
// guest may have left some without (chmod 555 in its /workspace), and
// without root they could not be removed, here or by t.TempDir.
func makeRemovable(dir string) {
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		// Called for a directory before it is read: opened up first, it
		// can be read.
		if err == nil && d.IsDir() {
			if info, err := d.Info(); err == nil && info.Mode().Perm()&0o700 != 0o700 {
				_ = os.Chmod(path, info.Mode().Perm()|0o700)
			}
		}
		return nil
	})
}
