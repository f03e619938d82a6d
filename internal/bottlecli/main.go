// Package bottlecli implements the bottle command line: flags, wiring to
// package bottle, and the mapping of errors to exit codes.
package bottlecli

import (
	"fmt"
	"os"
)

// Main runs the bottle CLI with os.Args and returns the process exit code.
func Main() int {
	fmt.Fprintln(os.Stderr, "bottle: not implemented yet")
	return 2
}
