package conformance

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/smolbottle/smolbottle/internal/scripttest"
)

// config is Options resolved once per run.
type config struct {
	opts   Options
	smolvm string // absolute path of the smolvm program (non-fake runs)
	images string // fake image store
	models []Model
}

func resolve(t *testing.T, opts Options) (*config, error) {
	c := &config{opts: opts}
	if !opts.Fake {
		prog := opts.Smolvm
		if prog == "" {
			prog = os.Getenv("SMOLVM")
		}
		if prog == "" {
			prog = "smolvm"
		}
		path, err := exec.LookPath(prog)
		if err != nil {
			return nil, fmt.Errorf("no smolvm to run the suite against: %v; "+
				"set $SMOLVM to the smolvm program or put smolvm on PATH "+
				"(or run `go test ./conformance/` for the fake)", err)
		}
		if c.smolvm, err = filepath.Abs(path); err != nil {
			return nil, err
		}
	}
	if c.opts.LaunchArgs == nil {
		if v := os.Getenv("CONFORMANCE_LAUNCH_ARGS"); v != "" {
			if err := json.Unmarshal([]byte(v), &c.opts.LaunchArgs); err != nil {
				return nil, fmt.Errorf("$CONFORMANCE_LAUNCH_ARGS: want a JSON array of strings: %v", err)
			}
		}
	}
	image := opts.Image
	if image == "" {
		image = os.Getenv("CONFORMANCE_IMAGE")
	}
	rootImage := opts.RootImage
	if rootImage == "" {
		rootImage = os.Getenv("CONFORMANCE_ROOT_IMAGE")
	}
	if opts.Fake {
		c.images = opts.FakeImages
		if c.images == "" {
			dir := t.TempDir()
			if err := writeImages(dir); err != nil {
				return nil, err
			}
			c.images = dir
		}
		if image == "" {
			image = fakeNodeImage
		}
		if rootImage == "" {
			rootImage = fakeRootImage
		}
	}
	c.models = []Model{{Name: "bare", AgentImage: rootImage}, {Name: "image", Image: image, AgentImage: image}}
	return c, nil
}

// params builds the testscript parameters for one model.
func (c *config) params(m Model, files []string) testscript.Params {
	cmds := scripttest.Commands()
	cmds["cleanup"] = cmdCleanup
	cmds["launch"] = cmdLaunch
	return testscript.Params{
		Files: files,
		Setup: func(env *testscript.Env) error {
			return c.setup(m, env)
		},
		Cmds: cmds,
		Condition: func(cond string) (bool, error) {
			return c.condition(m, cond)
		},
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
	}
}

const (
	keyModel      = "conformance.model"
	keyLaunchArgs = "conformance.launchargs"
	keyEnv        = "conformance.env" // the script's environment after setup
)

func (c *config) setup(m Model, env *testscript.Env) error {
	if rt, ok := env.T().(recT); ok {
		name := strings.TrimPrefix(filepath.Base(env.WorkDir), "script-")
		for _, key := range []string{rt.prefix + name, name} {
			if reason, skip := c.opts.Skip[key]; skip {
				env.T().Skip(reason)
			}
		}
	}
	if c.opts.Fake {
		// Each script is its own world: HOME (and so the fake's state)
		// under $WORK, and every fake machine stopped at the end.
		if err := scripttest.Setup(env); err != nil {
			return err
		}
		env.Setenv("FAKE_SMOLVM_IMAGES", c.images)
	} else {
		// A real smolvm keeps its state and image cache under the user's
		// home: share it, and make machine names unique per run instead.
		env.Setenv("HOME", os.Getenv("HOME"))
		for _, k := range []string{"XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR", "SMOLVM_DATA_DIR"} {
			if v, ok := os.LookupEnv(k); ok {
				env.Setenv(k, v)
			}
		}
		// Scripts say `exec smolvm`: put the chosen program on PATH
		// under that name, and tell bottle about it too.
		bin := filepath.Join(env.WorkDir, ".bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			return err
		}
		if err := os.Symlink(c.smolvm, filepath.Join(bin, "smolvm")); err != nil {
			return err
		}
		env.Setenv("PATH", bin+string(os.PathListSeparator)+env.Getenv("PATH"))
		env.Setenv("SMOLVM", c.smolvm)
		// bottle runs in-process from the test binary: under -race, no
		// one-second pause at each exit.
		env.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	run, err := runID(m)
	if err != nil {
		return err
	}
	env.Setenv("RUN", run)
	env.Setenv("MODEL", m.Name)
	env.Setenv("IMAGE", m.Image)
	env.Setenv("AGENT_IMAGE", m.AgentImage)
	env.Values[keyModel] = m
	env.Values[keyLaunchArgs] = c.opts.LaunchArgs
	if c.opts.Setup != nil {
		if err := c.opts.Setup(env); err != nil {
			return err
		}
	}
	// What deferred teardown runs smolvm with: the state dirs and PATH a
	// script's machines were made with.
	env.Values[keyEnv] = slices.Clone(env.Vars)
	return nil
}

// runID makes machine names unique per script run: a real smolvm has one
// global namespace of machines shared by concurrent runs and both models.
func runID(m Model) (string, error) {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return m.Name[:1] + hex.EncodeToString(b), nil
}

func (c *config) condition(m Model, cond string) (bool, error) {
	switch cond {
	case "fake":
		return c.opts.Fake, nil
	case "real":
		return !c.opts.Fake, nil
	case "bare", "image":
		return m.Name == cond, nil
	case "agent-image":
		return m.AgentImage != "", nil
	}
	if v, ok := c.opts.Conditions[cond]; ok {
		return v, nil
	}
	if v, ok := defaultConditions(c.opts.Fake)[cond]; ok {
		return v, nil
	}
	return false, fmt.Errorf("unknown condition %q (define it in conformance.Options.Conditions)", cond)
}

// defaultConditions are the capability conditions with their default value
// for each kind of backend.
func defaultConditions(fake bool) map[string]bool {
	return map[string]bool{
		// faults: smolvm honours $FAKE_SMOLVM_SCENARIO (injected exit
		// codes, hangs, machines dying, resizes not forwarded).
		"faults": fake,
		// log: `smolvm fake log` shows every invocation's argv.
		"log": fake,
	}
}
