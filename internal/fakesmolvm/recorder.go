package fakesmolvm

import (
	"bytes"
	"encoding/json"
	"io"
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
	Hung       bool     `json:"hung,omitempty"`       // a fault rule hung the invocation; exit is meaningless
	Unfinished bool     `json:"unfinished,omitempty"` // still running, or killed before it ended; exit is -1
	DurationMS float64  `json:"duration_ms"`
	Command    string   `json:"command,omitempty"` // canonical machine subcommand
	Machine    string   `json:"machine,omitempty"`
}

func (c *cli) logPath() string { return filepath.Join(c.paths.stateDir(), "invocations.jsonl") }

// pendingEntry is the log line an invocation wrote when it started, to be
// completed in place when it ends.
type pendingEntry struct {
	f    *os.File
	off  int64
	line []byte // as written, padding and newline included
}

// entrySlack is room left at the end of a started entry for what only the
// end knows (exit, duration, stdin bytes...), on top of the longest argv
// word (which bounds the machine name).
const entrySlack = 200

// begin writes the invocation's entry, marked unfinished, to every log
// when the command starts, so that an invocation killed before it ends
// still shows its argv. record completes the entry.
func (c *cli) begin(start time.Time) {
	inv := c.invocation(start, -1, false)
	inv.Unfinished = true
	inv.DurationMS = 0
	b, err := marshalJSON(inv, false)
	if err != nil {
		return
	}
	pad := entrySlack
	for _, a := range c.args {
		pad += len(a)
	}
	line := append(append(b, bytes.Repeat([]byte{' '}, pad)...), '\n')
	for _, t := range c.logTargets() {
		_ = os.MkdirAll(filepath.Dir(t), 0o755)
		f, err := os.OpenFile(t, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			continue
		}
		lockFD(f)
		off, err := f.Seek(0, io.SeekEnd)
		if err == nil {
			_, err = f.Write(line)
		}
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		if err != nil {
			f.Close()
			continue
		}
		c.pending = append(c.pending, pendingEntry{f, off, line})
	}
}

// invocation is the log entry as known now.
func (c *cli) invocation(start time.Time, code int, hung bool) invocation {
	keys := make([]string, 0, len(c.environ))
	for _, kv := range c.environ {
		k, _, _ := strings.Cut(kv, "=")
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return invocation{
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
}

func (c *cli) logTargets() []string {
	targets := []string{c.logPath()}
	if p := c.getenv("FAKE_SMOLVM_LOG"); p != "" {
		if !filepath.IsAbs(p) {
			p = filepath.Join(c.cwd, p)
		}
		targets = append(targets, p)
	}
	return targets
}

// record completes the invocation's entry in the state dir's log and in
// $FAKE_SMOLVM_LOG: in place when begin wrote it and it is still there
// (padded to the started line's length), else as a new line. Failures to
// record are ignored: recording must never change the outcome of a call.
func (c *cli) record(start time.Time, code int, hung bool) {
	line, err := marshalJSON(c.invocation(start, code, hung), false)
	if err != nil {
		return
	}
	if c.pending == nil {
		for _, t := range c.logTargets() {
			appendLocked(t, append(line, '\n'))
		}
		return
	}
	for _, p := range c.pending {
		completeEntry(p, line)
	}
	c.pending = nil
}

// completeEntry overwrites a started entry with line, or appends line
// when it does not fit or the entry is gone (a reset truncated the log).
func completeEntry(p pendingEntry, line []byte) {
	defer p.f.Close()
	lockFD(p.f)
	defer syscall.Flock(int(p.f.Fd()), syscall.LOCK_UN)
	cur := make([]byte, len(p.line))
	if n, _ := p.f.ReadAt(cur, p.off); n == len(cur) && bytes.Equal(cur, p.line) && len(line) < len(p.line) {
		full := append(append(line, bytes.Repeat([]byte{' '}, len(p.line)-len(line)-1)...), '\n')
		_, _ = p.f.WriteAt(full, p.off)
		return
	}
	if _, err := p.f.Seek(0, io.SeekEnd); err == nil {
		_, _ = p.f.Write(append(line, '\n'))
	}
}

func lockFD(f *os.File) {
	for syscall.Flock(int(f.Fd()), syscall.LOCK_EX) == syscall.EINTR {
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
	lockFD(f)
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
