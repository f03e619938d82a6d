package conformance

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/smolbottle/smolbottle/internal/scripttest"
)

//go:embed testdata/*.txtar
var scripts embed.FS

// Options says what the suite runs against. The zero value runs it against
// the smolvm named by $SMOLVM or found on PATH, bare model only.
type Options struct {
	// Fake says smolvm is fake-smolvm registered in-process (Programs(true)).
	// It turns on the [fake] condition (lines that read the fake's
	// invocation log or inject faults) and gives each script its own
	// smolvm state under $WORK.
	Fake bool

	// Smolvm is the smolvm program for a non-fake run. Empty means $SMOLVM,
	// then "smolvm" on PATH; the run fails when none is found.
	Smolvm string

	// Image is the image the "image" guest model creates its machines from:
	// an image whose default exec user is "node" (uid 1000, HOME
	// /home/node). For a fake run it defaults to the image the suite ships
	// (see FakeImages). Empty on a real run skips the image model, and the
	// summary says so.
	Image string

	// RootImage is the image the "bare" model's agent runs use (bottle run
	// needs an image with the agent): exec runs as root by default, the
	// image has a user "node", and "claude" and "codex" are the suite's
	// stub agents (conformance/images/rootfs/usr/local/bin/claude). Image
	// must have the same stubs. Defaults to the shipped image on a fake
	// run; empty on a real run skips the bare model's agent scripts.
	RootImage string

	// FakeImages is the fake's image store ($FAKE_SMOLVM_IMAGES). Empty
	// means a store the suite writes out with the image "conformance-node".
	FakeImages string

	// Conditions adds capability conditions for the scripts ([name]);
	// a condition the scripts use and nobody defines is an error.
	Conditions map[string]bool

	// Skip names scripts not to run (file name without .txtar, optionally
	// prefixed by "MODEL/"), with the reason shown in the summary.
	Skip map[string]string

	// LaunchArgs are extra `bottle up` arguments for every machine the
	// scripts launch, e.g. to give a real bare guest runuser:
	// {"--net", "--create-flag=--init", "--create-flag=apk add runuser"}.
	// Nil means $CONFORMANCE_LAUNCH_ARGS, a JSON array of strings.
	LaunchArgs []string

	// Setup, if set, runs after the suite's own setup of each script.
	Setup func(*testscript.Env) error

	// Dir, if set, runs the scripts in this directory instead of the
	// embedded ones (used to try scripts under development).
	Dir string
}

// Model is a guest model: how a machine's default exec user relates to the
// user bottle runs things as.
type Model struct {
	Name  string // "bare" or "image"
	Image string // "" for a bare machine
	// AgentImage is the image of the model's agent runs ($AGENT_IMAGE):
	// exec runs as root in the bare model's, as node in the image model's.
	AgentImage string
}

// Programs returns the programs the suite needs registered in the test
// binary: the bottle CLI always, and fake-smolvm as `smolvm` when fake is
// true. Pass it to Main.
func Programs(fake bool) map[string]func() {
	return programs(fake)
}

// Main is TestMain for a package that runs the suite: it registers programs
// (see Programs) so scripts can exec them, then runs the tests.
func Main(m *testing.M, programs map[string]func()) {
	testscript.Main(m, programs)
}

// Run runs every script under every guest model as subtests of t
// (t/MODEL/SCRIPT), in parallel, then prints what was skipped and why and
// the summary line.
func Run(t *testing.T, opts Options) {
	rec := &recorder{}
	t.Cleanup(func() { rec.report(os.Stdout) })
	cfg, err := resolve(t, opts)
	if err != nil {
		rec.result("setup", "fail")
		t.Fatalf("conformance: %v", err)
	}
	dir := opts.Dir
	if dir == "" {
		dir = t.TempDir()
		if err := writeScripts(dir); err != nil {
			t.Fatalf("conformance: %v", err)
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.txtar"))
	if err != nil || len(files) == 0 {
		rec.result("setup", "fail")
		t.Fatalf("conformance: no scripts in %s (%v)", dir, err)
	}
	sort.Strings(files)

	for _, m := range cfg.models {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			if m.Name == "image" && m.Image == "" {
				for _, f := range files {
					name := scriptName(f)
					if modelAllowed(f, m.Name) {
						rec.skipped(m.Name+"/"+name, "no image for the image model (Options.Image / $CONFORMANCE_IMAGE)")
					}
				}
				t.Skip("no image for the image model")
			}
			var mine []string
			for _, f := range files {
				if modelAllowed(f, m.Name) {
					mine = append(mine, f)
				}
			}
			p := cfg.params(m, mine)
			if d, ok := t.Deadline(); ok {
				p.Deadline = d
			}
			// Our own root for the scripts' work dirs: testscript removes
			// its root only when every script ran, which -run prevents.
			root, err := os.MkdirTemp("", "conformance-"+m.Name)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { removeAll(root) })
			p.WorkdirRoot = root
			testscript.RunT(recT{T: t, rec: rec, prefix: m.Name + "/"}, p)
		})
	}
}

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

