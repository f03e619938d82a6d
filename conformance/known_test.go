package conformance_test

import "flag"

var (
	scriptsDir = flag.String("scripts", "testdata", "run the scripts in this directory (\"\" for the embedded copy)")
	runBroken  = flag.Bool("broken", false, "also run the scripts listed in knownBroken (to check a fix)")
)

// skips is the Options.Skip of this package's runs.
func skips() map[string]string {
	if *runBroken {
		return nil
	}
	return knownBroken
}

// knownBroken lists scripts that fail today because of a defect in the
// code under test (not in the script), with the defect. They are skipped
// so the suite stays usable, and every run lists them with these reasons;
// delete an entry when its defect is fixed.
var knownBroken = map[string]string{}
