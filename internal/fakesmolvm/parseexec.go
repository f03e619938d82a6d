package fakesmolvm

import (
	"errors"
	"fmt"
)

// ExecCall is what `smolvm machine exec` would do with an argv, as the fake
// reads it: which machine, which -e entries (as given: "K=V", or "K" for a
// value taken from smolvm's own environment), which command.
type ExecCall struct {
	Machine     string   // --name, or "default"
	Env         []string // -e entries in order, unresolved
	Workdir     string   // -w, "" when not given
	Command     []string // COMMAND and its arguments
	Interactive bool     // -i
	TTY         bool     // -t
	Stream      bool     // --stream
	Detach      bool     // -d
	Timeout     string   // --timeout as given
}

// ParseExec parses the words after the program name ("machine exec ..."
// or "vm exec ...") with the fake's own clap-like parser, so that tests can
// compare another implementation's argv against the fake's reading of it.
// A parse error carries clap's message.
func ParseExec(args []string) (ExecCall, error) {
	if len(args) < 2 || (args[0] != "machine" && args[0] != "vm") || args[1] != "exec" {
		return ExecCall{}, fmt.Errorf("not a machine exec command line: %q", args)
	}
	p, err := parse(specExec, args[2:])
	if err != nil {
		var ce *clapError
		if errors.As(err, &ce) {
			return ExecCall{}, fmt.Errorf("error: %s", ce.msg)
		}
		return ExecCall{}, err
	}
	if p.help {
		return ExecCall{}, errors.New("help requested")
	}
	c := ExecCall{Machine: "default", Env: p.all("env"), Command: p.args}
	if name, ok := p.get("name"); ok {
		c.Machine = name
	}
	c.Workdir, _ = p.get("workdir")
	c.Timeout, _ = p.get("timeout")
	c.Interactive = p.has("interactive")
	c.TTY = p.has("tty")
	c.Stream = p.has("stream")
	c.Detach = p.has("detach")
	return c, nil
}
