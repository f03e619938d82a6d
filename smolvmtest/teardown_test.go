package smolvmtest_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smolbottle/smolbottle/smolvmtest"
)

// helperEnv selects how TestHelperLeaveRunning ends, in the child process
// TestTeardown starts.
const helperEnv = "SMOLVMTEST_HELPER_END"

// TestHelperLeaveRunning is run by TestTeardown in a child test process:
// it starts a machine with a guest process that would run for days and
// then ends badly.
func TestHelperLeaveRunning(t *testing.T) {
	end := os.Getenv(helperEnv)
	if end == "" {
		t.Skip("run by TestTeardown")
	}
	marker := os.Getenv("SMOLVMTEST_HELPER_MARKER")
	// Registered first, so it runs last: after the fake's own cleanup,
	// while this process (the owner of the fake's machines) still lives.
	t.Cleanup(func() { fmt.Printf("LEFT %d\n", len(leftovers(os.TempDir(), marker))) })
	f := smolvmtest.New(t)
	for _, args := range [][]string{
		{"machine", "create", "--name", "left"},
		{"machine", "start", "--name", "left"},
		{"machine", "exec", "--name", "left", "-d", "--", "sleep", marker},
	} {
		if out, err := f.Command(args...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	fmt.Println("READY")
	switch end {
	case "fail":
		t.Fatal("failing with a machine running")
	case "panic":
		panic("panicking with a machine running")
	case "killed":
		time.Sleep(time.Hour) // until TestTeardown kills this process
	}
}

// TestTeardown: however a test ends (failed, panicked, or its process
// killed), no agent and no guest process of its fakes is left.
func TestTeardown(t *testing.T) {
	for _, end := range []string{"fail", "panic", "killed"} {
		t.Run(end, func(t *testing.T) {
			tmp := t.TempDir()
			marker := fmt.Sprintf("%d.%d", 100000+rand.IntN(800000), rand.IntN(1000))
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLeaveRunning$", "-test.count=1")
			cmd.Env = append(os.Environ(), helperEnv+"="+end, "SMOLVMTEST_HELPER_MARKER="+marker, "TMPDIR="+tmp)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				cmd.Process.Kill()
				cmd.Wait()
				// Undo what a broken teardown left, so the next tests run clean.
				for _, pid := range leftovers(tmp, marker) {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			})
			ready, left := false, ""
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				switch l := sc.Text(); {
				case l == "READY":
					ready = true
					if end == "killed" {
						cmd.Process.Kill()
					}
				case strings.HasPrefix(l, "LEFT "):
					left = l
				}
			}
			err = cmd.Wait()
			if !ready {
				t.Fatalf("the helper never started its machine: %v\n%s", err, stderr.String())
			}
			if err == nil {
				t.Fatal("the helper test passed; it was to end badly")
			}
			// The test's own cleanup stopped everything before its process
			// ended.
			if end != "killed" && left != "LEFT 0" {
				t.Errorf("after the failed test's cleanup: %q, want LEFT 0", left)
			}
			// A killed owner's agents notice it at once, but give them time.
			deadline := time.Now().Add(10 * time.Second)
			for {
				left := leftovers(tmp, marker)
				if len(left) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("left running after the test ended (%s): %v", end, describe(left))
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// leftovers lists processes whose command line names dir (the fake's
// agents name their data dir) or holds marker (the guest's sleep).
func leftovers(dir, marker string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cl := string(b)
		if strings.Contains(cl, dir) || strings.Contains(cl, "\x00"+marker) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func describe(pids []int) string {
	var s []string
	for _, pid := range pids {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		s = append(s, fmt.Sprintf("%d %q", pid, strings.ReplaceAll(string(b), "\x00", " ")))
	}
	return strings.Join(s, "; ")
}

func killPID(pid int) { syscall.Kill(pid, syscall.SIGKILL) }
