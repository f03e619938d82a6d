package smolvmtest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// A Rule is one fault rule of the fake's scenario ($FAKE_SMOLVM_SCENARIO),
// set from Go. An invocation whose arguments parse is matched against the
// rules in order; a rule matches when each of Command, Machine and Argv
// that is set matches. Each rule counts the invocations it matched; Calls
// limits it to some of them. The first rule that applies acts: Delay
// first, then Hang, StopMachine, Answer, and KillMachine or
// NoResizeForwarding for exec and shell; without Hang or Answer the
// command then runs.
type Rule struct {
	// Command is the canonical machine subcommand: "create", "start",
	// "stop", "delete" (also for rm), "status", "ls" (also for list),
	// "exec", "shell" (also for sh), "cp", "data-dir", "run".
	Command string
	// Machine is the machine the invocation is about ("default" when
	// --name is omitted; for cp the machine of the MACHINE:PATH argument).
	Machine string
	// Argv is a Go regexp, unanchored, over the arguments after the
	// program name joined by single spaces.
	Argv string
	// Calls are the matching invocations (1-based) the rule applies to;
	// empty for all. A skipped call still counts, and lets later rules
	// apply.
	Calls []int

	Delay time.Duration // wait before anything else
	// Hang records the invocation and blocks it until it is killed.
	Hang bool
	// StopMachine stops the machine's guest first, as if the VM had died
	// (its record still says running, so status shows stopped).
	StopMachine bool
	// Answer, when set, answers the invocation without running it.
	Answer *Answer
	// KillMachine makes the machine's agent die during an exec or shell.
	KillMachine bool
	// NoResizeForwarding makes a TTY exec ignore window-size changes.
	NoResizeForwarding bool
}

// An Answer is a canned reply: Stdout and Stderr are written as given (with
// a newline added when missing), and the invocation exits with Exit.
type Answer struct {
	Exit           int
	Stdout, Stderr string
}

// scenarioRule is a Rule as the scenario file spells it.
type scenarioRule struct {
	Command            string  `json:"command,omitempty"`
	Machine            *string `json:"machine,omitempty"`
	Argv               string  `json:"argv,omitempty"`
	Calls              []int   `json:"calls,omitempty"`
	Delay              string  `json:"delay,omitempty"`
	Exit               *int    `json:"exit,omitempty"`
	Stderr             *string `json:"stderr,omitempty"`
	Stdout             *string `json:"stdout,omitempty"`
	Hang               bool    `json:"hang,omitempty"`
	KillMachine        bool    `json:"kill_machine,omitempty"`
	StopMachine        bool    `json:"stop_machine,omitempty"`
	NoResizeForwarding bool    `json:"no_resize_forwarding,omitempty"`
}

// SetFaults replaces the fake's fault rules; invocations that start after
// it returns follow the new rules, whose counts start from zero. SetFaults()
// with no rules removes every fault.
func (f *Fake) SetFaults(rules ...Rule) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faultSets++
	// The fake counts a rule's calls per scenario content; the set number
	// makes every SetFaults a new content, even with the same rules.
	out := struct {
		Set   int            `json:"set"`
		Rules []scenarioRule `json:"rules"`
	}{Set: f.faultSets, Rules: make([]scenarioRule, 0, len(rules))}
	for i, r := range rules {
		sr, err := r.scenario()
		if err != nil {
			return fmt.Errorf("smolvmtest: fault rule %d: %w", i+1, err)
		}
		out.Rules = append(out.Rules, sr)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("smolvmtest: fault rules: %w", err)
	}
	return writeAtomic(f.scenarioPath(), append(b, '\n'))
}

func (r Rule) scenario() (scenarioRule, error) {
	if r.Argv != "" {
		if _, err := regexp.Compile(r.Argv); err != nil {
			return scenarioRule{}, fmt.Errorf("argv: %w", err)
		}
	}
	if r.Delay < 0 {
		return scenarioRule{}, fmt.Errorf("negative delay %v", r.Delay)
	}
	for _, c := range r.Calls {
		if c < 1 {
			return scenarioRule{}, fmt.Errorf("calls are counted from 1, not %d", c)
		}
	}
	sr := scenarioRule{
		Command: r.Command, Argv: r.Argv, Calls: r.Calls,
		Hang: r.Hang, KillMachine: r.KillMachine, StopMachine: r.StopMachine,
		NoResizeForwarding: r.NoResizeForwarding,
	}
	if r.Machine != "" {
		sr.Machine = &r.Machine
	}
	if r.Delay > 0 {
		sr.Delay = r.Delay.String()
	}
	if a := r.Answer; a != nil {
		sr.Exit, sr.Stdout, sr.Stderr = &a.Exit, &a.Stdout, &a.Stderr
	}
	return sr, nil
}

// writeAtomic replaces path so that a concurrent reader sees the old file
// or the new one, never part of either.
func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("smolvmtest: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("smolvmtest: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("smolvmtest: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("smolvmtest: %w", err)
	}
	return nil
}
