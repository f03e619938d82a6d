package bottlecli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/smolbottle/smolbottle/bottle"
	"github.com/smolbottle/smolbottle/internal/ptytest"
)

func newTestCLI() (*cli, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &cli{ctx: context.Background(), stdout: &out, stderr: &errb,
		lookupEnv: func(string) (string, bool) { return "", false }}, &out, &errb
}

func TestExitStatus(t *testing.T) {
	tests := []struct {
		name, reason string
		err          error
		want         int
		wantStderr   string
	}{
		{"nil", "success", nil, 0, ""},
		{"help", "help was printed on stdout", errHelpShown, 0, ""},
		{"usage-shown", "usage already on stderr", errUsageShown, 2, ""},
		{"usage", "a bad command line", usageErrorf("exec: want SCRIPT"), 2, "bottle: exec: want SCRIPT\n"},
		{"invalid", "a validation error is a usage error", fmt.Errorf("x: %w", bottle.ErrInvalid), 2, "bottle: x: invalid input\n"},
		{"guest", "a guest status passes through silently", exitCode(42), 42, ""},
		{"guest-wrapped", "even wrapped", fmt.Errorf("w: %w", exitCode(3)), 3, ""},
		{"runtime", "anything else is 1 with one line", errors.New("boom"), 1, "bottle: boom\n"},
		{"multiline", "joined errors still print one line", errors.Join(errors.New("a"), errors.New("b\n  c")), 1, "bottle: a; b; c\n"},
		{"smolvm", "a smolvm failure is 1", &bottle.SmolvmError{Argv: []string{"smolvm", "machine", "start", "--name", "x"},
			ExitCode: 1, Message: "vm not found: x", Kind: bottle.ErrNotFound}, 1, "bottle: smolvm machine start --name x: vm not found: x\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _, errb := newTestCLI()
			if got := c.exitStatus(tc.err); got != tc.want {
				t.Errorf("%s: exit %d, want %d", tc.reason, got, tc.want)
			}
			if errb.String() != tc.wantStderr {
				t.Errorf("%s: stderr %q, want %q", tc.reason, errb.String(), tc.wantStderr)
			}
		})
	}
}

func TestPrintArgvJSON(t *testing.T) {
	tests := []struct {
		name, reason string
		argv         []string
		want         string
		wantErr      bool
	}{
		{"html", "no HTML escaping: the output is for programs, byte-exact", []string{"a<b>&c"}, `["a<b>&c"]` + "\n", false},
		{"control", "control characters are JSON-escaped", []string{"a\nb\tc\x01"}, `["a\nb\tc\u0001"]` + "\n", false},
		{"unicode", "unicode stays as is", []string{"héllo ☃"}, `["héllo ☃"]` + "\n", false},
		{"invalid-utf8", "JSON cannot carry invalid UTF-8 exactly: refuse", []string{"a\xffb"}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, out, _ := newTestCLI()
			err := c.printArgv(tc.argv, true)
			if (err != nil) != tc.wantErr {
				t.Fatalf("%s: err = %v", tc.reason, err)
			}
			if out.String() != tc.want {
				t.Errorf("%s: got %q, want %q", tc.reason, out.String(), tc.want)
			}
		})
	}
}

func TestCommandsHaveHelp(t *testing.T) {
	for _, cmd := range commands {
		t.Run(cmd.name, func(t *testing.T) {
			c, out, _ := newTestCLI()
			if code := c.main([]string{cmd.name, "-h"}); code != 0 || out.Len() == 0 {
				t.Errorf("bottle %s -h: exit %d, %d bytes of help", cmd.name, code, out.Len())
			}
		})
	}
}

