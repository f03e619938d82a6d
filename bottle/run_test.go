package bottle

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// running returns a stub with machine "b1" running.
func running(t *testing.T, cfg stubConfig) *stub {
	t.Helper()
	s := newStub(t, cfg)
	if err := os.WriteFile(filepath.Join(s.dir, "machines", "b1"), []byte("running"), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRunClassifies(t *testing.T) {
	clap := "error: unexpected argument '-n' found\n\nUsage: smolvm machine exec [OPTIONS] <COMMAND>...\n\nFor more information, try '--help'.\n"
	tests := []struct {
		name, reason string
		act          stubAction
		wantCode     int
		wantKind     error // nil: a plain guest result
		wantMsg      string
	}{
		{"guest-exit-3", "a guest command's non-zero exit is a result, not an error",
			stubAction{Exit: 3, Stdout: "out\n", Stderr: "err\n"}, 3, nil, ""},
		{"guest-exit-1", "exit 1 without smolvm's Error: line is still the guest's",
			stubAction{Exit: 1, Stderr: "grep: no match\n"}, 1, nil, ""},
		{"guest-error-not-last", "an Error: line that is not the last line is the guest's",
			stubAction{Exit: 1, Stderr: "Error: from the guest\nmore output\n"}, 1, nil, ""},
		{"binary-stdout", "bytes pass exactly",
			stubAction{Stdout: "\x7fELF\x02\x01\x00\r\n"}, 0, nil, ""},
		{"smolvm-not-found", "vm not found is a smolvm failure of kind ErrNotFound",
			stubAction{Exit: 1, Stderr: "Error: vm not found: b1\n"}, 1, ErrNotFound, "vm not found: b1"},
		{"smolvm-runtime", "exit 1 and a last line Error: ... is smolvm's own failure",
			stubAction{Exit: 1, Stderr: "Error: agent operation failed: vm exec: failed to spawn command: No such file or directory (os error 2)\n"},
			1, ErrSmolvm, "agent operation failed: vm exec: failed to spawn command"},
		{"smolvm-after-progress", "progress chatter before smolvm's final Error: line",
			stubAction{Exit: 1, Stderr: "Starting...\nError: vm not found: b1\n"}, 1, ErrNotFound, "vm not found: b1"},
		{"smolvm-exists", "create's taken-name refusal is a smolvm failure of kind ErrExists",
			stubAction{Exit: 1, Stderr: "Error: config operation failed: create machine: machine 'b1' already exists or is being created\n"},
			1, ErrExists, "config operation failed: create machine: machine 'b1'"},
		{"smolvm-exists-other", "another error that merely mentions 'already exists' is not ErrExists",
			stubAction{Exit: 1, Stderr: "Error: agent operation failed: write file: /x already exists\n"},
			1, ErrSmolvm, "agent operation failed: write file"},
		{"clap", "exit 2 with a clap block is a usage error",
			stubAction{Exit: 2, Stderr: clap}, 2, ErrUsage, "unexpected argument '-n' found"},
		{"guest-exit-2", "exit 2 without a clap block is the guest's",
			stubAction{Exit: 2, Stderr: "usage: foo\n"}, 2, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := running(t, stubConfig{Actions: map[string]stubAction{"exec": tc.act}})
			inv, err := ExecArgv(s.target("b1"), "x", "node")
			if err != nil {
				t.Fatal(err)
			}
			res, err := Run(context.Background(), inv)
			if res.ExitCode != tc.wantCode {
				t.Errorf("%s: exit code %d, want %d", tc.reason, res.ExitCode, tc.wantCode)
			}
			if string(res.Stdout) != tc.act.Stdout || string(res.Stderr) != tc.act.Stderr {
				t.Errorf("%s: got stdout %q stderr %q, want %q %q", tc.reason, res.Stdout, res.Stderr, tc.act.Stdout, tc.act.Stderr)
			}
			if tc.wantKind == nil {
				if err != nil {
					t.Fatalf("%s: unexpected error %v", tc.reason, err)
				}
				return
			}
			var serr *SmolvmError
			if !errors.As(err, &serr) || !errors.Is(err, tc.wantKind) {
				t.Fatalf("%s: err = %v, want a *SmolvmError of kind %v", tc.reason, err, tc.wantKind)
			}
			if tc.wantKind != ErrExists && errors.Is(err, ErrExists) {
				t.Errorf("%s: err = %v is ErrExists", tc.reason, err)
			}
			if serr.Message != tc.wantMsg && !strings.HasPrefix(serr.Message, tc.wantMsg) {
				t.Errorf("%s: message %q, want %q", tc.reason, serr.Message, tc.wantMsg)
			}
			if diff := cmp.Diff(inv.Argv, serr.Argv); diff != "" {
				t.Errorf("error argv (-want +got):\n%s", diff)
			}
			if serr.ExitCode != tc.wantCode || string(serr.Stderr) != tc.act.Stderr {
				t.Errorf("error carries exit %d stderr %q", serr.ExitCode, serr.Stderr)
			}
			if tc.wantKind == ErrUsage && errors.Is(err, ErrSmolvm) {
				t.Errorf("a usage error must not match ErrSmolvm")
			}
		})
	}
}

func TestRunCancelKillsProcessGroup(t *testing.T) {
	checkGoroutines(t)
	s := running(t, stubConfig{Actions: map[string]stubAction{"exec": {Hang: true, Grandchild: true}}})
	inv, err := ExecArgv(s.target("b1"), "sleep 1000", "node")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, inv)
		done <- err
	}()
	s.waitHanging()
	cancel()
	// The grandchild holds stdout and stderr: Run returns only because
	// the whole process group is killed (or WaitDelay gives up).
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel: %v, want context.Canceled", err)
	}
	s.assertNoProcesses()
}

