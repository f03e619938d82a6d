// Package fakesmolvm is a drop-in emulator of the smolvm CLI. It parses
// argv the way smolvm does, keeps machine state where smolvm keeps its own,
// records every invocation, and runs exec and cp inside isolated guests
// (package guest). It never imports package bottle.
package fakesmolvm

import (
	"fmt"
	"os"
)

// Main runs the fake with os.Args and returns the process exit code.
func Main() int {
	fmt.Fprintln(os.Stderr, "fake-smolvm: not implemented yet")
	return 2
}
