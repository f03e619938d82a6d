package smolvmtest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestParseLog reads the entry shapes `smolvm fake log --json` can hold,
// also entries of invocations that have not ended.
func TestParseLog(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	for _, tc := range []struct {
		name, reason, json string
		want               []Invocation
	}{
		{name: "ended", reason: "every field is carried over; duration_ms becomes a Duration",
			json: `[{"time":"2026-01-02T03:04:05.0000006Z","argv":["smolvm","machine","ls"],"env_keys":["A","B"],"cwd":"/w","stdin_bytes":3,"stdin_tty":true,"exit":2,"duration_ms":1.5,"command":"ls","machine":"m"}]`,
			want: []Invocation{{Time: start, Argv: []string{"smolvm", "machine", "ls"}, EnvKeys: []string{"A", "B"}, Cwd: "/w", StdinBytes: 3, StdinTTY: true,
				Done: true, Exit: 2, Duration: 1500 * time.Microsecond, Command: "ls", Machine: "m"}}},
		{name: "running", reason: "an entry written when the invocation started has no exit yet",
			json: `[{"time":"2026-01-02T03:04:05.0000006Z","argv":["smolvm"]}]`,
			want: []Invocation{{Time: start, Argv: []string{"smolvm"}, Exit: -1}}},
		{name: "unfinished", reason: "the fake writes an entry when an invocation starts, marked unfinished with exit -1, and completes it when it ends",
			json: `[{"time":"2026-01-02T03:04:05.0000006Z","argv":["smolvm","machine","start"],"exit":-1,"unfinished":true,"duration_ms":0,"command":"start","machine":"m"}]`,
			want: []Invocation{{Time: start, Argv: []string{"smolvm", "machine", "start"}, Exit: -1, Command: "start", Machine: "m"}}},
		{name: "exit null", reason: "a null exit is no exit",
			json: `[{"argv":["smolvm"],"exit":null}]`,
			want: []Invocation{{Argv: []string{"smolvm"}, Exit: -1}}},
		{name: "hung", reason: "a hang fault's entry is hung and not done, its exit meaningless",
			json: `[{"argv":["smolvm"],"exit":-1,"hung":true,"duration_ms":0.2}]`,
			want: []Invocation{{Argv: []string{"smolvm"}, Exit: -1, Hung: true}}},
		{name: "done", reason: "a completed entry (an exit, neither unfinished nor hung) is done with its exit",
			json: `[{"argv":["smolvm"],"exit":0}]`,
			want: []Invocation{{Argv: []string{"smolvm"}, Done: true, Exit: 0}}},
		{name: "empty", reason: "an empty log is no invocations",
			json: `[]`, want: []Invocation{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseLog([]byte(tc.json))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("%s (-want +got):\n%s", tc.reason, d)
			}
		})
	}
	for _, bad := range []string{`{`, `[{"time":"yesterday"}]`, `{"argv":[]}`} {
		if _, err := parseLog([]byte(bad)); err == nil {
			t.Errorf("parseLog(%s) accepted", bad)
		}
	}
}
