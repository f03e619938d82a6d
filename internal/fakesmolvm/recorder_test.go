package fakesmolvm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompleteEntry: a started entry is overwritten in place, padded to
// its length, when the completed line fits and the entry is still there;
// otherwise the completed line is appended and nothing is overwritten.
func TestCompleteEntry(t *testing.T) {
	started := []byte(`{"argv":["smolvm"],"unfinished":true}` + "          \n")
	tests := []struct {
		name, reason string
		before       string // file content before the started entry
		replace      string // what the file holds instead of it at the end ("" = the entry)
		line         string
		want         string
	}{
		{
			name: "in place", reason: "the entry is completed where it started, other lines untouched",
			before: "first\n", line: `{"exit":0}`,
			want: "first\n" + `{"exit":0}` + strings.Repeat(" ", len(started)-len(`{"exit":0}`)-1) + "\n",
		},
		{
			name: "does not fit", reason: "a longer line is appended, the started entry stays",
			line: `{"argv":["smolvm"],"exit":0,"machine":"a-rather-long-name"}`,
			want: string(started) + `{"argv":["smolvm"],"exit":0,"machine":"a-rather-long-name"}` + "\n",
		},
		{
			name: "entry gone", reason: "a log reset under the invocation: its line is appended, not written over another",
			replace: "other invocation line that is long enough to cover the offset\n", line: `{"exit":0}`,
			want: "other invocation line that is long enough to cover the offset\n" + `{"exit":0}` + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "log.jsonl")
			if err := os.WriteFile(p, []byte(tt.before+string(started)), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			if tt.replace != "" {
				os.WriteFile(p, []byte(tt.replace), 0o644)
			}
			completeEntry(pendingEntry{f: f, off: int64(len(tt.before)), line: started}, []byte(tt.line))
			got, _ := os.ReadFile(p)
			if string(got) != tt.want {
				t.Errorf("%s:\ngot  %q\nwant %q", tt.reason, got, tt.want)
			}
		})
	}
}
