package bottle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
)

// Bottle is a running sandbox. Its operations mirror the original's
// (docs/original.md, The operations).
type Bottle interface {
	// Name is the machine name.
	Name() string
	// RunAgent runs the agent with args and returns its in-guest exit code.
	RunAgent(ctx context.Context, args []string, opts RunOptions) (int, error)
	// Exec runs "/bin/sh -c script" as user ("" means DefaultAgentUser)
	// and captures the result. A non-zero guest exit is not an error.
	Exec(ctx context.Context, script, user string) (ExecResult, error)
	// CopyIn copies a host file into the guest, with the mode and owner
	// opts gives it (the zero value keeps smolvm's defaults).
	CopyIn(ctx context.Context, hostPath, guestPath string, opts UploadOptions) error
	// CopyOut copies a guest file to the host.
	CopyOut(ctx context.Context, guestPath, hostPath string) error
	// Close releases the bottle; it is idempotent and safe to call
	// concurrently. For a launched bottle it stops and deletes the machine.
	Close() error
}

// RunOptions says how RunAgent connects the agent to the user.
type RunOptions struct {
	// TTY gives the agent a guest terminal ("-i -t", see TTY). Without it
	// the agent's stdin is forwarded and its stdout and stderr stream live
	// ("-i", see Streamed): nothing is held back, nothing is capped.
	TTY bool
	// ResizeFIFO, with TTY, runs the agent under the resize side channel's
	// wrapper (see ResizeWrap): sizes written into this guest FIFO with
	// ResizeArgv apply to the agent's terminal, for a smolvm that does not
	// forward window-size changes. "" runs the agent's argv unchanged.
	ResizeFIFO string
	// Stdin, Stdout and Stderr default to the process's own.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Runner, if set, runs the agent's smolvm command and returns its exit
	// status (128+n when signal n killed it) instead of cmd.Run: the bottle
	// CLI passes the PTY-resize bridge, which puts a TTY command on a
	// terminal that follows the user's window and forwards signals on both
	// paths. cmd comes with its stdio set and no SysProcAttr. A Runner may
	// connect Stdin and Stdout elsewhere (to a terminal) but must keep
	// Stderr: it carries smolvm's own messages, whose last line tells a
	// smolvm failure from the agent's exit status.
	Runner func(cmd *exec.Cmd) (int, error)
}

// Machine is a Bottle backed by a smolvm machine.
type Machine struct {
	target  Target // only GuestUser changes (once), under mu
	agent   Agent
	mu      sync.Mutex
	cleanup *cleanupStack // nil when the machine is not owned

	closeOnce sync.Once
	closeErr  error
}

var _ Bottle = (*Machine)(nil)

// Open returns a handle on an existing machine without creating or starting
// anything; its Close does nothing. When t.GuestUser is empty, the first
// RunAgent or Exec asks the guest ("smolvm machine exec --name NAME --
// id -un").
func Open(t Target, a Agent) (*Machine, error) {
	if err := t.validate(); err != nil {
		return nil, err
	}
	a = a.withDefaults()
	if err := a.validate(); err != nil {
		return nil, err
	}
	if err := ValidateUser(a.User); err != nil {
		return nil, fmt.Errorf("agent user: %w", err)
	}
	return &Machine{target: cloneTarget(t), agent: a}, nil
}

func cloneTarget(t Target) Target {
	t.Env = append([]EnvVar(nil), t.Env...)
	if t.Secrets != nil {
		s := make(map[string]string, len(t.Secrets))
		for k, v := range t.Secrets {
			s[k] = v
		}
		t.Secrets = s
	}
	return t
}

// Name returns the machine name.
func (m *Machine) Name() string { return m.target.Name }

// GuestUser returns the user smolvm exec runs as in this guest, asking the
// guest once when it is not known yet.
func (m *Machine) GuestUser(ctx context.Context) (string, error) {
	t, err := m.execTarget(ctx)
	return t.GuestUser, err
}

// execTarget returns the target an exec addresses, with the default user
// known (asking the guest once). It shares Env and Secrets with m, which
// the builders only read, so an exec copies nothing.
func (m *Machine) execTarget(ctx context.Context) (Target, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.target.GuestUser == "" {
		u, err := probeUser(ctx, m.target)
		if err != nil {
			return Target{}, err
		}
		m.target.GuestUser = u
	}
	return m.target, nil
}

// cpTarget is what a copy addresses: the program and the name, which
// never change, so no lock is needed.
func (m *Machine) cpTarget() Target {
	return Target{Program: m.target.Program, Name: m.target.Name}
}

// probeUser runs "id -un" with smolvm's default exec user.
func probeUser(ctx context.Context, t Target) (string, error) {
	inv, err := probeArgv(t)
	if err != nil {
		return "", err
	}
	res, err := Run(ctx, inv)
	if err != nil {
		return "", fmt.Errorf("probe default user: %w", err)
	}
	user := strings.TrimSpace(string(res.Stdout))
	if res.ExitCode != 0 {
		return "", fmt.Errorf("probe default user: %s exited %d: %s", summarize(inv.Argv), res.ExitCode, lastLine(res.Stderr))
	}
	if err := ValidateUser(user); err != nil {
		return "", fmt.Errorf("probe default user: guest answered %q: %w", user, err)
	}
	return user, nil
}

