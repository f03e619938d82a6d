// Command bottle runs coding agents inside smolvm microVMs.
package main

import (
	"os"

	"github.com/smolbottle/smolbottle/internal/bottlecli"
)

func main() { os.Exit(bottlecli.Main()) }