func TestParseOwner(t *testing.T) {
	tests := []struct {
		name, reason, in string
		want             bottle.FileOwner
		wantErr          bool
	}{
		{"node", "id -u; id -g print one number per line", "1000\n1000\n", bottle.FileOwner{UID: 1000, GID: 1000}, false},
		{"differ", "uid and gid are kept apart, in order", "1000\n100\n", bottle.FileOwner{UID: 1000, GID: 100}, false},
		{"one", "a missing gid is an error, not root", "1000\n", bottle.FileOwner{}, true},
		{"name", "a name is not a number", "node\nnode\n", bottle.FileOwner{}, true},
		{"too-big", "uids are 32-bit", "4294967296\n0\n", bottle.FileOwner{}, true},
		{"extra", "extra output is refused rather than guessed at", "1000\n1000\n1000\n", bottle.FileOwner{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseOwner(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("%s: parseOwner(%q) = %+v, %v; want %+v, error %v", tc.reason, tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestExitStatusInterrupted(t *testing.T) {
	// What bottle.Launch returns when start is cancelled, with and without
	// a failed teardown.
	startErr := &bottle.LaunchError{Name: "b1", Step: "start", Err: fmt.Errorf("run smolvm machine start --name b1: %w", context.Canceled)}
	promptErr := fmt.Errorf("w: %w", &stepError{"copy prompt", fmt.Errorf("run smolvm machine cp ...: %w", context.Canceled)})
	teardown := &bottle.TeardownError{Err: errors.New("teardown: delete: smolvm machine delete --name b1 -f: boom")}
	tests := []struct {
		name, reason string
		sig          syscall.Signal
		err          error
		want         int
		wantStderr   string
	}{
		{"launch-int", "Ctrl-C during launch: 130 and what was interrupted, not a context error",
			syscall.SIGINT, errors.Join(startErr, nil), 130, "bottle: interrupted (launch b1: start)\n"},
		{"launch-term", "SIGTERM: 143",
			syscall.SIGTERM, startErr, 143, "bottle: terminated (launch b1: start)\n"},
		{"hup", "SIGHUP: 129",
			syscall.SIGHUP, startErr, 129, "bottle: interrupted by hangup (launch b1: start)\n"},
		{"teardown-failed", "a machine teardown could not remove is news, the context error is not",
			syscall.SIGINT, errors.Join(startErr, teardown), 130,
			"bottle: interrupted (launch b1: start); teardown: delete: smolvm machine delete --name b1 -f: boom\n"},
		{"prompt", "a step the CLI names is said",
			syscall.SIGTERM, promptErr, 143, "bottle: terminated (copy prompt)\n"},
		{"exec", "an interrupted exec has nothing else to say",
			syscall.SIGINT, fmt.Errorf("run smolvm machine exec --name b1 ...: %w", context.Canceled), 130, "bottle: interrupted\n"},
		{"before-agent", "between launch and the agent, the cause itself",
			syscall.SIGINT, interrupted{syscall.SIGINT}, 130, "bottle: interrupted\n"},
		{"guest-code-wins", "the agent got the signal and exited by itself: its code passes through",
			syscall.SIGINT, exitCode(3), 3, ""},
		{"success", "a command that finished despite the signal succeeded",
			syscall.SIGINT, nil, 0, ""},
		{"usage", "a usage error stays one",
			syscall.SIGINT, usageErrorf("bad"), 2, "bottle: bad\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _, errb := newTestCLI()
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(interrupted{tc.sig})
			c.ctx = ctx
			if got := c.exitStatus(tc.err); got != tc.want {
				t.Errorf("%s: exit %d, want %d", tc.reason, got, tc.want)
			}
			if errb.String() != tc.wantStderr {
				t.Errorf("%s: stderr %q, want %q", tc.reason, errb.String(), tc.wantStderr)
			}
		})
	}
}

// TestNotifyContext sends bottle's own process a real signal.
func TestNotifyContext(t *testing.T) {
	ctx, stop := notifyContext(context.Background(), syscall.SIGUSR1)
	defer stop()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	<-ctx.Done()
	var sig interrupted
	if !errors.As(context.Cause(ctx), &sig) || sig.sig != syscall.SIGUSR1 {
		t.Errorf("cause %v, want the signal received", context.Cause(ctx))
	}
}

func TestResizeFIFO(t *testing.T) {
	term, err := ptytest.Open(24, 80)
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	tests := []struct {
		name, reason, env string
		onTerminal        bool
		wantFIFO, wantErr bool
	}{
		{"default", "forwarding is the default: no side channel", "", true, false, false},
		{"forward", "forward named explicitly", "forward", true, false, false},
		{"exec", "exec on a terminal: a fresh FIFO", "exec", true, true, false},
		{"exec-headless", "without a terminal there is no size to push", "exec", false, false, false},
		{"bad", "an unknown mode is a usage error, also headless", "Exec", false, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _, _ := newTestCLI()
			c.lookupEnv = func(k string) (string, bool) { return tc.env, k == resizeEnv && tc.env != "" }
			if tc.onTerminal {
				c.stdin = term.Slave()
			}
			fifo, err := c.resizeFIFO()
			var uerr *usageError
			if tc.wantErr != errors.As(err, &uerr) || (fifo != "") != tc.wantFIFO {
				t.Errorf("%s: resizeFIFO() = %q, %v", tc.reason, fifo, err)
			}
			if fifo != "" && !strings.HasPrefix(fifo, "/tmp/.bottle-resize-") {
				t.Errorf("FIFO %q: want one under the guest's /tmp", fifo)
			}
		})
	}
}
