package bottlecli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/smolbottle/smolbottle/bottle"
)

const runUsage = `Usage: bottle run [FLAGS] [-- AGENT_ARGS...]

Launch a bottle (create and start a machine), copy the --prompt file into
the agent user's home in the guest, run the agent there with AGENT_ARGS and
the prompt (claude: --append-system-prompt-file PATH; codex: "Read PATH and
follow the instructions in it."), then stop and delete the machine (unless
--keep), also after Ctrl-C or a failure. bottle exits with the agent's exit
code; interrupted before the agent runs (e.g. Ctrl-C while the machine
starts), it exits 130 (143 for SIGTERM) after the teardown.

When stdin is a terminal the agent gets a guest terminal that follows this
window's size (see 'bottle pty-resize -h'; BOTTLE_RESIZE=exec for a smolvm
that does not forward resizes). Otherwise it runs headless: bottle's stdin
is forwarded to it and its stdout and stderr stream live, separately and
without a size cap (smolvm machine exec -i). SIGINT, SIGTERM and SIGHUP
are passed on to the agent on both paths.

A failure of smolvm itself while the agent runs (the machine lost, say)
is reported as one 'bottle: ...' line and exit 1, apart from the agent's
own exit status.

The machine is labelled with its owner: this bottle process, its start
time and the host's boot id (with --keep, also as kept). If bottle is
killed outright (SIGKILL) and cannot tear the machine down, 'bottle ls'
shows it with a dead owner and 'bottle gc' removes it; a generated name is
printed on stderr before the launch, and a --name held by such a leftover
is reported with that way out.
`

func runRun(c *cli, args []string) error {
	fs := newFlags("run", runUsage)
	var spec bottle.Spec
	var env envList
	var secrets stringList
	var promptFile string
	var keep bool
	fs.StringVar(&spec.Name, "name", "", "machine `NAME` (default: bottle- and 8 hex digits, printed on stderr)")
	fs.StringVar(&spec.Image, "image", "", "`IMAGE` the machine runs (default: a bare machine)")
	fs.StringVar(&spec.Agent.Command, "agent", bottle.DefaultAgentCommand, "agent `CMD` in the guest; its name picks the prompt mode (codex or claude)")
	fs.StringVar(&promptFile, "prompt", "", "host `FILE` given to the agent as its prompt")
	fs.Var(&env, "env", "guest env `K=V` passed to every exec, in order (repeatable)")
	fs.Var(&secrets, "secret-env", "pass `KEY` from bottle's environment; the value never appears in argv (repeatable)")
	fs.StringVar(&spec.Agent.User, "user", bottle.DefaultAgentUser, "guest `USER` that runs the agent")
	fs.BoolVar(&keep, "keep", false, "leave the machine running afterwards (remove it with 'bottle down NAME')")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	agentArgs := fs.Args()
	if len(agentArgs) > 0 && agentArgs[0] != "--" && !dashDashBefore(args, len(agentArgs)) {
		return usageErrorf("run: unexpected argument %q: agent arguments go after --", agentArgs[0])
	}
	spec.Env = env
	if err := bottle.ValidateUser(spec.Agent.User); err != nil {
		return err
	}
	var err error
	if spec.Secrets, err = c.secrets(secrets); err != nil {
		return err
	}
	if promptFile != "" {
		if fi, err := os.Stat(promptFile); err != nil {
			return fmt.Errorf("--prompt: %w", err)
		} else if !fi.Mode().IsRegular() {
			return fmt.Errorf("--prompt: %s is not a regular file", promptFile)
		}
		// The guest path is decided before launch: the agent's argv carries it.
		spec.Agent.PromptPath = bottle.HomeFor(spec.Agent.User) + "/bottle-prompt" + promptExt(promptFile)
	}

	fifo, err := c.resizeFIFO() // a bad $BOTTLE_RESIZE launches nothing
	if err != nil {
		return err
	}
	spec.Keep = keep
	m, err := c.launch(spec)
	if err != nil {
		return err
	}
	code, err := c.runAgent(m, spec.Agent, promptFile, agentArgs, fifo)
	if keep {
		fmt.Fprintf(c.stderr, "bottle: kept machine %s; remove it with 'bottle down %s'\n", m.Name(), m.Name())
	} else if cerr := m.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("tear down %s: %w", m.Name(), cerr))
	}
	if err != nil {
		return err
	}
	return exitCode(code)
}