func TestRunMissingProgram(t *testing.T) {
	inv, err := ExecArgv(Target{Program: filepath.Join(t.TempDir(), "no-such-smolvm"), Name: "b1"}, "true", "node")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), inv)
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "no-such-smolvm machine exec --name b1") {
		t.Fatalf("err = %v, want a not-exist error naming the argv", err)
	}
}

func TestSecretsOnlyInEnvironment(t *testing.T) {
	const secret = "s3cret value=with equals"
	s := running(t, stubConfig{})
	tg := s.target("b1")
	tg.Env = []EnvVar{{"PLAIN", "visible"}}
	tg.Secrets = map[string]string{"TOKEN": secret}
	m, err := Open(tg, Agent{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Exec(context.Background(), "true", "node"); err != nil {
		t.Fatal(err)
	}
	calls := s.calls()
	last := calls[len(calls)-1]
	for _, a := range last.Argv {
		if strings.Contains(a, "s3cret") {
			t.Errorf("secret in argv word %q", a)
		}
	}
	if got := last.Env["TOKEN"]; got != secret {
		t.Errorf("smolvm saw TOKEN=%q, want %q", got, secret)
	}
	if !strings.Contains(strings.Join(last.Argv, " "), "-e PLAIN=visible -e TOKEN --") {
		t.Errorf("argv %q lacks -e PLAIN=visible -e TOKEN", last.Argv)
	}
}

func TestExecUserModels(t *testing.T) {
	tests := []struct {
		name, reason, probe, user string
		wantTail                  []string
		wantErr                   error
	}{
		{"root-guest", "a root guest switches with runuser, as the original does", "root", "node",
			[]string{"--", "runuser", "-u", "node", "--", "/bin/sh", "-c", "id"}, nil},
		{"node-guest", "a guest that execs as node needs no runuser", "node", "node",
			[]string{"--", "/bin/sh", "-c", "id"}, nil},
		{"node-guest-root", "a node guest cannot become root", "node", "root", nil, ErrUserSwitch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := running(t, stubConfig{ProbeUser: tc.probe})
			m, err := Open(s.target("b1"), Agent{})
			if err != nil {
				t.Fatal(err)
			}
			// Two concurrent execs: the probe still runs once, before both.
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i := range errs {
				wg.Go(func() { _, errs[i] = m.Exec(context.Background(), "id", tc.user) })
			}
			wg.Wait()
			for _, err := range errs {
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Fatalf("%s: err = %v, want %v", tc.reason, err, tc.wantErr)
				}
				if tc.wantErr == nil && err != nil {
					t.Fatal(err)
				}
			}
			if tc.wantErr != nil {
				return
			}
			if diff := cmp.Diff([]string{"probe", "exec", "exec"}, s.verbs()); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			calls := s.calls()
			argv := calls[len(calls)-1].Argv
			if diff := cmp.Diff(tc.wantTail, argv[len(argv)-len(tc.wantTail):]); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.reason, diff)
			}
		})
	}
}

