package bottlecli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

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
	target := bottle.Target{Program: argv[0], Name: machine}
	fifo, err := c.resizeFIFO()
	if err != nil {
		return err
	}
	if fifo != "" {
		inv, err := bottle.ResizeWrap(bottle.Invocation{Argv: argv}, fifo)
		if err != nil {
			return err
		}
		argv = inv.Argv
	}
	// No context: signals are forwarded by the bridge so the command can
	// end by itself and report its own exit code.
	code, err := c.bridge(target, fifo)(exec.Command(argv[0], argv[1:]...))
	if err != nil {
		return err
	}
	return exitCode(code)
}

// resizeEnv names the CLI's choice of how the guest learns window sizes:
// "forward" (smolvm forwards them; the default) or "exec" (bottle's resize
// side channel, bottle.ResizeArgv, for a smolvm that does not).
const resizeEnv = "BOTTLE_RESIZE"

// resizeFIFO returns a fresh guest FIFO for the resize side channel when
// $BOTTLE_RESIZE asks for it and bottle's stdin is a terminal, else "".
func (c *cli) resizeFIFO() (string, error) {
	v, _ := c.lookupEnv(resizeEnv)
	switch v {
	case "", "forward":
		return "", nil
	case "exec":
		if !c.onTerminal() {
			return "", nil
		}
		return bottle.ResizeFIFO(), nil
	}
	return "", usageErrorf("%s: unknown resize mode %q (want \"forward\" or \"exec\")", resizeEnv, v)
}

// onTerminal reports whether bottle's stdin is a terminal: the bridge's
// TTY path.
func (c *cli) onTerminal() bool {
	stdin, _ := c.stdin.(*os.File)
	return ptybridge.IsTerminal(stdin)
}

// bridge returns what runs a smolvm command whose guest session runs in
// target's machine behind the PTY-resize bridge, on bottle's own terminal
// (or plainly when stdin is not one, still forwarding SIGINT, SIGTERM and
// SIGHUP), and returns its exit code: bottle.RunOptions.Runner for the
// agent. With a resize FIFO, each size is also pushed into the guest with
// bottle.ResizeArgv.
func (c *cli) bridge(target bottle.Target, fifo string) func(cmd *exec.Cmd) (int, error) {
	return func(cmd *exec.Cmd) (int, error) {
		stdin, _ := c.stdin.(*os.File)
		opts := ptybridge.Options{Stdin: stdin, Stdout: c.stdout, Stderr: c.stderr}
		if fifo != "" {
			opts.Resizer = sideChannel{target: target, fifo: fifo}
			if v, _ := c.lookupEnv("BOTTLE_DEBUG"); v != "" {
				opts.ResizeError = func(err error) {
					fmt.Fprintf(c.stderr, "bottle: %v\r\n", err) // raw mode: \r\n
				}
			}
		}
		return ptybridge.Run(cmd, opts)
	}
}

// sideChannel is the bridge's Resizer for the resize side channel.
type sideChannel struct {
	target bottle.Target
	fifo   string
}

func (s sideChannel) Resize(ctx context.Context, size ptybridge.Size) error {
	inv, err := bottle.ResizeArgv(s.target, s.fifo, size.Rows, size.Cols)
	if err != nil {
		return err
	}
	res, err := bottle.Run(ctx, inv)
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("exit %d: %s", res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	if err != nil {
		return fmt.Errorf("resize side channel: %w", err)
	}
	return nil
}
