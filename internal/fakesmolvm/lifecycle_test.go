package fakesmolvm

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// agentsUnder lists the PIDs of machine agents whose console log (their
// stdout, opened in the data dir) lies under dir, read from /proc: it does
// not trust the fake's own pid files.
func agentsUnder(dir string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmd), "\x00__agent") {
			continue
		}
		if l, err := os.Readlink(filepath.Join("/proc", e.Name(), "fd/1")); err == nil && strings.HasPrefix(l, dir+"/") {
			out = append(out, pid)
		}
	}
	return out
}

// waitNoAgents waits up to 3 s (a loaded machine's "moment") for no
// agent to run under dir.
func waitNoAgents(dir string) []int {
	deadline := time.Now().Add(3 * time.Second)
	for {
		pids := agentsUnder(dir)
		if len(pids) == 0 || time.Now().After(deadline) {
			return pids
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStartKilledThenDelete kills `machine start` at random moments; then
// stop never says "not running" while an agent runs, and delete -f always
// removes the record, the data dir and the agent, which stays gone.
func TestStartKilledThenDelete(t *testing.T) {
	w := newFakeWorld(t)
	root := filepath.Dir(w.home)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("seed %d", seed)
	for i := range 20 {
		name := fmt.Sprintf("k%02d", i)
		delay := time.Duration(5+rng.IntN(75)) * time.Millisecond
		w.run("machine", "create", "--name", name)
		dir := strings.TrimSpace(w.run("machine", "data-dir", "--name", name))
		c := w.cmd("machine", "start", "--name", name)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		c.Process.Kill()
		c.Wait()

		if i%2 == 0 {
			out := w.run("machine", "stop", "--name", name)
			if strings.Contains(out, "is not running") {
				if pids := waitNoAgents(dir); len(pids) > 0 {
					t.Fatalf("start killed after %v: stop said %q while agent %v runs", delay, out, pids)
				}
			}
		}
		if b, err := w.cmd("machine", "delete", "--name", name, "-f").CombinedOutput(); err != nil {
			t.Fatalf("start killed after %v: delete -f: %v\n%s", delay, err, b)
		}
		if pids := waitNoAgents(root); len(pids) > 0 {
			t.Fatalf("start killed after %v: agents %v outlive delete -f", delay, pids)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Fatalf("start killed after %v: data dir after delete -f: %v", delay, err)
		}
		if ls := w.run("machine", "ls"); strings.Contains(ls, name) {
			t.Fatalf("start killed after %v: record after delete -f:\n%s", delay, ls)
		}
	}
}

// TestPublishedPort: `create -p HOST:GUEST` then `start` publishes the
// guest's port on the host, with and without --net, until `stop`.
func TestPublishedPort(t *testing.T) {
	if _, err := exec.LookPath("busybox"); err != nil {
		t.Skip("the guest's TCP server is busybox nc: install busybox-static")
	}
	w := newFakeWorld(t)
	for _, network := range []bool{false, true} {
		name := "p" + strconv.FormatBool(network)
		host, guestPort := freePort(t), 7000
		args := []string{"machine", "create", "--name", name, "-p", fmt.Sprintf("%d:%d", host, guestPort)}
		if network {
			guestPort = freePort(t)
			args = []string{"machine", "create", "--name", name, "--net", "-p", fmt.Sprintf("%d:%d", host, guestPort)}
		}
		w.run(args...)
		w.run("machine", "start", "--name", name)
		w.run("machine", "exec", "--name", name, "-d", "--", "busybox", "nc", "-ll", "-p", strconv.Itoa(guestPort), "-e", "/bin/cat")
		deadline := time.Now().Add(10 * time.Second)
		got := ""
		for got == "" && time.Now().Before(deadline) {
			got = echo(host, "ping\n")
			if got == "" {
				time.Sleep(50 * time.Millisecond)
			}
		}
		if got != "ping\n" {
			t.Fatalf("--net=%v: through host port %d got %q, want the guest server's echo", network, host, got)
		}
		w.run("machine", "stop", "--name", name)
		if c, err := net.DialTimeout("tcp4", "127.0.0.1:"+strconv.Itoa(host), time.Second); err == nil {
			c.Close()
			t.Fatalf("--net=%v: host port %d still accepts after stop", network, host)
		}
		w.run("machine", "delete", "--name", name, "-f")
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// echo sends msg to the host port and returns the reply ("" on failure).
func echo(port int, msg string) string {
	c, err := net.DialTimeout("tcp4", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err != nil {
		return ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte(msg))
	c.(*net.TCPConn).CloseWrite()
	b, _ := io.ReadAll(c)
	return string(b)
}

// setRecordState rewrites one record's state in the world's machines.json,
// as a start killed between its agent's start and its record update
// leaves it.
func setRecordState(t *testing.T, w *fakeWorld, name, state string) {
	t.Helper()
	s := &store{dir: resolvePaths(func(k string) string {
		if k == "HOME" {
			return w.home
		}
		return ""
	}).stateDir()}
	if err := s.update(func(d *db) error {
		d.Machines[name].State = state
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestStopEndsUnrecordedAgent: an agent runs though the record does not
// say running; stop says "not running" only once no agent runs, and
// delete -f removes the agent with the machine.
func TestStopEndsUnrecordedAgent(t *testing.T) {
	w := newFakeWorld(t)
	for _, cmd := range [][]string{{"stop", "--name", "u"}, {"delete", "--name", "u", "-f"}} {
		w.run("machine", "create", "--name", "u")
		w.run("machine", "start", "--name", "u")
		dir := strings.TrimSpace(w.run("machine", "data-dir", "--name", "u"))
		if len(agentsUnder(dir)) != 1 {
			t.Fatal("no agent after start")
		}
		setRecordState(t, w, "u", "created")
		out := w.run(append([]string{"machine"}, cmd...)...)
		if pids := agentsUnder(dir); len(pids) > 0 {
			t.Fatalf("machine %s printed %q and left agent %v running", cmd[0], out, pids)
		}
		if cmd[0] == "stop" {
			if out != "Machine 'u' is not running (state: created)\n" {
				t.Fatalf("stop: %q", out)
			}
			w.run("machine", "delete", "--name", "u", "-f")
		}
	}
}