// launch launches spec's machine. A name it generates is printed on
// stderr first, so a bottle whose bottle process is killed can still be
// found by name. A name already taken by a bottle whose owner is gone is
// explained, with the way out.
func (c *cli) launch(spec bottle.Spec) (*bottle.Machine, error) {
	spec.Program = c.program()
	if spec.Name == "" {
		spec.Name = bottle.NewName()
		fmt.Fprintf(c.stderr, "bottle: launching machine %s\n", spec.Name)
	}
	m, err := bottle.Launch(c.ctx, spec)
	if errors.Is(err, bottle.ErrExists) {
		return nil, c.explainTaken(spec.Name, err)
	}
	return m, err
}

// explainTaken says whose machine holds name, when it is a bottle.
func (c *cli) explainTaken(name string, err error) error {
	list, lerr := bottle.List(c.ctx, c.program())
	if lerr != nil {
		return err
	}
	for _, b := range list {
		if b.Name != name {
			continue
		}
		switch {
		case b.Orphaned():
			return fmt.Errorf("machine %s is a bottle left behind by %s, which is gone: remove it with 'bottle gc' (or 'bottle down %s'): %w", name, b.Owner, name, err)
		case b.Kept:
			return fmt.Errorf("machine %s is a bottle kept running (remove it with 'bottle down %s'): %w", name, name, err)
		case b.Owner.Liveness() == bottle.Alive:
			return fmt.Errorf("machine %s is the bottle of %s, which is still running: %w", name, b.Owner, err)
		}
	}
	return err
}

// dashDashBefore reports whether args had a "--" right before its last n
// words (flag.Parse drops the "--" that ends the flags).
func dashDashBefore(args []string, n int) bool {
	i := len(args) - n - 1
	return i >= 0 && args[i] == "--"
}

// runAgent puts the prompt in place and runs the agent in m (under the
// resize side channel's wrapper when fifo is set).
func (c *cli) runAgent(m *bottle.Machine, agent bottle.Agent, promptFile string, args []string, fifo string) (int, error) {
	ctx := c.ctx
	if err := ctx.Err(); err != nil {
		return -1, context.Cause(ctx) // reported by exitStatus
	}
	if promptFile != "" {
		if err := copyPrompt(ctx, m, agent.User, promptFile, agent.PromptPath); err != nil {
			return -1, err
		}
	}
	// The agent's run is not cut short by bottle's context: the bridge
	// forwards SIGINT, SIGTERM and SIGHUP to it, and the agent's own exit
	// status is the answer.
	return m.RunAgent(context.WithoutCancel(ctx), args, bottle.RunOptions{
		TTY:        c.onTerminal(),
		ResizeFIFO: fifo,
		Stdin:      c.stdin,
		Stdout:     c.stdout,
		Stderr:     c.stderr,
		Runner:     c.bridge(bottle.Target{Program: c.program(), Name: m.Name()}, fifo),
	})
}

// copyPrompt copies the host prompt file to guest, in the agent user's
// home, owned by that user and readable by nobody else. smolvm cp writes as
// root and sets mode and owner itself, so no exec as root is needed: a
// guest whose exec runs as the agent user (the image model) works too.
func copyPrompt(ctx context.Context, m *bottle.Machine, user, host, guest string) error {
	owner, err := guestOwner(ctx, m, user)
	if err != nil {
		return &stepError{"copy prompt", err}
	}
	if err := m.CopyIn(ctx, host, guest, bottle.UploadOptions{Mode: 0o600, Owner: &owner}); err != nil {
		return &stepError{"copy prompt", err}
	}
	return nil
}

// guestOwner asks the guest for user's uid and gid, running as user
// itself, which both guest models allow.
func guestOwner(ctx context.Context, m *bottle.Machine, user string) (bottle.FileOwner, error) {
	script := "set -- " + bottle.ShellQuote([]string{user}) + `; id -u "$1" && id -g "$1"`
	res, err := m.Exec(ctx, script, user)
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("exit %d: %s", res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	if err != nil {
		return bottle.FileOwner{}, fmt.Errorf("look up %s's uid and gid: %w", user, err)
	}
	return parseOwner(string(res.Stdout))
}

// parseOwner reads the two lines of "id -u; id -g".
func parseOwner(out string) (bottle.FileOwner, error) {
	f := strings.Fields(out)
	if len(f) == 2 {
		uid, uerr := strconv.ParseUint(f[0], 10, 32)
		gid, gerr := strconv.ParseUint(f[1], 10, 32)
		if uerr == nil && gerr == nil {
			return bottle.FileOwner{UID: uint32(uid), GID: uint32(gid)}, nil
		}
	}
	return bottle.FileOwner{}, fmt.Errorf("id printed %q, want a uid and a gid", out)
}

// promptExt keeps a short, plain extension (".md") so agents that look at
// it see the same kind of file.
func promptExt(host string) string {
	ext := filepath.Ext(host)
	if len(ext) > 1 && len(ext) <= 8 && strings.Trim(ext[1:], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == "" {
		return ext
	}
	return ""
}
