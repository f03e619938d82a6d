package smolvmtest_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/smolbottle/smolbottle/smolvmtest"
)

// In a test, New gives the test its own fake, torn down with the test.
// The code under test runs Path with Env (or finds "smolvm" on Env's PATH).
func ExampleNew() {
	testLaunch := func(t *testing.T) {
		f := smolvmtest.New(t)
		if out, err := f.Command("machine", "create", "--name", "web1").CombinedOutput(); err != nil {
			t.Fatalf("create: %v: %s", err, out)
		}
		// ... run the code under test with f.Path and f.Env, then assert
		// on f.Invocations().
	}
	_ = testLaunch
}

// Open is New without a testing.TB: here, a machine's whole life.
func ExampleOpen() {
	f, err := smolvmtest.Open()
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	sh := func(args ...string) string {
		out, err := f.Command(args...).CombinedOutput()
		if err != nil {
			log.Fatalf("smolvm %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	sh("machine", "create", "--name", "box")
	sh("machine", "start", "--name", "box")
	fmt.Print(sh("machine", "exec", "--name", "box", "--", "sh", "-c", "echo hello from $(hostname)"))
	sh("machine", "delete", "--name", "box", "-f")
	// Output:
	// hello from box
}

// Command runs the fake with the fake's environment; cp copies into and
// out of the guest.
func ExampleFake_Command() {
	f, err := smolvmtest.Open()
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	notes := filepath.Join(dir, "notes.txt")
	os.WriteFile(notes, []byte("remember the milk\n"), 0o644)

	for _, args := range [][]string{
		{"machine", "create", "--name", "box"},
		{"machine", "start", "--name", "box"},
		{"machine", "cp", notes, "box:/workspace/notes.txt"},
	} {
		if out, err := f.Command(args...).CombinedOutput(); err != nil {
			log.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	out, err := f.Command("machine", "exec", "--name", "box", "--", "wc", "-c", "/workspace/notes.txt").Output()
	fmt.Printf("%s%v\n", out, err)
	// Output:
	// 18 /workspace/notes.txt
	// <nil>
}

// Invocations returns what ran, as typed values.
func ExampleFake_Invocations() {
	f, err := smolvmtest.Open()
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	f.Command("machine", "create", "--name", "box").Run()
	f.Command("machine", "exec", "--name", "box", "--", "true").Run() // not started
	f.Command("machine", "delete", "--name", "box", "-f").Run()

	invs, err := f.Invocations()
	if err != nil {
		log.Fatal(err)
	}
	for _, inv := range invs {
		fmt.Println(inv.Command, inv.Machine, inv.Exit, inv.Argv)
	}
	// Output:
	// create box 0 [smolvm machine create --name box]
	// exec box 1 [smolvm machine exec --name box -- true]
	// delete box 0 [smolvm machine delete --name box -f]
}

// SetFaults makes the fake fail on purpose: here the second start of a
// machine fails as if its VM could not boot.
func ExampleFake_SetFaults() {
	f, err := smolvmtest.Open()
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	err = f.SetFaults(smolvmtest.Rule{
		Command: "start", Machine: "box", Calls: []int{2},
		Answer: &smolvmtest.Answer{Exit: 1, Stderr: "Error: agent operation failed: boot"},
	})
	if err != nil {
		log.Fatal(err)
	}
	f.Command("machine", "create", "--name", "box").Run()
	for i := 1; i <= 2; i++ {
		out, err := f.Command("machine", "start", "--name", "box").CombinedOutput()
		if err != nil {
			fmt.Printf("start %d: %v: %s", i, err, out)
		} else {
			fmt.Printf("start %d: ok\n", i)
		}
		f.Command("machine", "stop", "--name", "box").Run()
	}
	// Output:
	// start 1: ok
	// start 2: exit status 1: Error: agent operation failed: boot
}

// AddImage puts an image in the fake's store; create --image finds it
// without a registry. (An image guest sees only its image: to exec into
// it, the image needs its own shell and tools.)
func ExampleFake_AddImage() {
	f, err := smolvmtest.Open()
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	rootfs, _ := os.MkdirTemp("", "rootfs")
	defer os.RemoveAll(rootfs)
	os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755)
	os.WriteFile(filepath.Join(rootfs, "etc", "motd"), []byte("welcome to app 1.0\n"), 0o644)

	if err := f.AddImage("example/app:1.0", smolvmtest.Image{Rootfs: rootfs}); err != nil {
		log.Fatal(err)
	}
	motd := filepath.Join(rootfs, "motd.out")
	for _, args := range [][]string{
		{"machine", "create", "--name", "app", "--image", "example/app:1.0"},
		{"machine", "start", "--name", "app"},
		{"machine", "cp", "app:/etc/motd", motd},
	} {
		if out, err := f.Command(args...).CombinedOutput(); err != nil {
			log.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	b, _ := os.ReadFile(motd)
	fmt.Print(string(b))
	// Output:
	// welcome to app 1.0
}

// A TestMain that hands the test binary to testscript.Main registers the
// fake with Commands: scripts `exec smolvm`, and Go tests of the same
// binary can still call New.
func ExampleCommands() {
	testMain := func(m *testing.M) {
		testscript.Main(m, smolvmtest.Commands(map[string]func(){
			"mytool": func() { os.Exit(0) }, // the program under test
		}))
	}
	_ = testMain
}
