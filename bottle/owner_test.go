package bottle

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestLiveness checks owners against real processes of this host.
func TestLiveness(t *testing.T) {
	me := Self()
	if me.Start == 0 || me.Boot == "" || me.Host == "" || !strings.HasPrefix(me.PIDNS, "pid:[") {
		t.Fatalf("Self() = %+v: want start time, boot id, host and PID namespace on Linux", me)
	}
	// A child that has exited but is not reaped yet is a zombie: gone.
	zombie := exec.Command("true")
	if err := zombie.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = zombie.Wait() })
	waitFor(t, "the child to exit", func() bool { return !alive(zombie.Process.Pid) })
	// A child that ran and was reaped: no such process.
	reaped := exec.Command("true")
	if err := reaped.Run(); err != nil {
		t.Fatal(err)
	}
	// A child that runs.
	live := exec.Command("sleep", "60")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = live.Process.Kill(); _ = live.Wait() })
	liveStart, err := startTime(live.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, reason string
		owner        Owner
		want         Liveness
	}{
		{"self", "this process is alive", me, Alive},
		{"child", "a running child with its own start time is alive", Owner{PID: live.Process.Pid, Start: liveStart, Boot: me.Boot, Host: me.Host, PIDNS: me.PIDNS}, Alive},
		{"other-pidns", "a PID of another PID namespace (a container) says nothing here", Owner{PID: reaped.Process.Pid, Start: 1, Boot: me.Boot, Host: me.Host, PIDNS: "pid:[1]"}, Unknown},
		{"reaped", "a PID with no process is dead", Owner{PID: reaped.Process.Pid, Start: 1, Boot: me.Boot, Host: me.Host}, Dead},
		{"zombie", "an exited, unreaped child is dead", Owner{PID: zombie.Process.Pid, Boot: me.Boot, Host: me.Host}, Dead},
		{"recycled", "the PID now belongs to a process started at another time", Owner{PID: me.PID, Start: me.Start + 1, Boot: me.Boot, Host: me.Host}, Dead},
		{"rebooted", "an owner from an earlier boot of this host is dead, even if its PID runs now", Owner{PID: me.PID, Start: me.Start, Boot: "another-boot", Host: me.Host}, Dead},
		{"other-host", "another host's process cannot be checked from here", Owner{PID: 1 << 22, Boot: "b", Host: me.Host + "-other"}, Unknown},
		{"no-start", "without a start time (a non-Linux owner) the PID decides", Owner{PID: me.PID}, Alive},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.owner.Liveness(); got != tc.want {
				t.Errorf("%s: %+v.Liveness() = %s, want %s", tc.reason, tc.owner, got, tc.want)
			}
		})
	}
}

// TestStartTimeTicks: the start time is a process's own, so a process
// started later has a later one.
func TestStartTimeTicks(t *testing.T) {
	me, err := startTime(Self().PID)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // at least one clock tick (10 ms at USER_HZ 100)
	c := exec.Command("sleep", "60")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Process.Kill(); _ = c.Wait() }()
	child, err := startTime(c.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if child <= me {
		t.Errorf("child start %d, not after ours %d", child, me)
	}
}

func TestParseList(t *testing.T) {
	in := `[
  {"cpus": 4, "labels": {}, "name": "plain", "state": "running"},
  {"labels": {"smolbottle.bottle": "1", "smolbottle.owner.pid": "12", "smolbottle.owner.start": "99",
              "smolbottle.owner.boot": "bt", "smolbottle.owner.host": "h", "smolbottle.owner.pidns": "pid:[7]"}, "name": "zz", "state": "running"},
  {"labels": {"smolbottle.bottle": "1", "smolbottle.owner.pid": "13", "smolbottle.keep": "1"}, "name": "aa", "state": "stopped"},
  {"labels": {"smolbottle.bottle": "1", "smolbottle.owner.pid": "x"}, "name": "badpid", "state": "created"},
  {"labels": {"smolbottle.owner.pid": "14"}, "name": "notbottle", "state": "created"}
]`
	got, err := parseList([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Info{
		{Name: "aa", State: "stopped", Owner: Owner{PID: 13}, Kept: true},
		{Name: "zz", State: "running", Owner: Owner{PID: 12, Start: 99, Boot: "bt", Host: "h", PIDNS: "pid:[7]"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("only bottles with a readable owner, sorted by name (-want +got):\n%s", diff)
	}
	if _, err := parseList([]byte("No machines found\n")); err == nil {
		t.Error("text output: want an error, not an empty list")
	}
}

func TestOrphaned(t *testing.T) {
	me := Self()
	dead := Owner{PID: me.PID, Start: me.Start, Boot: "earlier-boot", Host: me.Host}
	for _, tc := range []struct {
		name string
		info Info
		want bool
	}{
		{"dead", Info{Owner: dead}, true},
		{"dead-kept", Info{Owner: dead, Kept: true}, false},
		{"alive", Info{Owner: me}, false},
		{"unknown", Info{Owner: Owner{PID: 5, Host: me.Host + "-other"}}, false},
	} {
		if got := tc.info.Orphaned(); got != tc.want {
			t.Errorf("%s: Orphaned() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestListThroughSmolvm: List reads the bottles back from smolvm machine
// ls --json: the ones Launch labelled, with this process as owner and
// Keep as Kept; a machine bottle did not create is not listed.
func TestListThroughSmolvm(t *testing.T) {
	s := newStub(t, stubConfig{})
	ctx := context.Background()
	for _, spec := range []Spec{
		{Target: Target{Program: s.prog, Name: "b2", GuestUser: "root"}},
		{Target: Target{Program: s.prog, Name: "b1", GuestUser: "root"}, Keep: true},
	} {
		m, err := Launch(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Close() })
	}
	if _, err := Run(ctx, Invocation{Argv: []string{s.prog, "machine", "create", "--name", "plain"}}); err != nil {
		t.Fatal(err)
	}
	got, err := List(ctx, s.prog)
	if err != nil {
		t.Fatal(err)
	}
	me := Self()
	want := []Info{{Name: "b1", State: "running", Owner: me, Kept: true}, {Name: "b2", State: "running", Owner: me}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	for _, b := range got {
		if b.Orphaned() {
			t.Errorf("%s: orphaned, but its owner (this test) lives", b.Name)
		}
	}
}
