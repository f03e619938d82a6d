package bottlecli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/smolbottle/smolbottle/bottle"
)

const argvUsage = `Usage: bottle argv agent|exec|cp [FLAGS] [ARGS]

Print the smolvm command line bottle would run, without running anything:
one shell-quoted line (a POSIX shell splits it back into the same words),
or with --json exactly one JSON array of strings.

  agent   the coding agent (claude or codex) as the agent user
  exec    /bin/sh -c SCRIPT as a user
  cp      smolvm machine cp, in or (with --out) out

Run 'bottle argv SUBCOMMAND -h' for its flags.
`

func runArgv(c *cli, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, argvUsage)
		return errUsageShown
	}
	switch args[0] {
	case "-h", "-help", "--help":
		fmt.Fprint(c.stdout, argvUsage)
		return errHelpShown
	case "agent":
		return runArgvAgent(c, args[1:])
	case "exec":
		return runArgvExec(c, args[1:])
	case "cp":
		return runArgvCp(c, args[1:])
	}
	return usageErrorf("argv: unknown subcommand %q (want agent, exec or cp)", args[0])
}

// agentFlags are the flags that describe the agent.
type agentFlags struct {
	command, mode, promptPath, user string
	noTTY, stream                   bool
}

func (af *agentFlags) register(fs *flagSet) {
	fs.StringVar(&af.command, "agent", bottle.DefaultAgentCommand, "agent `COMMAND` in the guest")
	fs.StringVar(&af.mode, "prompt-mode", "", "`MODE`: claude_append_file or codex_read_prompt_file (default: codex_read_prompt_file for codex, else claude_append_file)")
	fs.StringVar(&af.promptPath, "prompt-path", "", "guest `PATH` of the prompt file (none: no prompt arguments)")
	fs.StringVar(&af.user, "user", bottle.DefaultAgentUser, "`USER` that runs the agent")
	fs.BoolVar(&af.noTTY, "no-tty", false, "no guest terminal and no stdin: the original's buffered form (no -i -t)")
	fs.BoolVar(&af.stream, "stream", false, "the headless form 'bottle run' uses without a terminal: stdin forwarded, output streamed (-i)")
}

// stdio is the form the flags ask for: a terminal unless told otherwise.
func (af *agentFlags) stdio() (bottle.Stdio, error) {
	switch {
	case af.noTTY && af.stream:
		return 0, usageErrorf("argv agent: --no-tty and --stream are two different forms: give one")
	case af.stream:
		return bottle.Streamed, nil
	case af.noTTY:
		return bottle.Buffered, nil
	}
	return bottle.TTY, nil
}

func (af *agentFlags) agent() bottle.Agent {
	return bottle.Agent{Command: af.command, PromptMode: bottle.PromptMode(af.mode), PromptPath: af.promptPath, User: af.user}
}

const argvAgentUsage = `Usage: bottle argv agent --name NAME [FLAGS] [-- ARGS...]

Print the command line that runs the agent in machine NAME, as user node
unless --user says otherwise, with ARGS passed to the agent: by default
with a guest terminal (-i -t), as 'bottle run' on a terminal. --no-tty
prints the original's form without a terminal (smolvm buffers the output
until the agent ends); --stream prints the form 'bottle run' uses without
a terminal (-i: stdin forwarded, output streamed live).
`

func runArgvAgent(c *cli, args []string) error {
	fs := newFlags("argv agent", argvAgentUsage)
	var tf targetFlags
	var af agentFlags
	tf.register(fs, true)
	af.register(fs)
	asJSON := fs.Bool("json", false, "print one JSON array of strings")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	t, err := tf.target(c)
	if err != nil {
		return err
	}
	stdio, err := af.stdio()
	if err != nil {
		return err
	}
	inv, err := bottle.AgentArgv(t, af.agent(), fs.Args(), stdio)
	if err != nil {
		return err
	}
	return c.printArgv(inv.Argv, *asJSON)
}

const argvExecUsage = `Usage: bottle argv exec --name NAME [FLAGS] -- SCRIPT

Print the command line that runs /bin/sh -c SCRIPT in machine NAME as
--user (default node).
`

