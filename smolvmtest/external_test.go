package smolvmtest_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// extTest is the test of a module outside this one that only imports
// smolvmtest: a whole machine's life, a fault, and the log.
const extTest = `package extuser

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smolbottle/smolbottle/smolvmtest"
)

func TestMain(m *testing.M) { smolvmtest.Main(m) }

func TestMachine(t *testing.T) {
	if p, err := exec.LookPath("smolvm"); err == nil {
		t.Fatalf("a smolvm is installed at %s; this test is to need none", p)
	}
	f := smolvmtest.New(t)
	sh := func(args ...string) string {
		t.Helper()
		out, err := f.Command(args...).CombinedOutput()
		if err != nil {
			t.Fatalf("smolvm %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	sh("machine", "create", "--name", "ext1")
	sh("machine", "start", "--name", "ext1")
	in := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(in, []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sh("machine", "cp", in, "ext1:/workspace/in.txt")
	if got := sh("machine", "exec", "--name", "ext1", "--", "cat", "/workspace/in.txt"); got != "from the host\n" {
		t.Errorf("exec cat: %q", got)
	}
	// A detached guest process, for the teardown to end.
	sh("machine", "exec", "--name", "ext1", "-d", "--", "sleep", "MARKER")

	if err := f.SetFaults(smolvmtest.Rule{Command: "stop", Answer: &smolvmtest.Answer{Exit: 1, Stderr: "Error: injected"}}); err != nil {
		t.Fatal(err)
	}
	out, err := f.Command("machine", "stop", "--name", "ext1").CombinedOutput()
	if err == nil || string(out) != "Error: injected\n" {
		t.Errorf("stop under a fault: %v, %q", err, out)
	}
	if err := f.SetFaults(); err != nil {
		t.Fatal(err)
	}
	sh("machine", "create", "--name", "ext2")
	sh("machine", "delete", "--name", "ext2")

	invs, err := f.Invocations()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, inv := range invs {
		got = append(got, inv.Command+":"+inv.Machine+":"+strings.Repeat("!", inv.Exit))
	}
	want := "create:ext1: start:ext1: cp:ext1: exec:ext1: exec:ext1: stop:ext1:! create:ext2: delete:ext2:"
	if strings.Join(got, " ") != want {
		t.Errorf("log:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	// ext1 is left running: the fake's teardown must end it.
}
`

// TestExternalModule builds a module in a temporary directory that needs
// this one (through a replace directive) and only imports smolvmtest, and
// runs its tests with a plain `go test`: no fake binary is installed, and
// afterwards nothing it started is left running and nothing is left in
// its temporary directory.
func TestExternalModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds another module (-short)")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	mod := filepath.Join(work, "extuser")
	tmp := filepath.Join(work, "tmp")
	for _, d := range []string{mod, tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	marker := "98765.4321"
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"go.mod": "module example.com/extuser\n\ngo 1.26.0\n\nrequire github.com/smolbottle/smolbottle v0.7.3\n\n" +
			"replace github.com/smolbottle/smolbottle => " + root + "\n",
		"go.sum":          string(sum),
		"machine_test.go": strings.ReplaceAll(extTest, "MARKER", marker),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(mod, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, pid := range leftovers(work, marker) {
			killPID(pid)
		}
	})

	// The go command offline, sharing this build's caches; PATH has no
	// smolvm.
	env := []string{"HOME=" + os.Getenv("HOME"), "PATH=" + filepath.Dir(goBin) + ":/usr/bin:/bin",
		"TMPDIR=" + tmp, "GOTMPDIR=" + tmp, "GOPROXY=off", "GOSUMDB=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local"}
	for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOROOT"} {
		out, err := exec.Command(goBin, "env", k).Output()
		if err != nil {
			t.Fatal(err)
		}
		env = append(env, k+"="+strings.TrimSpace(string(out)))
	}
	gocmd := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(goBin, args...)
		cmd.Dir, cmd.Env = mod, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	gocmd("mod", "tidy")
	t.Log(gocmd("test", "-count=1", "-v", "./..."))

	// The binary, built as a dependency at v0.7.3 (as `go install` builds
	// it at a version), reports that version.
	bin := filepath.Join(work, "fake-smolvm")
	gocmd("build", "-o", bin, "github.com/smolbottle/smolbottle/cmd/fake-smolvm")
	if out, err := exec.Command(bin, "fake", "version").Output(); err != nil || string(out) != "fake-smolvm v0.7.3 (emulates smolvm 1.9.2)\n" {
		t.Errorf("fake-smolvm fake version: %q, %v", out, err)
	}

	// The go command has returned; allow the killed-owner path a moment.
	deadline := time.Now().Add(10 * time.Second)
	for len(leftovers(work, marker)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("left running after the external test: %s", describe(leftovers(work, marker)))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ents, err := os.ReadDir(tmp); err != nil || len(ents) > 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("left in the external test's temporary directory: %v %v", names, err)
	}
}
