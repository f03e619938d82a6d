package scripttest

import (
	"os/exec"
	"regexp"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// waitBound bounds every wait: a deadline for broken runs, not a latency
// target.
const waitBound = 20 * time.Second

// cmdWaitlog: waitlog MACHINE REGEXP
// Wait until fake-smolvm's invocation log for MACHINE (smolvm fake log
// --machine MACHINE) matches REGEXP (multi-line: ^ and $ match at lines,
// as in testscript's stdout), so a script can act while a command
// is in flight without sleeping for a guessed time. Fake only.
func cmdWaitlog(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitlog MACHINE REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	var out []byte
	smolvm := smolvmIn(ts)
	if poll(func() bool {
		cmd, err := smolvm("fake", "log", "--machine", args[0])
		ts.Check(err)
		out, _ = cmd.Output()
		return re.Match(out)
	}) {
		return
	}
	ts.Fatalf("waitlog: no match for %q in the log of %s after %v:\n%s", args[1], args[0], waitBound, out)
}

// cmdWaitguest: waitguest MACHINE SCRIPT
// Wait until SCRIPT exits 0 in the machine (smolvm machine exec --name
// MACHINE -- sh -c SCRIPT): a guest state (a file a background command
// wrote, a process gone) instead of a guessed sleep. Works on every
// backend.
func cmdWaitguest(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitguest MACHINE SCRIPT")
	}
	var out []byte
	var err error
	smolvm := smolvmIn(ts)
	if poll(func() bool {
		cmd, cerr := smolvm("machine", "exec", "--name", args[0], "--", "sh", "-c", args[1])
		ts.Check(cerr)
		out, err = cmd.CombinedOutput()
		return err == nil
	}) {
		return
	}
	ts.Fatalf("waitguest: %q did not succeed in %s within %v: %v\n%s", args[1], args[0], waitBound, err, out)
}

// cmdWaitstatus: waitstatus MACHINE REGEXP
// Wait until smolvm machine status --name MACHINE prints a line matching
// REGEXP (a machine that came up, or died).
func cmdWaitstatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitstatus MACHINE REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	var out []byte
	smolvm := smolvmIn(ts)
	if poll(func() bool {
		cmd, err := smolvm("machine", "status", "--name", args[0])
		ts.Check(err)
		out, _ = cmd.CombinedOutput()
		return re.Match(out)
	}) {
		return
	}
	ts.Fatalf("waitstatus: no match for %q in the status of %s after %v:\n%s", args[1], args[0], waitBound, out)
}

// cmdWaitls: waitls REGEXP
// Wait until smolvm machine ls prints a line matching REGEXP (a machine
// whose name is generated, such as an ephemeral run's, cannot be asked for
// by name).
func cmdWaitls(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitls REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[0])
	ts.Check(err)
	var out []byte
	smolvm := smolvmIn(ts)
	if poll(func() bool {
		cmd, err := smolvm("machine", "ls")
		ts.Check(err)
		out, _ = cmd.CombinedOutput()
		return re.Match(out)
	}) {
		return
	}
	ts.Fatalf("waitls: no match for %q in machine ls after %v:\n%s", args[0], waitBound, out)
}

// smolvmIn returns what makes smolvm commands in the script's environment,
// read once, for a wait that polls.
func smolvmIn(ts *testscript.TestScript) func(args ...string) (*exec.Cmd, error) {
	env, dir := Environ(ts), ts.Getenv("WORK")
	return func(args ...string) (*exec.Cmd, error) {
		return CommandIn(env, dir, "smolvm", args...)
	}
}

// poll checks cond every 50 ms until it holds or waitBound has passed,
// and reports whether it held.
func poll(cond func() bool) bool {
	for deadline := time.Now().Add(waitBound); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}