func TestCopy(t *testing.T) {
	s := running(t, stubConfig{})
	m, err := Open(s.target("b1"), Agent{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	host := t.TempDir()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)

	tests := []struct {
		name, reason, file, content string
		linkTo                      string // make file a symlink to this
	}{
		{"plain", "an ordinary upload", "notes.txt", "plain\n", ""},
		{"colon", "a colon in the name is staged, never read as MACHINE:PATH", "report:2024.txt", "colon\n", ""},
		{"colon-dir", "a colon in a directory", "a:b/c.txt", "colon dir\n", ""},
		{"colon-symlink", "a symlink is staged by copying its target", "l:ink", "via link\n", "target.txt"},
		{"dash", "a leading dash is not a flag", "-rf", "dash\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(host, tc.file)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if tc.linkTo != "" {
				if err := os.WriteFile(filepath.Join(host, tc.linkTo), []byte(tc.content), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(tc.linkTo, p); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			src := p
			if tc.name == "dash" {
				t.Chdir(host)
				src = tc.file
			}
			guest := "/workspace/" + tc.name
			if err := m.CopyIn(ctx, src, guest, UploadOptions{}); err != nil {
				t.Fatalf("%s: %v", tc.reason, err)
			}
			if got := s.guestFile(guest); got != tc.content {
				t.Errorf("%s: guest has %q, want %q", tc.reason, got, tc.content)
			}
			calls := s.calls()
			argv := calls[len(calls)-1].Argv
			if strings.Contains(argv[3], ":") || strings.HasPrefix(argv[3], "-") || argv[4] != "b1:"+guest {
				t.Errorf("%s: cp argv %q", tc.reason, argv)
			}
			if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
				t.Errorf("staging left %d entries in TMPDIR", len(entries))
			}

			// And back out, to a host path with the same name.
			out := filepath.Join(host, "out", tc.file)
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := m.CopyOut(ctx, guest, out); err != nil {
				t.Fatalf("copy out: %v", err)
			}
			if b, _ := os.ReadFile(out); string(b) != tc.content {
				t.Errorf("copied out %q, want %q", b, tc.content)
			}
		})
	}

	t.Run("options", func(t *testing.T) {
		p := filepath.Join(host, "opt:ions.md")
		if err := os.WriteFile(p, []byte("opts\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		opts := UploadOptions{Mode: 0o600, Owner: &FileOwner{UID: 1000, GID: 1000}}
		if err := m.CopyIn(ctx, p, "/home/node/p.md", opts); err != nil {
			t.Fatal(err)
		}
		if got := s.guestFile("/home/node/p.md"); got != "opts\n" {
			t.Errorf("guest has %q, want the file staged and copied", got)
		}
		calls := s.calls()
		argv := calls[len(calls)-1].Argv
		want := []string{"--mode", "600", "--uid", "1000", "--gid", "1000"}
		if diff := cmp.Diff(want, argv[3:9]); diff != "" || strings.Contains(argv[9], ":") || argv[10] != "b1:/home/node/p.md" {
			t.Errorf("a staged upload keeps its options in front of the positionals: argv %q (-want +got flags):\n%s", argv, diff)
		}
	})
	t.Run("missing", func(t *testing.T) {
		err := m.CopyIn(ctx, filepath.Join(host, "gone:x"), "/g", UploadOptions{})
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("staging a missing file: %v, want not-exist", err)
		}
	})
	t.Run("smolvm-error", func(t *testing.T) {
		err := m.CopyOut(ctx, "/never-written", filepath.Join(host, "x"))
		var serr *SmolvmError
		if !errors.As(err, &serr) || !strings.Contains(err.Error(), "read file") {
			t.Errorf("copy of a missing guest file: %v, want a *SmolvmError", err)
		}
	})
}

// TestExecRefusesBadInputFirst: a bad user or script is refused before
// anything runs, the default-user probe included.
func TestExecRefusesBadInputFirst(t *testing.T) {
	for _, tc := range []struct{ name, user, script, reason string }{
		{"flag-user", "-x", "true", "a user that smolvm or runuser would read as a flag"},
		{"nul-script", "node", "a\x00b", "a script with NUL cannot be passed in argv"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := running(t, stubConfig{})
			m, err := Open(s.target("b1"), Agent{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Exec(context.Background(), tc.script, tc.user); !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: err = %v, want ErrInvalid", tc.reason, err)
			}
			if got := s.verbs(); len(got) != 0 {
				t.Errorf("%s: smolvm ran %v before the refusal", tc.reason, got)
			}
		})
	}
}