// RunAgent runs the agent and returns its exit code. A failure of smolvm
// itself (see classify) is a *SmolvmError, on both paths: smolvm's own
// stderr is read apart from the agent's output on a terminal, and shares
// the stream with the agent's stderr without one.
func (m *Machine) RunAgent(ctx context.Context, args []string, opts RunOptions) (int, error) {
	t, err := m.execTarget(ctx)
	if err != nil {
		return -1, err
	}
	stdio := Streamed
	if opts.TTY {
		stdio = TTY
	}
	inv, err := AgentArgv(t, m.agent, args, stdio)
	if err != nil {
		return -1, err
	}
	if opts.ResizeFIFO != "" {
		if !opts.TTY {
			return -1, invalidf("a resize FIFO needs a terminal (RunOptions.TTY)")
		}
		if inv, err = ResizeWrap(inv, opts.ResizeFIFO); err != nil {
			return -1, err
		}
	}
	cmd := inv.command(ctx)
	// The agent talks to the user's terminal: it stays in the terminal's
	// foreground process group (a background group reading the terminal
	// would be stopped by SIGTTIN), so only the child is killed on cancel;
	// a Runner sets its own group or session.
	cmd.SysProcAttr = nil
	tail := &tailWriter{w: or[io.Writer](opts.Stderr, os.Stderr)}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = or[io.Reader](opts.Stdin, os.Stdin), or[io.Writer](opts.Stdout, os.Stdout), tail
	var code int
	if opts.Runner != nil {
		code, err = opts.Runner(cmd)
	} else {
		code, err = waitCode(cmd, cmd.Run())
	}
	if cerr := ctx.Err(); cerr != nil {
		return -1, fmt.Errorf("run agent in %s: %w", m.Name(), cerr)
	}
	if err != nil {
		return -1, fmt.Errorf("run agent in %s: %w", m.Name(), err)
	}
	if serr := classify(inv.Argv, code, tail.bytes()); serr != nil {
		return code, serr
	}
	return code, nil
}

// waitCode turns what cmd's Run or Wait returned into the command's exit
// status (128+n when signal n killed it). The error is nil whenever the
// command ran and exited: ErrWaitDelay means it exited 0 but something it
// started kept the pipes open, and the status stands.
func waitCode(cmd *exec.Cmd, err error) (int, error) {
	var exitErr *exec.ExitError
	if err != nil && !errors.Is(err, exec.ErrWaitDelay) && !errors.As(err, &exitErr) {
		return -1, err
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return cmd.ProcessState.ExitCode(), nil
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// tailWriter passes writes through and keeps the last bytes, enough for
// smolvm's final error line.
type tailWriter struct {
	w   io.Writer
	buf []byte
}

const tailKeep = 4096

// Write trims the kept bytes only once they reach twice tailKeep, in place,
// so a chatty stderr costs one small copy per tailKeep bytes, not an
// allocation per write.
func (t *tailWriter) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*tailKeep {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailKeep:]...)
	}
	return t.w.Write(p)
}

// bytes returns the last tailKeep bytes written (or all, if fewer).
func (t *tailWriter) bytes() []byte {
	return t.buf[max(0, len(t.buf)-tailKeep):]
}

// Exec runs "/bin/sh -c script" as user ("" means DefaultAgentUser), with
// the machine's guest env and secrets.
func (m *Machine) Exec(ctx context.Context, script, user string) (ExecResult, error) {
	if _, err := checkExec(user, script); err != nil {
		return ExecResult{}, err // before the default-user probe runs anything
	}
	t, err := m.execTarget(ctx)
	if err != nil {
		return ExecResult{}, err
	}
	inv, err := ExecArgv(t, script, user)
	if err != nil {
		return ExecResult{}, err
	}
	return Run(ctx, inv)
}

// CopyIn copies the host file hostPath to guestPath, with the mode and
// owner opts gives it (set by smolvm at upload, with no exec in the guest;
// see CopyInArgv). A host path with ":" is staged under a colon-free
// temporary name first (a hard link, else a copy), so smolvm cannot
// mistake it for MACHINE:PATH.
func (m *Machine) CopyIn(ctx context.Context, hostPath, guestPath string, opts UploadOptions) error {
	src := hostPath
	if strings.Contains(hostPath, ":") {
		staged, cleanup, err := stage(hostPath)
		if err != nil {
			return fmt.Errorf("copy %s into %s: %w", hostPath, m.Name(), err)
		}
		defer cleanup()
		src = staged
	}
	inv, err := CopyInArgv(m.cpTarget(), src, guestPath, opts)
	if err != nil {
		return err
	}
	if _, _, err := runOK(ctx, inv); err != nil {
		return fmt.Errorf("copy %s into %s: %w", hostPath, m.Name(), err)
	}
	return nil
}

// CopyOut copies the guest file guestPath to hostPath.
func (m *Machine) CopyOut(ctx context.Context, guestPath, hostPath string) error {
	inv, err := CopyOutArgv(m.cpTarget(), guestPath, hostPath)
	if err != nil {
		return err
	}
	if _, _, err := runOK(ctx, inv); err != nil {
		return fmt.Errorf("copy %s out of %s: %w", guestPath, m.Name(), err)
	}
	return nil
}

// Close tears the machine down (stop, then delete) if Launch created it,
// once; later and concurrent calls wait for that and return its result.
func (m *Machine) Close() error {
	m.closeOnce.Do(func() {
		if m.cleanup != nil {
			m.closeErr = m.cleanup.run()
		}
	})
	return m.closeErr
}
