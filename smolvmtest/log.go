package smolvmtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// An Invocation is one recorded run of the fake (one line of `smolvm fake
// log`): what the code under test ran. The fake's own `smolvm fake ...`
// commands are not recorded.
type Invocation struct {
	Time    time.Time // when it started
	Argv    []string  // Argv[0] is the program's base name, "smolvm"
	EnvKeys []string  // names of its environment variables, sorted; values are never recorded
	Cwd     string
	// StdinBytes counts the bytes it read from stdin (forwarded to the
	// guest, or read by a prompt); StdinTTY says stdin was a terminal.
	StdinBytes int64
	StdinTTY   bool
	// Done says the invocation has ended and Exit is its exit status.
	// While it runs (or when it was killed before it could complete its
	// entry, or a hang fault holds it), Done is false and Exit is -1.
	Done bool
	Exit int
	// Hung says a hang fault held the invocation.
	Hung     bool
	Duration time.Duration // until it ended; 0 while it runs
	// Command is the canonical machine subcommand ("delete" for rm, "ls"
	// for list, "shell" for sh), empty when none parsed; Machine is the
	// machine it was about ("default" when --name was omitted), empty for
	// none.
	Command string
	Machine string
}

// record is one element of `smolvm fake log --json`. Fields an entry may
// lack while its invocation runs are pointers.
type record struct {
	Time       string   `json:"time"`
	Argv       []string `json:"argv"`
	EnvKeys    []string `json:"env_keys"`
	Cwd        string   `json:"cwd"`
	StdinBytes int64    `json:"stdin_bytes"`
	StdinTTY   bool     `json:"stdin_tty"`
	Exit       *int     `json:"exit"`
	Unfinished bool     `json:"unfinished"` // written when it started, not completed (yet)
	Hung       bool     `json:"hung"`
	DurationMS *float64 `json:"duration_ms"`
	Command    string   `json:"command"`
	Machine    string   `json:"machine"`
}

// Invocations returns every recorded invocation of the fake, oldest first,
// read through `smolvm fake log --json` (as any other language would).
func (f *Fake) Invocations() ([]Invocation, error) {
	cmd := f.Command("fake", "log", "--json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("smolvmtest: smolvm fake log --json: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return parseLog(out)
}

func parseLog(out []byte) ([]Invocation, error) {
	var recs []record
	if err := json.Unmarshal(out, &recs); err != nil {
		return nil, fmt.Errorf("smolvmtest: smolvm fake log --json: %w", err)
	}
	invs := make([]Invocation, 0, len(recs))
	for i, r := range recs {
		inv := Invocation{
			Argv: r.Argv, EnvKeys: r.EnvKeys, Cwd: r.Cwd,
			StdinBytes: r.StdinBytes, StdinTTY: r.StdinTTY,
			Hung: r.Hung, Command: r.Command, Machine: r.Machine,
			Exit: -1,
		}
		if r.Time != "" {
			t, err := time.Parse(time.RFC3339Nano, r.Time)
			if err != nil {
				return nil, fmt.Errorf("smolvmtest: smolvm fake log --json: entry %d: time: %w", i+1, err)
			}
			inv.Time = t
		}
		inv.Done = r.Exit != nil && !r.Hung && !r.Unfinished
		if inv.Done {
			inv.Exit = *r.Exit
			if r.DurationMS != nil {
				inv.Duration = time.Duration(*r.DurationMS * float64(time.Millisecond))
			}
		}
		invs = append(invs, inv)
	}
	return invs, nil
}
