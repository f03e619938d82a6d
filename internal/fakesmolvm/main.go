package fakesmolvm

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/smolbottle/smolbottle/internal/fakesmolvm/guest"
)

// Main runs the fake with the process's argv and stdio and returns the exit
// code. The binary is also the guest's runuser (by argv[0], or the hidden
// "__runuser" subcommand) and the machine agent (hidden "__agent").
func Main() int {
	if filepath.Base(os.Args[0]) == "runuser" {
		return guest.RunuserMain(os.Args[1:])
	}
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "__agent":
			return guest.AgentMain(os.Args[2:])
		case "__runuser":
			return guest.RunuserMain(os.Args[2:])
		}
	}
	wd, _ := os.Getwd()
	c := &cli{
		args:    os.Args[1:],
		prog:    filepath.Base(os.Args[0]),
		getenv:  os.Getenv,
		environ: os.Environ(),
		cwd:     wd,
		stdin:   os.Stdin,
		stdout:  os.Stdout,
		stderr:  os.Stderr,
	}
	return c.main()
}

// cli is one invocation.
type cli struct {
	args    []string
	prog    string
	getenv  func(string) string
	environ []string
	cwd     string
	stdin   *os.File
	stdout  io.Writer
	stderr  io.Writer

	paths paths
	store *store

	// Filled while running, for the recorder and the fault rules.
	command    string       // canonical machine subcommand
	machine    string       // the machine the invocation is about
	noRecord   bool         // fake admin commands are not recorded
	stdinBytes atomic.Int64 // forwarded to the guest or read by a prompt
	stdinTTY   bool
	fault      *rule
	begun      time.Time      // when the invocation started
	pending    []pendingEntry // log entries begun, to complete at the end
}

// runtimeError is printed as "Error: MSG" with exit 1.
type runtimeError struct{ msg string }

func (e *runtimeError) Error() string { return e.msg }

func errorf(format string, a ...any) error { return &runtimeError{fmt.Sprintf(format, a...)} }

// exitCode carries an exit status decided by a command (guest exit codes).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

func (c *cli) main() int {
	c.begun = time.Now()
	c.paths = resolvePaths(c.getenv)
	c.store = &store{dir: c.paths.stateDir()}
	code := c.exit(c.run())
	if !c.noRecord {
		c.record(c.begun, code, false)
	}
	return code
}

// exit maps a command's result to the exit code, printing errors: the one
// place where exit codes are decided.
func (c *cli) exit(err error) int {
	var ce *clapError
	var ec exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ec):
		return int(ec)
	case errors.As(err, &ce):
		io.WriteString(c.stderr, ce.block())
		return 2
	default:
		fmt.Fprintf(c.stderr, "Error: %s\n", err.Error())
		return 1
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimRight(s, "\n"), "\n")
	return s
}

// lookupEnv reads the invocation's environment.
func (c *cli) lookupEnv(k string) (string, bool) {
	for i := len(c.environ) - 1; i >= 0; i-- {
		if ek, v, ok := strings.Cut(c.environ[i], "="); ok && ek == k {
			return v, true
		}
	}
	return "", false
}

func (c *cli) out(format string, a ...any)  { fmt.Fprintf(c.stdout, format+"\n", a...) }
func (c *cli) errf(format string, a ...any) { fmt.Fprintf(c.stderr, format+"\n", a...) }

func (c *cli) run() error {
	if len(c.args) == 0 {
		io.WriteString(c.stderr, shortHelp)
		return exitCode(2)
	}
	switch a := c.args[0]; a {
	case "--version", "-V":
		c.out("%s", fakeVersion)
		return nil
	case "-h":
		io.WriteString(c.stdout, shortHelp)
		return nil
	case "--help":
		io.WriteString(c.stdout, longHelp)
		return nil
	case "help":
		// clap's help subcommand: "help machine run" is "machine run --help".
		if len(c.args) > 1 {
			c.args = append(append([]string(nil), c.args[1:]...), "--help")
			return c.run()
		}
		io.WriteString(c.stdout, longHelp)
		return nil
	case "machine", "vm":
		return c.machineCmd(c.args[1:])
	case "fake":
		c.noRecord = true
		return c.fakeCmd(c.args[1:])
	case "serve", "pack", "config":
		return errorf("'smolvm %s' is not supported by fake-smolvm", a)
	default:
		if looksLikeFlag(a) {
			name, _, _ := strings.Cut(a, "=")
			return &clapError{msg: fmt.Sprintf("unexpected argument '%s' found", name), usage: usageTop}
		}
		return unknownSubcommand(a, usageTop, topNames)
	}
}

func (c *cli) machineCmd(args []string) error {
	if len(args) == 0 {
		io.WriteString(c.stderr, machineHelp)
		return exitCode(2)
	}
	a := args[0]
	switch {
	case a == "help" && len(args) > 1:
		return c.machineCmd(append(append([]string(nil), args[1:]...), "--help"))
	case a == "-h" || a == "--help" || a == "help":
		io.WriteString(c.stdout, machineHelp)
		return nil
	case looksLikeFlag(a):
		name, _, _ := strings.Cut(a, "=")
		return &clapError{msg: fmt.Sprintf("unexpected argument '%s' found", name), usage: usageMach}
	}
	canon, ok := machineCommands[a]
	if !ok {
		return unknownSubcommand(a, usageMach, machineNames())
	}
	if canon == "" {
		c.command = a
		return errorf("'smolvm machine %s' is not supported by fake-smolvm", a)
	}
	c.command = canon
	spec := specs[canon]
	p, err := c.parseOrHelp(spec, args[1:])
	if p == nil {
		return err
	}
	c.machine = c.targetMachine(canon, p)
	// The entry is in the log from here on, even if this process is
	// killed before it ends.
	c.begin(c.begun)
	c.sweepEphemeral()
	if err := c.applyFaults(); err != nil {
		return err
	}
	return machineHandlers[canon](c, p)
}

// machineHandlers run each canonical machine subcommand the fake emulates.
var machineHandlers = map[string]func(*cli, *parsed) error{
	"create": (*cli).create, "start": (*cli).start, "stop": (*cli).stop,
	"delete": (*cli).delete, "status": (*cli).status, "ls": (*cli).ls,
	"exec": (*cli).exec, "shell": (*cli).shell, "cp": (*cli).cp,
	"data-dir": (*cli).dataDir, "run": (*cli).runMachine,
}

// parseOrHelp parses a subcommand's arguments. When they ask for help, it
// prints the help and returns a nil *parsed, as it does on an error.
func (c *cli) parseOrHelp(spec *cmdSpec, args []string) (*parsed, error) {
	p, err := parse(spec, args)
	if err != nil || !p.help {
		return p, err
	}
	io.WriteString(c.stdout, helpText(spec))
	return nil, nil
}

// targetMachine is the machine an invocation is about, for the recorder and
// the fault rules. create and run pick their generated name here.
func (c *cli) targetMachine(canon string, p *parsed) string {
	switch canon {
	case "ls":
		return ""
	case "cp":
		if len(p.args) == 2 {
			if m, _, ok := strings.Cut(p.args[0], ":"); ok {
				return m
			}
			if m, _, ok := strings.Cut(p.args[1], ":"); ok {
				return m
			}
		}
		return ""
	case "create":
		if n, ok := p.get("name"); ok {
			return n
		}
		return generatedName()
	case "run":
		// Without -d, -n is ignored and the machine's name is generated.
		if !p.has("detach") {
			return generatedName()
		}
		if n, ok := p.get("name"); ok {
			return n
		}
		return "default"
	}
	n, _ := machineName(p)
	return n
}
