package bottle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

// ExecResult is what a command run in the guest produced.
type ExecResult struct {
	ExitCode int
	Stdout   []byte
	Stderr   []byte
}

// Kinds of smolvm failure, matched with errors.Is on a *SmolvmError.
var (
	// ErrSmolvm: smolvm reported a runtime error of its own (exit 1, last
	// stderr line "Error: ..."). ErrNotFound and ErrExists failures match
	// it too.
	ErrSmolvm = errors.New("smolvm failed")
	// ErrNotFound: smolvm said "vm not found: NAME".
	ErrNotFound = errors.New("machine not found")
	// ErrExists: create was refused because the name is taken ("machine
	// 'NAME' already exists or is being created").
	ErrExists = errors.New("machine exists")
	// ErrUsage: smolvm's argument parser rejected the command line (exit 2,
	// a clap block starting "error: ").
	ErrUsage = errors.New("smolvm rejected the command line")
	// ErrExit: a command that must succeed (create, start, stop, delete,
	// cp) exited non-zero without smolvm's own error line.
	ErrExit = errors.New("smolvm exited non-zero")
)

// SmolvmError is a failed smolvm invocation.
type SmolvmError struct {
	Argv     []string
	ExitCode int
	Stderr   []byte
	// Message is smolvm's error line without its "Error: " or "error: "
	// prefix; for ErrExit, the last line of stderr.
	Message string
	// Kind is ErrSmolvm, ErrNotFound, ErrExists, ErrUsage or ErrExit.
	Kind error
}

func (e *SmolvmError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = fmt.Sprintf("exit status %d", e.ExitCode)
	}
	return fmt.Sprintf("%s: %s", summarize(e.Argv), msg)
}

// Is makes errors.Is(err, ErrSmolvm) and friends work.
func (e *SmolvmError) Is(target error) bool {
	return target == e.Kind || (target == ErrSmolvm && (e.Kind == ErrNotFound || e.Kind == ErrExists))
}

// summarize shortens argv for messages: the program, the subcommand and
// the machine ("smolvm machine exec --name b1 ..."), not the env or the
// (possibly long) guest command.
func summarize(argv []string) string {
	n := min(len(argv), 6)
	if i := slices.Index(argv, "--name"); i >= 0 && i+2 <= len(argv) {
		n = i + 2
	}
	if n < len(argv) {
		return ShellQuote(argv[:n]) + " ..."
	}
	return ShellQuote(argv)
}

// classify tells smolvm's own failures apart from a guest command's exit
// status. smolvm prints exactly one "Error: MESSAGE" line, as its last
// stderr line, and exits 1 on a runtime error; clap prints a block starting
// "error: " and exits 2 on a parse error. Limit: a guest command that
// itself exits 1 with a last stderr line starting "Error: " (or exits 2 with
// stderr starting "error: ") is indistinguishable and is reported as
// smolvm's failure.
func classify(argv []string, code int, stderr []byte) *SmolvmError {
	switch code {
	case 1:
		last := lastLine(stderr)
		msg, ok := strings.CutPrefix(last, "Error: ")
		if !ok {
			return nil
		}
		kind := ErrSmolvm
		switch {
		case strings.HasPrefix(msg, "vm not found"):
			kind = ErrNotFound
		case strings.HasPrefix(msg, "config operation failed: create machine: machine '") && strings.HasSuffix(msg, "' already exists or is being created"):
			kind = ErrExists
		}
		return &SmolvmError{Argv: argv, ExitCode: code, Stderr: stderr, Message: msg, Kind: kind}
	case 2:
		first, _, _ := strings.Cut(string(stderr), "\n")
		msg, ok := strings.CutPrefix(first, "error: ")
		if !ok {
			return nil
		}
		return &SmolvmError{Argv: argv, ExitCode: code, Stderr: stderr, Message: msg, Kind: ErrUsage}
	}
	return nil
}

func lastLine(b []byte) string {
	s := strings.TrimRight(string(b), "\r\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSuffix(s, "\r")
}

// waitDelay bounds how long Wait waits for output pipes after the child
// exits or is killed, in case something outside its process group still
// holds them.
const waitDelay = 2 * time.Second

// command returns an *exec.Cmd for inv: argv[0] is looked up on PATH, the
// child's environment is the current one plus inv.Env (secrets), and the
// child runs in its own process group, which is killed (SIGKILL) when ctx is
// done, so grandchildren holding the output pipes die too and cancellation
// returns promptly.
//
// Callers that attach a terminal may replace SysProcAttr: with Setsid the
// whole session's group is still killed; with nil only the child is.
func (inv Invocation) command(ctx context.Context) *exec.Cmd {
	cmd := exec.CommandContext(ctx, inv.Argv[0], inv.Argv[1:]...)
	if len(inv.Env) > 0 {
		cmd.Env = append(os.Environ(), inv.Env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if a := cmd.SysProcAttr; a != nil && (a.Setsid || a.Setpgid && a.Pgid == 0) {
			return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		return cmd.Process.Kill()
	}
	cmd.WaitDelay = waitDelay
	return cmd
}

// Run runs inv with stdin from /dev/null and captures both streams. The
// error is non-nil when smolvm could not be run, when ctx ended first, or
// when smolvm itself failed (a *SmolvmError, see classify); a guest command
// that exited non-zero is a result with that exit code and a nil error.
func Run(ctx context.Context, inv Invocation) (ExecResult, error) {
	res, _, err := run(ctx, inv)
	return res, err
}

// run also reports whether the process was started at all, which tells
// Launch whether a failed create may have left a machine behind.
func run(ctx context.Context, inv Invocation) (res ExecResult, started bool, err error) {
	if len(inv.Argv) == 0 {
		return ExecResult{}, false, errors.New("run: empty argv")
	}
	var stdout, stderr bytes.Buffer
	cmd := inv.command(ctx)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		return ExecResult{ExitCode: -1}, false, fmt.Errorf("run %s: %w", summarize(inv.Argv), err)
	}
	code, err := waitCode(cmd, cmd.Wait())
	res = ExecResult{ExitCode: code, Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	if cerr := ctx.Err(); cerr != nil {
		return res, true, fmt.Errorf("run %s: %w", summarize(inv.Argv), cerr)
	}
	if err != nil {
		return res, true, fmt.Errorf("run %s: %w", summarize(inv.Argv), err)
	}
	if serr := classify(inv.Argv, res.ExitCode, res.Stderr); serr != nil {
		return res, true, serr
	}
	return res, true, nil
}

// runOK runs a command that must succeed: any non-zero exit is an error.
func runOK(ctx context.Context, inv Invocation) (ExecResult, bool, error) {
	res, started, err := run(ctx, inv)
	if err == nil && res.ExitCode != 0 {
		err = &SmolvmError{Argv: inv.Argv, ExitCode: res.ExitCode, Stderr: res.Stderr,
			Message: lastLine(res.Stderr), Kind: ErrExit}
	}
	return res, started, err
}
