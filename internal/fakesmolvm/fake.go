package fakesmolvm

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/smolbottle/smolbottle/internal/fakesmolvm/guest"
)

// The `fake` admin command is fake-smolvm's own; smolvm has no such thing.
// Its invocations are not recorded.

var specFakeLog = &cmdSpec{
	name:  "fake log",
	about: "Print the recorded invocations, oldest first",
	usage: "smolvm fake log [OPTIONS]",
	flags: []flagSpec{
		{long: "json", help: "Print a JSON array of the records"},
		{long: "machine", value: "NAME", help: "Only invocations about this machine"},
	},
}

var specFakeReset = &cmdSpec{name: "fake reset", about: "Clear the invocation log and the fault rule counters", usage: "smolvm fake reset"}

var specFakeDoctor = &cmdSpec{name: "fake doctor", about: "Say what guest isolation this host supports", usage: "smolvm fake doctor"}

var specFakeVersion = &cmdSpec{name: "fake version", about: "Print the version fake-smolvm was built from", usage: "smolvm fake version"}

const fakeHelp = `fake-smolvm administration

Usage: smolvm fake <COMMAND>

Commands:
  log      Print the recorded invocations, oldest first
  reset    Clear the invocation log and the fault rule counters
  doctor   Say what guest isolation this host supports
  version  Print the version fake-smolvm was built from

Options:
  -h, --help  Print help
`

func (c *cli) fakeCmd(args []string) error {
	if len(args) == 0 {
		io.WriteString(c.stderr, fakeHelp)
		return exitCode(2)
	}
	var spec *cmdSpec
	switch args[0] {
	case "-h", "--help", "help":
		io.WriteString(c.stdout, fakeHelp)
		return nil
	case "log":
		spec = specFakeLog
	case "reset":
		spec = specFakeReset
	case "doctor":
		spec = specFakeDoctor
	case "version":
		spec = specFakeVersion
	default:
		return unknownSubcommand(args[0], "smolvm fake <COMMAND>", []string{"log", "reset", "doctor", "version", "help"})
	}
	p, err := c.parseOrHelp(spec, args[1:])
	if p == nil {
		return err
	}
	switch args[0] {
	case "log":
		return c.fakeLog(p)
	case "reset":
		for _, f := range []string{c.logPath(), filepath.Join(c.paths.stateDir(), "faults")} {
			if err := os.RemoveAll(f); err != nil {
				return errorf("io operation failed: %v", err)
			}
		}
		return nil
	case "version":
		// smolvm --version answers as smolvm 1.9.2 does; this is the
		// fake's own version, the module version it was built from.
		c.out("fake-smolvm %s (emulates %s)", moduleVersion(), fakeVersion)
		return nil
	default:
		rep := guest.Doctor(c.getenv(guest.HostUserlandEnv) == "1")
		for _, l := range rep.Lines {
			c.out("%s", l)
		}
		if !rep.Supported {
			return exitCode(1)
		}
		return nil
	}
}

// fakeLog prints one line per invocation: EXIT MACHINE ARGV... (machine "-"
// when none, argv words quoted when they need it; EXIT is "unfinished" for
// an invocation still running or killed), or a JSON array.
func (c *cli) fakeLog(p *parsed) error {
	all, err := c.readLog()
	if err != nil {
		return errorf("io operation failed: %v", err)
	}
	want, filter := p.get("machine")
	invs := []invocation{}
	for _, inv := range all {
		if !filter || inv.Machine == want {
			invs = append(invs, inv)
		}
	}
	if p.has("json") {
		b, _ := marshalJSON(invs, true)
		c.out("%s", b)
		return nil
	}
	for _, inv := range invs {
		m := inv.Machine
		if m == "" {
			m = "-"
		}
		words := make([]string, len(inv.Argv))
		for i, w := range inv.Argv {
			words[i] = shellQuote(w)
		}
		exit := fmt.Sprint(inv.Exit)
		switch {
		case inv.Hung:
			exit = "hung"
		case inv.Unfinished:
			exit = "unfinished" // still running, or killed
		}
		c.out("%s %s %s", exit, m, strings.Join(words, " "))
	}
	return nil
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_=/.,:@%+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