// cmdCleanup: cleanup NAME...
// At the end of the script, whatever happened, stop and delete each named
// machine (`smolvm machine delete --name NAME -f`, which stops it first).
func cmdCleanup(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: cleanup NAME...")
	}
	for _, name := range args {
		ts.Defer(func() { deleteMachine(ts, name) })
	}
}

func deleteMachine(ts *testscript.TestScript, name string) {
	// Not ts.Exec: a deferred teardown must not replace the stdout a
	// failing script left for the log, nor fail the script when the
	// machine was never created.
	env, _ := ts.Value(keyEnv).([]string)
	cmd, err := scripttest.CommandIn(env, ts.Getenv("WORK"), "smolvm", "machine", "delete", "--name", name, "-f")
	if err != nil {
		ts.Logf("cleanup %s: %v", name, err)
		return
	}
	out, err := cmd.CombinedOutput()
	if err != nil && !bytes.Contains(out, []byte("vm not found")) {
		ts.Logf("cleanup %s: %v: %s", name, err, out)
	}
}

// cmdLaunch: launch NAME [ARGS...]
// Launch a machine for the script's guest model with `bottle up --name NAME
// [--image IMAGE] ARGS...`, and tear it down at the end (as cleanup).
func cmdLaunch(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: launch NAME [bottle up args...]")
	}
	name := args[0]
	cmdCleanup(ts, false, args[:1])
	up := []string{"up", "--name", name}
	if m, ok := ts.Value(keyModel).(Model); ok && m.Image != "" {
		up = append(up, "--image", m.Image)
	}
	if extra, ok := ts.Value(keyLaunchArgs).([]string); ok {
		up = append(up, extra...)
	}
	up = append(up, args[1:]...)
	if err := ts.Exec("bottle", up...); err != nil {
		ts.Fatalf("launch %s: %v", name, err)
	}
	if m, ok := ts.Value(keyModel).(Model); ok && m.Image == "" {
		// A bare machine has root only. Agent images carry a "node" user
		// (uid 1000); give the bare guest the same, as root, so that
		// running things as node has someone to be.
		if err := ts.Exec("smolvm", "machine", "exec", "--name", name, "--", "sh", "-c", addNodeUser); err != nil {
			ts.Fatalf("launch %s: adding user node: %v", name, err)
		}
	}
}

const addNodeUser = `set -e
grep -q '^node:' /etc/passwd || echo 'node:x:1000:1000:node:/home/node:/bin/sh' >> /etc/passwd
grep -q '^node:' /etc/group || echo 'node:x:1000:' >> /etc/group
mkdir -p /home/node
chown 1000:1000 /home/node`

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

// recorder collects each script's result for the summary.
type recorder struct {
	mu      sync.Mutex
	results map[string]string // name -> "pass", "fail", "skip"
	reasons map[string]string // name -> why it was skipped
}

func (r *recorder) result(name, res string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.results == nil {
		r.results = map[string]string{}
	}
	r.results[name] = res
}

func (r *recorder) skipped(name, reason string) {
	r.mu.Lock()
	if r.reasons == nil {
		r.reasons = map[string]string{}
	}
	if _, ok := r.reasons[name]; !ok {
		r.reasons[name] = reason
	}
	r.mu.Unlock()
	r.result(name, "skip")
}

// report prints the failed scripts, the skipped ones with their reasons,
// then the summary.
func (r *recorder) report(w io.Writer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names, failed []string
	n := map[string]int{}
	for name, res := range r.results {
		n[res]++
		switch res {
		case "skip":
			names = append(names, name)
		case "fail":
			failed = append(failed, name)
		}
	}
	sort.Strings(names)
	sort.Strings(failed)
	for _, name := range failed {
		fmt.Fprintf(w, "conformance: failed %s\n", name)
	}
	for _, name := range names {
		reason := r.reasons[name]
		if reason == "" {
			reason = "(no reason given)"
		}
		fmt.Fprintf(w, "conformance: skipped %s: %s\n", name, reason)
	}
	fmt.Fprintf(w, "conformance: %d passed, %d failed, %d skipped\n", n["pass"], n["fail"], n["skip"])
}

// recT is testscript's view of a test: it records each script's outcome
// and the reason it was skipped.
type recT struct {
	*testing.T
	rec    *recorder
	prefix string // "MODEL/"
	name   string // "MODEL/SCRIPT" inside a script's subtest
}

func (r recT) Skip(args ...any) {
	if r.name != "" {
		r.rec.skipped(r.name, strings.TrimSpace(fmt.Sprintln(args...)))
	}
	r.T.Skip(args...)
}

func (r recT) Run(name string, f func(testscript.T)) {
	r.T.Run(name, func(t *testing.T) {
		full := r.prefix + name
		t.Cleanup(func() {
			switch {
			case t.Skipped():
				r.rec.skipped(full, "")
			case t.Failed():
				r.rec.result(full, "fail")
			default:
				r.rec.result(full, "pass")
			}
		})
		f(recT{T: t, rec: r.rec, prefix: r.prefix, name: full})
	})
}

func (r recT) Verbose() bool { return testing.Verbose() }
