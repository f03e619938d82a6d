// Package smolvmtest gives Go tests a private fake smolvm in one call, as
// net/http/httptest gives them a server: for tests of any Go code that
// runs the smolvm CLI, without microVMs and without building or
// installing anything.
//
// The fake is fake-smolvm (this module's cmd/fake-smolvm) run by the test
// binary itself: it parses argv like smolvm 1.9.2, prints its messages,
// keeps its machine states, and runs exec, shell and cp in isolated
// guests (Linux user, mount and PID namespaces; `smolvm fake doctor` says
// what a host allows). How it differs from smolvm is listed in the
// module's docs/fake-differences.md.
//
// # Setup
//
// TestMain hands the test binary to Main, which runs the fake when the
// binary is started as smolvm and the tests otherwise:
//
//	func TestMain(m *testing.M) { smolvmtest.Main(m) }
//
// A TestMain that already calls testscript.Main registers the fake with
// Commands instead.
//
// # A fake per test
//
// New returns a fake with its own machines, image store, invocation log
// and fault rules; every machine it started is stopped, with every guest
// process, when the test ends, also when it fails. Point the code under
// test at Path (or run it with Env, whose PATH finds Path as "smolvm"):
//
//	func TestDeploy(t *testing.T) {
//		f := smolvmtest.New(t)
//		d := mypkg.Deployer{Smolvm: f.Path, Env: f.Env}
//		if err := d.Deploy("web1"); err != nil {
//			t.Fatal(err)
//		}
//		invs, err := f.Invocations()
//		if err != nil {
//			t.Fatal(err)
//		}
//		for _, inv := range invs {
//			if inv.Exit != 0 {
//				t.Errorf("%q exited %d", inv.Argv, inv.Exit)
//			}
//		}
//	}
//
// Command runs the fake directly, for setting up machines or checking what
// the code under test left:
//
//	out, err := f.Command("machine", "ls", "--json").Output()
//
// # The invocation log
//
// Invocations returns every run of the fake as typed values: argv,
// environment names (never values), working directory, stdin bytes, exit
// status, duration, subcommand and machine. An invocation that has not
// ended (or that a hang fault holds) has Done false.
//
// # Faults
//
// SetFaults replaces the fake's fault rules, the rules of fake-smolvm's
// scenario file ($FAKE_SMOLVM_SCENARIO) as Go values: answer a command
// with a canned exit status and output, delay or hang it, stop the
// machine first, or kill it during an exec.
//
//	err := f.SetFaults(smolvmtest.Rule{
//		Command: "start", Machine: "web1",
//		Answer:  &smolvmtest.Answer{Exit: 1, Stderr: "Error: agent operation failed: boot"},
//	})
//
// # Images
//
// There is no registry: an image is added to the fake's store, from a root
// filesystem directory or from a `docker save` archive (flattened once),
// and `create --image NAME` finds it.
//
//	err := f.AddImage("node:22", smolvmtest.Image{Rootfs: "testdata/rootfs", User: "node"})
//	err = f.AddImage("app:1.0", smolvmtest.Image{Archive: "testdata/app.tar"})
//
// AddImage is for image names, which smolvm would pull from a registry;
// smolvm also reads local images given by path (docs/smolvm.md, "create:
// images").
//
// # Other languages
//
// Tests in other languages run the fake-smolvm binary as smolvm: install
// it with `go install github.com/smolbottle/smolbottle/cmd/fake-smolvm@VERSION`
// and link it as smolvm on PATH; the module's examples/python shows a
// pytest fixture doing so.
package smolvmtest
