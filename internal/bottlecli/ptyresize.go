package bottlecli

import (
	"fmt"
	"os"
	"os/exec"

	"github.com/smolbottle/smolbottle/bottle"
	"github.com/smolbottle/smolbottle/bottle/ptybridge"
)

const ptyResizeUsage = `Usage: bottle pty-resize MACHINE -- ARGV...

Run ARGV (normally "smolvm machine exec --name MACHINE -i -t ... -- CMD...")
on a fresh PTY sized like this terminal, with this terminal in raw mode, and
keep the PTY's size following the window; exit with ARGV's exit code (128+n
when signal n killed it). When stdin is not a terminal, ARGV simply runs.

BOTTLE_RESIZE=exec (default: forward) also pushes each size into MACHINE's
guest with a side-channel "ARGV[0] machine exec", for a smolvm that does not
forward window-size changes; ARGV's guest command is then wrapped so that it
applies those sizes to its own terminal. BOTTLE_DEBUG=1 prints the side
channel's failures, which otherwise never disturb the session.
`

func runPtyResize(c *cli, args []string) error {
	fs := newFlags("pty-resize", ptyResizeUsage)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) < 3 || rest[1] != "--" {
		return usageErrorf("pty-resize: want MACHINE -- ARGV... (see 'bottle pty-resize -h')")
	}
	machine, argv := rest[0], rest[2:]
	if err := bottle.ValidateName(machine); err != nil {
		return err
	}
	// No context: signals are forwarded by the bridge so the command can
	// end by itself and report its own exit code.
	code, err := c.bridge(machine)(exec.Command(argv[0], argv[1:]...))
	if err != nil {
		return err
	}
	return exitCode(code)
}

// bridge returns what runs a smolvm command whose guest session runs in
// machine behind the PTY-resize bridge, on bottle's own terminal (or
// plainly when stdin is not one, still forwarding SIGINT, SIGTERM and
// SIGHUP), and returns its exit code. It is bottle.RunOptions.Runner for
// the agent.
func (c *cli) bridge(machine string) func(cmd *exec.Cmd) (int, error) {
	return func(cmd *exec.Cmd) (int, error) {
		v, _ := c.lookupEnv(ptybridge.ModeEnv)
		mode, err := ptybridge.ParseMode(v)
		if err != nil {
			return -1, usageErrorf("%s: %v", ptybridge.ModeEnv, err)
		}
		stdin, _ := c.stdin.(*os.File)
		opts := ptybridge.Options{Stdin: stdin, Stdout: c.stdout, Stderr: c.stderr}
		if mode == ptybridge.Exec && ptybridge.IsTerminal(stdin) {
			sc := ptybridge.NewSideChannel(cmd.Args[0], machine)
			if cmd.Args, err = sc.Wrap(cmd.Args); err != nil {
				return -1, usageErrorf("%v", err)
			}
			opts.Resizer = sc
			if v, _ := c.lookupEnv("BOTTLE_DEBUG"); v != "" {
				opts.ResizeError = func(err error) {
					fmt.Fprintf(c.stderr, "bottle: %v\r\n", err) // raw mode: \r\n
				}
			}
		}
		return ptybridge.Run(cmd, opts)
	}
}
