package fakesmolvm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/smolbottle/smolbottle/internal/fakesmolvm/guest"
)

// A scenario ($FAKE_SMOLVM_SCENARIO) is a JSON file of rules:
//
//	{"rules": [{"command": "exec", "machine": "m1", "argv": "REGEXP",
//	  "calls": [2, 3], "delay": "200ms", "exit": 1, "stderr": "Error: ...",
//	  "stdout": "...", "hang": true, "kill_machine": true,
//	  "stop_machine": true, "no_resize_forwarding": true}]}
//
// Rules are tried in order after the invocation's argv has parsed. A rule
// matches when each match field it has matches: command (the canonical
// machine subcommand: delete for rm, ls for list, shell for sh), machine
// (the target machine; default when --name is omitted), argv (a Go regexp,
// unanchored, over the arguments after the program name joined by single
// spaces). Each rule counts the invocations it matched, persistently in the
// state dir (until `fake reset`, or until the file's content changes);
// calls (1-based) limits the rule to those invocations, so a rule skipped
// by calls still counts and lets later rules apply. The first rule
// that applies acts:
//   - delay: wait first (Go duration syntax);
//   - hang: record the invocation and block until killed, or until nothing
//     can wait for it any more (see cli.hang);
//   - exit / stderr / stdout: answer without running the command; stdout
//     and stderr are written as given, plus a newline when missing; exit
//     defaults to 1 when stderr is set, else 0;
//   - stop_machine: stop the machine's guest before running the command, as
//     if the VM had died (records keep saying running, so status shows
//     stopped);
//   - kill_machine, no_resize_forwarding: exec and shell run with
//     guest.ExecRequest.KillMachine / NoResizeForwarding;
//   - otherwise the command runs normally.
type scenario struct {
	Rules []rule `json:"rules"`
}

type rule struct {
	Command            string  `json:"command"`
	Machine            *string `json:"machine"`
	Argv               string  `json:"argv"`
	Calls              []int   `json:"calls"`
	Delay              string  `json:"delay"`
	Exit               *int    `json:"exit"`
	Stderr             *string `json:"stderr"`
	Stdout             *string `json:"stdout"`
	Hang               bool    `json:"hang"`
	KillMachine        bool    `json:"kill_machine"`
	StopMachine        bool    `json:"stop_machine"`
	NoResizeForwarding bool    `json:"no_resize_forwarding"`

	argv *regexp.Regexp // Argv, compiled by loadScenario
}

// loadScenario reads and checks a scenario file; it returns the file's
// bytes too, which key the rules' counters.
func loadScenario(path string) (*scenario, []byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("fake-smolvm: FAKE_SMOLVM_SCENARIO: %w", err)
	}
	var s scenario
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, nil, fmt.Errorf("fake-smolvm: FAKE_SMOLVM_SCENARIO %s: %w", path, err)
	}
	for i := range s.Rules {
		r := &s.Rules[i]
		if r.Argv != "" {
			if r.argv, err = regexp.Compile(r.Argv); err != nil {
				return nil, nil, fmt.Errorf("fake-smolvm: FAKE_SMOLVM_SCENARIO %s: rule %d: argv: %w", path, i+1, err)
			}
		}
		if r.Delay != "" {
			if _, err := time.ParseDuration(r.Delay); err != nil {
				return nil, nil, fmt.Errorf("fake-smolvm: FAKE_SMOLVM_SCENARIO %s: rule %d: delay: %w", path, i+1, err)
			}
		}
	}
	return &s, b, nil
}

func (r *rule) matches(command, machine, argv string) bool {
	if r.Command != "" && r.Command != command {
		return false
	}
	if r.Machine != nil && *r.Machine != machine {
		return false
	}
	if r.argv != nil && !r.argv.MatchString(argv) {
		return false
	}
	return true
}

// applyFaults finds the rule for this invocation and carries out the
// actions that happen before the command; exec picks up the rest from
// c.fault.
func (c *cli) applyFaults() error {
	path := c.getenv("FAKE_SMOLVM_SCENARIO")
	if path == "" {
		return nil
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(c.cwd, path)
	}
	s, raw, err := loadScenario(path)
	if err != nil {
		return &runtimeError{err.Error()}
	}
	argv := strings.Join(c.args, " ")
	var hit *rule
	// Counts belong to the scenario as written: rewriting the file starts
	// its rules' counts afresh (smolvmtest's SetFaults relies on it).
	sum := sha256.Sum256(append([]byte(path+"\x00"), raw...))
	counters := filepath.Join(c.paths.stateDir(), "faults", hex.EncodeToString(sum[:8])+".json")
	err = withLockedJSON(counters, func(counts map[string]int) {
		for i := range s.Rules {
			r := &s.Rules[i]
			if !r.matches(c.command, c.machine, argv) {
				continue
			}
			key := fmt.Sprint(i)
			counts[key]++
			if len(r.Calls) == 0 || slices.Contains(r.Calls, counts[key]) {
				hit = r
				return
			}
		}
	})
	if err != nil {
		return err
	}
	if hit == nil {
		return nil
	}
	c.fault = hit
	if hit.Delay != "" {
		d, _ := time.ParseDuration(hit.Delay)
		time.Sleep(d)
	}
	if hit.Hang {
		c.record(c.begun, -1, true) // completes the entry begun at the start
		c.noRecord = true
		return c.hang()
	}
	if hit.StopMachine && c.machine != "" {
		_ = guest.Stop(c.paths.machineDir(c.machine))
	}
	if hit.Exit != nil || hit.Stderr != nil || hit.Stdout != nil {
		if hit.Stdout != nil {
			io.WriteString(c.stdout, withNewline(*hit.Stdout))
		}
		code := 0
		if hit.Stderr != nil {
			io.WriteString(c.stderr, withNewline(*hit.Stderr))
			code = 1
		}
		if hit.Exit != nil {
			code = *hit.Exit
		}
		return exitCode(code)
	}
	return nil
}

func withNewline(s string) string {
	if s == "" || strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

// withLockedJSON updates a small JSON counter file under its lock.
func withLockedJSON(path string, fn func(map[string]int)) error {
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	counts := map[string]int{}
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &counts)
	}
	fn(counts)
	b, _ := marshalJSON(counts, false)
	return writeAtomic(path, b)
}

// hang blocks a hung invocation until it is killed, or until nobody can be
// waiting for it: the process named by $FAKE_SMOLVM_OWNER_PID (a test
// harness) has ended, or the fake's state dir is gone (the test that made
// it has been cleaned up). A test that forgets its hung call leaves
// nothing running. It then fails with exit 1.
func (c *cli) hang() error {
	owner, _ := strconv.Atoi(c.getenv(guest.OwnerPIDEnv))
	state := c.paths.stateDir()
	for {
		time.Sleep(100 * time.Millisecond)
		if owner > 0 && syscall.Kill(owner, 0) == syscall.ESRCH {
			return exitCode(1)
		}
		if _, err := os.Stat(state); errors.Is(err, fs.ErrNotExist) {
			return exitCode(1)
		}
	}
}
