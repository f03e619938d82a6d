package scripttest

import (
	"slices"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestEnviron runs testdata/*.txtar with a command "environ KEY=VALUE"
// that checks Environ returns the script's environment, including what
// the script set itself, and leaves the last command's stdout and stderr
// for the script's checks.
func TestEnviron(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"environ": func(ts *testscript.TestScript, neg bool, args []string) {
				env := Environ(ts)
				for _, kv := range args {
					if slices.Contains(env, kv) == neg {
						ts.Fatalf("environ: %q in %q is %v", kv, env, !neg)
					}
				}
			},
			"command": func(ts *testscript.TestScript, neg bool, args []string) {
				cmd, err := Command(ts, args[0], args[1:]...)
				ts.Check(err)
				out, err := cmd.Output()
				ts.Check(err)
				ts.Logf("%s", out)
				if string(out) != ts.Getenv("WANT")+"\n" {
					ts.Fatalf("command: %q, want $WANT", out)
				}
			},
		},
		RequireExplicitExec: true,
	})
}
