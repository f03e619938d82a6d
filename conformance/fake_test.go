//go:build !realvm

package conformance_test

import (
	"testing"

	"github.com/smolbottle/smolbottle/conformance"
)

// TestMain registers fake-smolvm as `smolvm` and the bottle CLI, in-process.
func TestMain(m *testing.M) {
	conformance.Main(m, conformance.Programs(true))
}

// TestConformance runs the suite against fake-smolvm.
func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Options{Fake: true, Dir: *scriptsDir, Skip: skips()})
}
