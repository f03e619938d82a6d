//go:build linux

package guest

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestMain lets the test binary be the agent and the guest's runuser: Start
// re-executes /proc/self/exe with "__agent", and the guest's runuser shim
// runs the bound binary with "__runuser".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "__agent":
			os.Exit(AgentMain(os.Args[2:]))
		case "__runuser":
			os.Exit(RunuserMain(os.Args[2:]))
		case "__start_held": // DATADIR KEEP: StartHeld, print the PID, exit 3 without a cleanup
			pid, keep, err := StartHeld(Config{Name: "held", DataDir: os.Args[2]})
			if err != nil {
				os.Stderr.WriteString(err.Error() + "\n")
				os.Exit(1)
			}
			if os.Args[3] == "true" {
				keep()
			}
			os.Stdout.WriteString(strconv.Itoa(pid) + "\n")
			os.Exit(3)
		case "__exec_tty": // DATADIR ARGV...: a TTY exec on this process's terminal
			code, err := Exec(os.Args[2], ExecRequest{Argv: os.Args[3:], Mode: TTY}, Stdio{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
			if err != nil {
				os.Stderr.WriteString("Error: " + err.Error() + "\n")
				os.Exit(1)
			}
			os.Exit(code)
		}
	}
	// A test binary that dies midway takes its machines with it.
	os.Setenv(OwnerPIDEnv, strconv.Itoa(os.Getpid()))
	os.Exit(m.Run())
}

// startMachine starts a guest in a fresh data dir and stops it when the
// test ends, also when it fails midway.
func startMachine(t *testing.T, cfg Config) string {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "testvm"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(t.TempDir(), "vm")
	}
	t.Cleanup(func() { StopAllUnder(cfg.DataDir) })
	if _, err := Start(cfg); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return cfg.DataDir
}

// guestWritable gives a host directory to the guest's root, as a user
// of a remapped guest does with a volume guest root writes to: it is
// host root's, and guest root is not host root.
func guestWritable(t *testing.T, dir string) {
	t.Helper()
	if ids := guestIDMap(); ids.remapped() {
		if err := os.Chown(dir, ids.shift, ids.shift); err != nil {
			t.Fatal(err)
		}
	}
}

type result struct {
	code           int
	err            error
	stdout, stderr string
}

func run(t *testing.T, dataDir string, req ExecRequest, stdin *os.File) result {
	t.Helper()
	var o, e bytes.Buffer
	code, err := Exec(dataDir, req, Stdio{Stdin: stdin, Stdout: &o, Stderr: &e})
	return result{code, err, o.String(), e.String()}
}

func sh(t *testing.T, dataDir, script string) result {
	t.Helper()
	return run(t, dataDir, ExecRequest{Argv: []string{"sh", "-c", script}}, nil)
}

func TestSmoke(t *testing.T) {
	d := startMachine(t, Config{})
	r := sh(t, d, "echo hi; echo err >&2; cat /etc/os-release | head -1; id -u; hostname; pwd; ls -d /workspace")
	if r.err != nil || r.code != 0 {
		t.Fatalf("exec: %+v", r)
	}
	t.Logf("%q %q", r.stdout, r.stderr)
	if !strings.Contains(r.stdout, "Alpine") {
		t.Errorf("no Alpine: %q", r.stdout)
	}
}