func runArgvExec(c *cli, args []string) error {
	fs := newFlags("argv exec", argvExecUsage)
	var ef execFlags
	ef.register(fs)
	asJSON := fs.Bool("json", false, "print one JSON array of strings")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	t, script, err := ef.resolve(c, fs)
	if err != nil {
		return err
	}
	inv, err := bottle.ExecArgv(t, script, ef.user)
	if err != nil {
		return err
	}
	return c.printArgv(inv.Argv, *asJSON)
}

// execFlags are the flags of a script run: the machine, what every exec
// re-passes, and the user.
type execFlags struct {
	tf   targetFlags
	user string
}

func (ef *execFlags) register(fs *flagSet) {
	ef.tf.register(fs, true)
	fs.StringVar(&ef.user, "user", bottle.DefaultAgentUser, "run the script as `USER`")
}

// resolve returns the target and the one SCRIPT, after parsing.
func (ef *execFlags) resolve(c *cli, fs *flagSet) (bottle.Target, string, error) {
	if fs.NArg() != 1 {
		return bottle.Target{}, "", usageErrorf("%s: want exactly one SCRIPT after the flags, got %d arguments (quote the script)", fs.Name(), fs.NArg())
	}
	t, err := ef.tf.target(c)
	return t, fs.Arg(0), err
}

const argvCpUsage = `Usage: bottle argv cp --name NAME [--out] [--json] SRC DST

Print the smolvm machine cp command line. Without --out, SRC is a host
path and DST a guest path (upload); with --out, SRC is a guest path and
DST a host path (download). An upload from a host path containing ':'
has no direct command line: 'bottle cp' stages such a file first.
`

func runArgvCp(c *cli, args []string) error {
	fs := newFlags("argv cp", argvCpUsage)
	var cf cpFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "print one JSON array of strings")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	t, src, dst, err := cf.resolve(c, fs)
	if err != nil {
		return err
	}
	var inv bottle.Invocation
	if cf.out {
		inv, err = bottle.CopyOutArgv(t, src, dst)
	} else {
		inv, err = bottle.CopyInArgv(t, src, dst, bottle.UploadOptions{})
	}
	if errors.Is(err, bottle.ErrColonPath) {
		// No single command line can do this: a bad argument, exit 2.
		return usageErrorf("%v; 'bottle cp' stages such a file under a colon-free name", err)
	}
	if err != nil {
		return err
	}
	return c.printArgv(inv.Argv, *asJSON)
}

// cpFlags are the flags of a copy: the machine and the direction.
type cpFlags struct {
	tf  targetFlags
	out bool
}

func (cf *cpFlags) register(fs *flagSet) {
	cf.tf.register(fs, false)
	fs.BoolVar(&cf.out, "out", false, "copy out of the machine: SRC is the guest path, DST the host path")
}

// resolve returns the target and the two paths SRC and DST, after parsing.
func (cf *cpFlags) resolve(c *cli, fs *flagSet) (t bottle.Target, src, dst string, err error) {
	if fs.NArg() != 2 {
		return t, "", "", usageErrorf("%s: want SRC and DST, got %d arguments", fs.Name(), fs.NArg())
	}
	t, err = cf.tf.target(c)
	return t, fs.Arg(0), fs.Arg(1), err
}

// printArgv prints argv as one JSON array or one shell-quoted line.
func (c *cli) printArgv(argv []string, asJSON bool) error {
	if !asJSON {
		fmt.Fprintln(c.stdout, bottle.ShellQuote(argv))
		return nil
	}
	for _, a := range argv {
		if !utf8.ValidString(a) {
			return fmt.Errorf("argument %q is not valid UTF-8, which JSON cannot carry exactly; drop --json", a)
		}
	}
	b, err := marshalArgv(argv)
	if err != nil {
		return err
	}
	_, err = c.stdout.Write(b)
	return err
}

func marshalArgv(argv []string) ([]byte, error) {
	if argv == nil {
		argv = []string{}
	}
	return marshalJSON(argv, "")
}

// marshalJSON encodes v on one line (indent "") or indented, without HTML
// escaping: the output is for programs, byte-exact.
func marshalJSON(v any, indent string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// printJSON prints v as indented JSON.
func (c *cli) printJSON(v any) error {
	b, err := marshalJSON(v, "  ")
	if err != nil {
		return err
	}
	_, err = c.stdout.Write(b)
	return err
}
