// Package bottlecli implements the bottle command line: flags, wiring to
// package bottle, and the mapping of errors to exit codes (exitStatus, the
// one place that decides them).
package bottlecli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/smolbottle/smolbottle/bottle"
)

// Version is stamped by the Makefile with -ldflags -X.
var Version = "dev"

// command is one "bottle NAME" subcommand.
type command struct {
	name    string
	summary string
	run     func(c *cli, args []string) error
}

// commands is the dispatch table; a new subcommand is one line here.
var commands = []command{
	{"argv", "print the smolvm command line for agent, exec or cp", runArgv},
	{"exec", "run a shell script in a machine as a user", runExec},
	{"cp", "copy a file into (or, with --out, out of) a machine", runCp},
	{"up", "create and start a machine, print its name, leave it running", runUp},
	{"down", "stop and delete a machine", runDown},
	{"version", "print the version", runVersion},
	{"run", "launch a bottle, run the agent in it, tear it down", runRun},
	{"ls", "list bottles, their owners and whether the owners are alive", runLs},
	{"gc", "stop and delete the bottles whose owner is gone", runGc},
	{"pty-resize", "run a smolvm exec -it command on a PTY that follows this window", runPtyResize},
}

// cli is what a command may touch: its streams and its context.
type cli struct {
	ctx            context.Context
	stdin          io.Reader
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)
}

// Main runs the bottle CLI with os.Args and returns the process exit code.
func Main() int {
	ctx, stop := notifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	c := &cli{ctx: ctx, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, lookupEnv: os.LookupEnv}
	return c.main(os.Args[1:])
}

// interrupted is the cause of the context's cancellation when bottle got
// a signal; exitStatus turns it into 128+signal.
type interrupted struct{ sig syscall.Signal }

func (e interrupted) Error() string {
	switch e.sig {
	case syscall.SIGINT:
		return "interrupted"
	case syscall.SIGTERM:
		return "terminated"
	}
	return "interrupted by " + e.sig.String()
}

// notifyContext is signal.NotifyContext with the signal kept as the
// context's cause (an interrupted). Later signals are still caught (and
// ignored) until stop, so a second Ctrl-C does not cut teardown short.
func notifyContext(parent context.Context, sigs ...os.Signal) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	go func() {
		select {
		case s := <-ch:
			sig, _ := s.(syscall.Signal)
			cancel(interrupted{sig})
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		cancel(context.Canceled)
	}
}

// program is the smolvm program: $SMOLVM when set, else "smolvm".
func (c *cli) program() string {
	if p, ok := c.lookupEnv("SMOLVM"); ok && p != "" {
		return p
	}
	return bottle.DefaultProgram
}

func (c *cli) main(args []string) int {
	return c.exitStatus(c.dispatch(args))
}

const topUsage = `Usage: bottle COMMAND [FLAGS] [ARGS]

bottle runs coding agents inside smolvm microVMs ("bottles").
The smolvm program is $SMOLVM when set, else "smolvm" from PATH.

Commands:
`

func (c *cli) topHelp(w io.Writer) {
	fmt.Fprint(w, topUsage)
	for _, cmd := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprint(w, "\nRun 'bottle COMMAND -h' for a command's flags.\n")
}

func (c *cli) dispatch(args []string) error {
	if len(args) == 0 {
		c.topHelp(c.stderr)
		return errUsageShown
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		c.topHelp(c.stdout)
		return nil
	}
	for _, cmd := range commands {
		if cmd.name == args[0] {
			return cmd.run(c, args[1:])
		}
	}
	return usageErrorf("unknown command %q (see 'bottle -h')", args[0])
}

// Errors that decide the exit status.
var (
	// errHelpShown: help was requested and printed on stdout.
	errHelpShown = errors.New("help shown")
	// errUsageShown: usage was printed on stderr already.
	errUsageShown = errors.New("usage shown")
)

// usageError is a bad command line: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// exitCode passes a guest command's exit status through, silently.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// exitStatus is the one place that maps errors to exit codes: 0 success or
// help; 2 a usage or validation error; a guest command's own status (also
// when a signal made the guest command end); 128+n when signal n stopped
// bottle itself, with one line "bottle: interrupted" (plus what teardown
// could not undo); 1 any other failure, with one line "bottle: ..." on
// stderr.
func (c *cli) exitStatus(err error) int {
	var code exitCode
	var uerr *usageError
	var sig interrupted
	switch {
	case err == nil, errors.Is(err, errHelpShown):
		return 0
	case errors.Is(err, errUsageShown):
		return 2
	case errors.As(err, &code):
		return int(code)
	case errors.As(err, &uerr), errors.Is(err, bottle.ErrInvalid):
		c.errorLine(err)
		return 2
	case c.ctx != nil && errors.As(context.Cause(c.ctx), &sig):
		// The error is the interruption's consequence (context canceled
		// somewhere down the stack); only a failed teardown is news.
		msg := sig.Error()
		if w := interruptedWhere(err); w != "" {
			msg += " (" + w + ")"
		}
		var terr *bottle.TeardownError
		if errors.As(err, &terr) {
			msg += "; " + terr.Error()
		}
		c.errorLine(errors.New(msg))
		return 128 + int(sig.sig)
	}
	c.errorLine(err)
	return 1
}

// interruptedWhere says what bottle was doing when a signal cancelled its
// context, from the typed error of the step that failed: "launch b1:
// start", "copy prompt", or "" when no step says.
func interruptedWhere(err error) string {
	var lerr *bottle.LaunchError
	var serr *stepError
	switch {
	case errors.As(err, &lerr):
		return "launch " + lerr.Name + ": " + lerr.Step
	case errors.As(err, &serr):
		return serr.step
	}
	return ""
}

// stepError names a step of a command, for interruptedWhere.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

func (c *cli) errorLine(err error) {
	msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
	fmt.Fprintf(c.stderr, "bottle: %s\n", msg)
}

func runVersion(c *cli, args []string) error {
	fs := newFlags("version", "Usage: bottle version\n\nPrint bottle's version.\n")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("version: unexpected argument %q", fs.Arg(0))
	}
	fmt.Fprintf(c.stdout, "bottle %s\n", Version)
	return nil
}
