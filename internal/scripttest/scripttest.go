// Package scripttest holds what the module's testscript suites share: the
// sealed environment each script runs in, the teardown of every fake machine
// a script started, and custom commands and conditions.
package scripttest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/smolbottle/smolbottle/internal/fakesmolvm"
	"github.com/smolbottle/smolbottle/internal/fakesmolvm/guest"
)

// Setup gives each script its own world: HOME under $WORK, so fake-smolvm's
// state (data and cache dirs) lives inside the script's work directory.
func Setup(env *testscript.Env) error {
	home := filepath.Join(env.WorkDir, "home")
	// testscript does not inherit the host environment, so no XDG_* or
	// SMOLVM_* variable leaks in from the developer's shell.
	env.Setenv("HOME", home)
	// The repository's examples (the agent-stub image) for scripts to use,
	// their images completed with busybox.
	examples := filepath.Join(env.WorkDir, ".examples")
	if err := BuildExamples(examplesDir(), examples); err != nil {
		return err
	}
	env.Setenv("EXAMPLES", examples)
	// Whatever a script leaves running (it may fail midway), stop every fake
	// machine whose data dir is under its work dir.
	env.Defer(func() { fakesmolvm.StopAll(env.WorkDir) })
	// And if the test binary itself dies, its machines follow it.
	env.Setenv(guest.OwnerPIDEnv, strconv.Itoa(os.Getpid()))
	// Programs built with -race sleep 1s at exit by default; scripts run
	// many of them.
	env.Setenv("GORACE", "atexit_sleep_ms=0")
	return nil
}

// examplesDir finds <module root>/examples from the test's directory.
func examplesDir() string {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "examples")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Commands returns the custom script commands: exitcode, pty (see cmdPTY),
// busybox and mkarchive (images.go), dial (dial.go), and the waits waitlog, waitguest, waitstatus and waitls, which poll (up to 20 s)
// for a state instead of sleeping for a guessed time.
func Commands() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"exitcode":   exitcode,
		"busybox":    busybox,
		"dial":       cmdDial,
		"mkarchive":  mkarchive,
		"pty":        cmdPTY,
		"waitlog":    cmdWaitlog,
		"waitguest":  cmdWaitguest,
		"waitstatus": cmdWaitstatus,
		"waitls":     cmdWaitls,
	}
}

// exitcode N PROG [ARGS...] runs PROG like exec and checks that it exits
// with status N; stdout and stderr are kept for the following checks.
func exitcode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: bad status %q", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exitcode: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// Condition evaluates the custom conditions:
//
//	remapped  guests of the fake run with shifted ids: guest root is host
//	          uid guest.IDShift() (the fake runs as root)
//
// An unknown condition is an error, so a misspelt one fails the script
// instead of silently skipping the lines it guards.
func Condition(cond string) (bool, error) {
	switch cond {
	case "remapped":
		return guest.IDShift() != 0, nil
	}
	return false, fmt.Errorf("unknown condition %q", cond)
}
