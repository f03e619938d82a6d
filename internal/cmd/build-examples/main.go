// Command build-examples copies the repository's examples to a directory
// and completes each image skeleton with the host's static busybox, as
// the tests do (scripttest.BuildExamples): `make demo` runs it.
//
// Usage: go run ./internal/cmd/build-examples SRC DST
package main

import (
	"fmt"
	"os"

	"github.com/smolbottle/smolbottle/internal/scripttest"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: build-examples SRC DST")
		os.Exit(2)
	}
	if err := scripttest.BuildExamples(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "build-examples:", err)
		os.Exit(1)
	}
}
