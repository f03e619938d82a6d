//go:build linux

package bottle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smolbottle/smolbottle/internal/ptytest"
)

// guestShells are the POSIX shells the wrapper and the resize script are
// run with: the guest's sh may be dash, busybox ash (Alpine) or bash.
func guestShells(t *testing.T) map[string][]string {
	all := map[string][]string{
		"dash":    {"dash"},
		"busybox": {"busybox", "sh"},
		"bash":    {"bash", "--posix"},
	}
	out := map[string][]string{}
	for name, argv := range all {
		if _, err := exec.LookPath(argv[0]); err == nil {
			out[name] = argv
		}
	}
	if len(out) == 0 {
		t.Skip("no POSIX shell installed")
	}
	return out
}

// sharedTempDir is a fresh world-writable sticky directory, like the
// guest's /tmp, removed at the end of the test.
func sharedTempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "bottle-fifo-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// killGroupAtCleanup kills the process group cmd leads, so that nothing
// the wrapper started survives a failed test.
func killGroupAtCleanup(t *testing.T, cmd *exec.Cmd) {
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
}

// waitGone waits until the FIFO is removed and no process has it in its
// command line any more (the wrapper's loop and watcher are forks of the
// wrapper shell, so they carry the same command line).
func waitGone(t *testing.T, fifo string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, statErr := os.Lstat(fifo)
		procs := procsMentioning(fifo)
		if errors.Is(statErr, os.ErrNotExist) && len(procs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the session: stat FIFO: %v; processes still running for it: %v", statErr, procs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func procsMentioning(s string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(s)) {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestWrapScriptRunsCommand runs the wrapper without a terminal: it is
// then just the command, with its arguments and exit code untouched and
// no child of its own (a `wait` in the command returns at once), and once
// the command is gone the loop ends and the FIFO is removed (no SIGHUP
// comes without a terminal: the watcher does it).
func TestWrapScriptRunsCommand(t *testing.T) {
	for name, sh := range guestShells(t) {
		t.Run(name, func(t *testing.T) {
			fifo := filepath.Join(sharedTempDir(t), "resize")
			args := append(append([]string{}, sh[1:]...), "-c", wrapScript, "sh", fifo,
				"sh", "-c", `wait; printf '%s|' "$@"; exit 5`, "x", "a b", "--", "")
			cmd := exec.Command(sh[0], args...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			var out bytes.Buffer
			cmd.Stdout = &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			killGroupAtCleanup(t, cmd)
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 5 {
				t.Fatalf("exit = %v, want 5", err)
			}
			if out.String() != "a b|--||" {
				t.Errorf("command saw %q, want its arguments unchanged", out.String())
			}
			waitGone(t, fifo)
		})
	}
}

// TestSideChannelThroughFIFO is the image guest model on a real PTY: the
// session runs as an unprivileged user on a pts that is root:root 0620, so
// that user cannot open the pts by its path. ResizeArgv, run through a
// stand-in smolvm that runs the resize script as that same user in another
// process, still brings the session to each new size (one stty per size:
// at most one intermediate step with the new rows and the old columns,
// never an older size or a repeat), and when the session ends the loop
// lets go of the terminal and removes the FIFO.
func TestSideChannelThroughFIFO(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the session as another user")
	}
	for _, prog := range []string{"perl", "setpriv"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Skipf("%s is not installed", prog)
		}
	}
	const uid = 65534
	for name, sh := range guestShells(t) {
		t.Run(name, func(t *testing.T) {
			dir := sharedTempDir(t)
			fifo := filepath.Join(dir, "resize")
			term, err := ptytest.Open(24, 80)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(term.Close) // after the session's process group is killed
			pts := term.Slave().Name()
			if err := os.Chown(pts, 0, 0); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(pts, 0o620); err != nil {
				t.Fatal(err)
			}
			asUser := []string{"setpriv", fmt.Sprintf("--reuid=%d", uid), fmt.Sprintf("--regid=%d", uid), "--clear-groups"}
			// The premise: by its path, the session's user cannot set the
			// terminal's size (what the old `stty -F` side channel did).
			probe := exec.Command(asUser[0], append(asUser[1:], "stty", "-F", pts, "rows", "50")...)
			if out, err := probe.CombinedOutput(); err == nil {
				t.Fatalf("stty -F %s as uid %d succeeded (%s); the test needs a pts that user cannot open", pts, uid, out)
			}

			args := append(append([]string{}, sh[1:]...), "-c", wrapScript, "sh", fifo, "perl", "-e", ptytest.SizeWatcher)
			cmd := exec.Command(sh[0], args...)
			cmd.Stdin, cmd.Stdout, cmd.Stderr = term.Slave(), term.Slave(), term.Slave()
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Credential: &syscall.Credential{Uid: uid, Gid: uid}}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			killGroupAtCleanup(t, cmd)
			term.CloseSlave()
			if _, err := term.WaitFor(regexp.MustCompile(`size=24 80\.`), 10*time.Second); err != nil {
				t.Fatal(err)
			}

			// smolvm stand-in: checks the side channel's argv and runs its
			// guest command as the session's user, with the shell under test.
			smolvm := filepath.Join(dir, "smolvm")
			stub := fmt.Sprintf("#!/bin/sh\n[ \"$1 $2 $3 $4 $5 $6\" = \"machine exec --name m1 -- sh\" ] || { echo \"bad argv: $*\" >&2; exit 99; }\nshift 6\nexec %s %s \"$@\"\n",
				strings.Join(asUser, " "), strings.Join(sh, " "))
			if err := os.WriteFile(smolvm, []byte(stub), 0o755); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			type size struct{ Rows, Cols int }
			last := size{24, 80}
			for _, s := range []size{{40, 120}, {41, 120}, {20, 60}} {
				inv, err := ResizeArgv(Target{Program: smolvm, Name: "m1"}, fifo, s.Rows, s.Cols)
				if err != nil {
					t.Fatal(err)
				}
				if res, err := Run(ctx, inv); err != nil || res.ExitCode != 0 {
					t.Fatalf("resize to %v: %v %+v", s, err, res)
				}
				seen, err := term.WaitFor(regexp.MustCompile(fmt.Sprintf(`(?s).*?size=%d %d\.`, s.Rows, s.Cols)), 10*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				// One stty call per size. stty (GNU and busybox alike) sets
				// rows and columns with one ioctl each, so the session may
				// see the new rows with the old columns first, but nothing
				// else: no older size and no repeat. The previous push's two
				// SIGWINCHes may both have read its final size, so one echo
				// of that size can still arrive first; it is the newest
				// size the session had, not an older one.
				half := fmt.Sprintf("size=%d %d.", s.Rows, last.Cols)
				all := regexp.MustCompile(`size=\d+ \d+\.`).FindAllString(seen, -1)
				if len(all) > 1 && all[0] == fmt.Sprintf("size=%d %d.", last.Rows, last.Cols) {
					all = all[1:]
				}
				if len(all) > 2 {
					t.Fatalf("after pushing %v (from %v) the session saw %q: more than one stty's worth", s, last, seen)
				}
				for _, m := range all[:len(all)-1] {
					if m != half || s.Cols == last.Cols {
						t.Fatalf("after pushing %v (from %v) the session saw %q", s, last, seen)
					}
				}
				last = s
			}

			// The session ends (its leader dies of SIGTERM).
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			var ee *exec.ExitError
			if err := cmd.Wait(); !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
				t.Fatalf("session: %v, want death by SIGTERM", err)
			}
			// Every holder of the terminal is gone, the loop included.
			if err := term.WaitOutputEnd(10 * time.Second); err != nil {
				t.Fatal(err)
			}
			waitGone(t, fifo)
		})
	}
}
