// Command fake-smolvm is a drop-in smolvm that records every invocation and
// runs exec and cp inside isolated guests, so tests need no microVMs.
package main

import (
	"os"

	"github.com/smolbottle/smolbottle/internal/fakesmolvm"
)

func main() { os.Exit(fakesmolvm.Main()) }
