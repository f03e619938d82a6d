package scripttest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// Command returns prog (looked up on the script's PATH unless it contains
// a "/") with args, the script's whole environment and $WORK as its
// directory, for commands that run a program outside ts.Exec: in the
// background, on a PTY, or polled. On a run against a real smolvm, the
// script's PATH is the only one that has it.
func Command(ts *testscript.TestScript, prog string, args ...string) (*exec.Cmd, error) {
	return CommandIn(Environ(ts), ts.Getenv("WORK"), prog, args...)
}

// CommandIn is Command with the environment and directory given: for a
// command run many times, or from a deferred teardown, which must not run
// commands of the script (see Environ).
func CommandIn(env []string, dir, prog string, args ...string) (*exec.Cmd, error) {
	path := prog
	if !strings.Contains(prog, "/") {
		var err error
		if path, err = lookPath(prog, envValue(env, "PATH")); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(path, args...)
	cmd.Args[0] = prog
	cmd.Env = env
	cmd.Dir = dir
	return cmd, nil
}

// Environ returns the script's current environment. testscript does not
// expose it, so env(1) writes it to a file, through ts.Exec; the stdout
// and stderr the script's last command left for its checks are put back
// afterwards.
func Environ(ts *testscript.TestScript) []string {
	dir, err := os.MkdirTemp(ts.Getenv("WORK"), ".environ-")
	ts.Check(err)
	defer os.RemoveAll(dir)
	stdout, stderr := ts.ReadFile("stdout"), ts.ReadFile("stderr")
	envFile := filepath.Join(dir, "env")
	if err := ts.Exec("sh", "-c", `env -0 >"$1"`, "sh", envFile); err != nil {
		ts.Fatalf("reading the script environment: %v", err)
	}
	b, err := os.ReadFile(envFile)
	ts.Check(err)
	var env []string
	for _, kv := range strings.Split(string(b), "\x00") {
		if kv != "" {
			env = append(env, kv)
		}
	}
	if stdout != "" || stderr != "" {
		out, errf := filepath.Join(dir, "stdout"), filepath.Join(dir, "stderr")
		ts.Check(os.WriteFile(out, []byte(stdout), 0o600))
		ts.Check(os.WriteFile(errf, []byte(stderr), 0o600))
		ts.Check(ts.Exec("sh", "-c", `cat "$1"; cat "$2" >&2`, "sh", out, errf))
	}
	return env
}

func envValue(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

func lookPath(prog, path string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, prog)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on the script's PATH", prog)
}
