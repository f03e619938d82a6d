package smolbottle_test

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/smolbottle/smolbottle/internal/bottlecli"
	"github.com/smolbottle/smolbottle/internal/fakesmolvm"
	"github.com/smolbottle/smolbottle/internal/golden"
	"github.com/smolbottle/smolbottle/internal/scripttest"
	"github.com/smolbottle/smolbottle/smolvmtest"
)

func TestMain(m *testing.M) {
	// smolvmtest.Commands registers the fake as "smolvm", so that the
	// Go tests here can also have a private fake each (smolvmtest.New).
	testscript.Main(m, smolvmtest.Commands(map[string]func(){
		"fake-smolvm": func() { os.Exit(fakesmolvm.Main()) },
		"bottle":      func() { os.Exit(bottlecli.Main()) },
	}))
}

// TestScripts runs the CLI behaviour scripts in testdata/script against the
// bottle CLI and fake-smolvm, both registered in-process.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		WorkdirRoot:         t.TempDir(), // testscript keeps its own root when -run skips scripts
		Setup:               scripttest.Setup,
		Cmds:                scripttest.Commands(),
		Condition:           scripttest.Condition,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       *golden.Update,
	})
}
