package ptybridge

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWrap(t *testing.T) {
	sc := &SideChannel{Machine: "m1", FIFO: "/tmp/.bottle-resize-x"}
	wrap := []string{"sh", "-c", wrapScript, "sh", "/tmp/.bottle-resize-x"}
	for _, tc := range []struct {
		name   string
		argv   []string
		want   []string
		reason string
	}{
		{
			name:   "agent",
			argv:   []string{"smolvm", "machine", "exec", "--name", "m1", "-i", "-t", "-e", "HOME=/home/node", "--", "runuser", "-u", "node", "--", "claude", "--x"},
			want:   append(append([]string{"smolvm", "machine", "exec", "--name", "m1", "-i", "-t", "-e", "HOME=/home/node", "--"}, wrap...), "runuser", "-u", "node", "--", "claude", "--x"),
			reason: "the wrapper goes right after smolvm's own `--`; later `--` belong to the guest command",
		},
		{
			name:   "no dash dash",
			argv:   []string{"smolvm", "machine", "exec", "--name", "m1", "-it", "sh"},
			reason: "without `--` the guest command cannot be found reliably",
		},
		{
			name:   "nothing after",
			argv:   []string{"smolvm", "machine", "exec", "--name", "m1", "--"},
			reason: "an empty guest command is not wrapped",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sc.Wrap(tc.argv)
			if tc.want == nil {
				if err == nil {
					t.Errorf("Wrap(%q) = %q, want an error: %s", tc.argv, got, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Wrap (-want +got):\n%s\n%s", diff, tc.reason)
			}
		})
	}
}

func TestResizeArgv(t *testing.T) {
	sc := &SideChannel{Smolvm: "/opt/smolvm", Machine: "m1", FIFO: "/tmp/f"}
	want := []string{"/opt/smolvm", "machine", "exec", "--name", "m1", "--", "sh", "-c", resizeScript, "sh", "/tmp/f", "40", "120"}
	if diff := cmp.Diff(want, sc.ResizeArgv(Size{Rows: 40, Cols: 120})); diff != "" {
		t.Errorf("ResizeArgv (-want +got):\n%s", diff)
	}
	sc.Smolvm = ""
	if got := sc.ResizeArgv(Size{1, 2})[0]; got != "smolvm" {
		t.Errorf("program = %q, want smolvm from PATH by default", got)
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": Forward, "forward": Forward, "exec": Exec} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseMode("Exec"); err == nil {
		t.Error("ParseMode(\"Exec\") succeeded; modes are lower case")
	}
}

func TestNewSideChannelFreshFile(t *testing.T) {
	a, b := NewSideChannel("", "m"), NewSideChannel("", "m")
	if a.FIFO == b.FIFO || !strings.HasPrefix(a.FIFO, "/tmp/.bottle-resize-") {
		t.Errorf("FIFOs %q and %q: want distinct paths under /tmp", a.FIFO, b.FIFO)
	}
}
