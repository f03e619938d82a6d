package fakesmolvm

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// invocation is one line of the invocation log: what a test wants to know
// about how smolvm was called. Only the names of environment variables are
// kept, never their values (they may hold secrets).
type invocation struct {
	Time       string   `json:"time"` // RFC 3339, UTC, with nanoseconds
	Argv       []string `json:"argv"` // argv[0] is the program's base name
	EnvKeys    []string `json:"env_keys"`
	Cwd        string   `json:"cwd"`
	StdinBytes int64    `json:"stdin_bytes"` // bytes read from stdin
	StdinTTY   bool     `json:"stdin_tty,omitempty"`
	Exit       int      `json:"exit"`
	Hung       bool     `json:"hung,omitempty"` // a fault rule hung the invocation; exit is meaningless
	DurationMS float64  `json:"duration_ms"`
	Command    string   `json:"command,omitempty"` // canonical machine subcommand
	Machine    string   `json:"machine,omitempty"`
}

func (c *cli) logPath() string { return filepath.Join(c.paths.stateDir(), "invocations.jsonl") }

// record appends the invocation to the state dir's log and to
// $FAKE_SMOLVM_LOG. Failures to record are ignored: recording must never
// change the outcome of a call.
func (c *cli) record(start time.Time, code int, hung bool) {
	keys := make([]string, 0, len(c.environ))
	for _, kv := range c.environ {
		k, _, _ := strings.Cut(kv, "=")
		keys = append(keys, k)
	}
	sort.Strings(keys)
	inv := invocation{
		Time:       start.UTC().Format(time.RFC3339Nano),
		Argv:       append([]string{c.prog}, c.args...),
		EnvKeys:    keys,
		Cwd:        c.cwd,
		StdinBytes: c.stdinBytes.Load(),
		StdinTTY:   c.stdinTTY,
		Exit:       code,
		Hung:       hung,
		DurationMS: float64(time.Since(start).Microseconds()) / 1000,
		Command:    c.command,
		Machine:    c.machine,
	}
	line, err := marshalJSON(inv, false)
	if err != nil {
		return
	}
	line = append(line, '\n')
	targets := []string{c.logPath()}
	if p := c.getenv("FAKE_SMOLVM_LOG"); p != "" {
		if !filepath.IsAbs(p) {
			p = filepath.Join(c.cwd, p)
		}
		targets = append(targets, p)
	}
	for _, t := range targets {
		appendLocked(t, line)
	}
}

// appendLocked appends line as one write under an flock on the file itself
// (no lock file is left beside $FAKE_SMOLVM_LOG), so concurrent invocations
// never interleave lines.
func appendLocked(path string, line []byte) {
	_ = os.MkdirAll(filepath.Dir(path), 0o755)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	for syscall.Flock(int(f.Fd()), syscall.LOCK_EX) == syscall.EINTR {
	}
	_, _ = f.Write(line)
}

// readLog returns the recorded invocations, oldest first.
func (c *cli) readLog() ([]invocation, error) {
	b, err := os.ReadFile(c.logPath())
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []invocation
	for _, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		var inv invocation
		if json.Unmarshal([]byte(l), &inv) == nil {
			out = append(out, inv)
		}
	}
	return out, nil
}
