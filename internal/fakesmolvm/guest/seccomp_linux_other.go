//go:build linux && !amd64 && !arm64

package guest

// No filter on this architecture (docs/fake-differences.md, "Isolation").
const (
	nativeArch = 0
	x32Bit     = 0
)

var (
	modeCalls  []modeCall
	noModeView []uint32
)
