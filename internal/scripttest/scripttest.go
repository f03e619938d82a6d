// Package scripttest holds what the module's testscript suites share: the
// sealed environment each script runs in, the teardown of every fake machine
// a script started, and custom commands and conditions.
package scripttest

import (
	"os"
	"path/filepath"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/smolbottle/smolbottle/internal/fakesmolvm"
)

// Setup gives each script its own world: HOME under $WORK, so fake-smolvm's
// state (data and cache dirs) lives inside the script's work directory.
func Setup(env *testscript.Env) error {
	home := filepath.Join(env.WorkDir, "home")
	// testscript does not inherit the host environment, so no XDG_* or
	// SMOLVM_* variable leaks in from the developer's shell.
	env.Setenv("HOME", home)
	// The repository's examples (the agent-stub image) for scripts to use.
	env.Setenv("EXAMPLES", examplesDir())
	// Whatever a script leaves running (it may fail midway), stop every fake
	// machine whose data dir is under its work dir.
	env.Defer(func() { fakesmolvm.StopAll(env.WorkDir) })
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

// Commands returns the custom script commands.
func Commands() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"pty": cmdPTY,
	}
}

// Condition evaluates the custom conditions.
func Condition(cond string) (bool, error) {
	return false, nil
}
