//go:build realvm

package conformance_test

import (
	"testing"

	"github.com/smolbottle/smolbottle/conformance"
)

// TestMain registers only the bottle CLI: smolvm is the real one, from
// $SMOLVM or PATH.
func TestMain(m *testing.M) {
	conformance.Main(m, conformance.Programs(false))
}

// TestConformance runs the suite against a real smolvm. It fails, rather
// than skips, when there is none: a realvm run that checks nothing must not
// look green. $CONFORMANCE_IMAGE names the image for the image model (an
// image whose default user is node); without it that model is skipped.
func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Options{Skip: skips(), Dir: *scriptsDir})
}
