package conformance

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

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
