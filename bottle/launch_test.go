package bottle

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLaunchAndClose(t *testing.T) {
	checkGoroutines(t)
	s := newStub(t, stubConfig{})
	m, err := Launch(context.Background(), Spec{Target: Target{Program: s.prog}, Image: "node:22", CPUs: 2, MemoryMiB: 1024, Network: true})
	if err != nil {
		t.Fatal(err)
	}
	me := Self()
	if err := ValidateName(m.Name()); err != nil || !strings.HasPrefix(m.Name(), "bottle-") {
		t.Errorf("generated name %q: %v", m.Name(), err)
	}
	if got := s.machines(); got[m.Name()] != "running" {
		t.Errorf("after Launch: %v, want %s running", got, m.Name())
	}
	create := s.calls()[0].Argv
	want := []string{"smolvm", "machine", "create", "--name", m.Name(), "--image", "node:22", "--cpus", "2", "--mem", "1024", "--net",
		"--label", "smolbottle.bottle=1", "--label", "smolbottle.owner.boot=" + me.Boot, "--label", "smolbottle.owner.host=" + me.Host,
		"--label", "smolbottle.owner.pid=" + strconv.Itoa(me.PID), "--label", "smolbottle.owner.pidns=" + me.PIDNS,
		"--label", "smolbottle.owner.start=" + strconv.FormatUint(me.Start, 10)}
	if diff := cmp.Diff(want, create); diff != "" {
		t.Errorf("create argv (-want +got):\n%s", diff)
	}
	if u, _ := m.GuestUser(context.Background()); u != "root" {
		t.Errorf("probed default user %q, want root", u)
	}

	// Close from two goroutines, then again: one teardown, one result.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() { errs[i] = m.Close() })
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil || m.Close() != nil {
		t.Fatalf("Close: %v %v", errs[0], errs[1])
	}
	if diff := cmp.Diff([]string{"create", "start", "probe", "stop", "delete"}, s.verbs()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	s.assertNothingLeft()
}

func TestLaunchFailures(t *testing.T) {
	refused := stubAction{Exit: 1, Stderr: "Error: config operation failed: validate resources: CPU count must be at least 1\n"}
	tests := []struct {
		name, reason string
		cfg          stubConfig
		spec         Spec
		wantVerbs    []string
		wantErr      []error  // each must match errors.Is
		wantText     []string // each must appear in the message
		wantStep     string   // the *LaunchError's step; "" for none
	}{
		{
			name:      "create-refused",
			reason:    "smolvm refused create cleanly: nothing exists, and nothing is deleted (it could be someone else's)",
			cfg:       stubConfig{Actions: map[string]stubAction{"create": refused}},
			wantVerbs: []string{"create"},
			wantErr:   []error{ErrSmolvm},
			wantText:  []string{"create: ", "CPU count must be at least 1"},
			wantStep:  "create",
		},
		{
			name:      "create-crashed",
			reason:    "create failed without smolvm's error line after making the record: it is deleted",
			cfg:       stubConfig{Actions: map[string]stubAction{"create": {Exit: 101, Stderr: "thread 'main' panicked\n", Partial: true}}},
			wantVerbs: []string{"create", "delete"},
			wantErr:   []error{ErrExit},
			wantText:  []string{"panicked"},
			wantStep:  "create",
		},
		{
			name:      "name-taken",
			reason:    "a taken name is a clean refusal: the existing machine is not deleted",
			spec:      Spec{Target: Target{Name: "taken"}},
			wantVerbs: []string{"create", "start", "probe", "create"},
			wantErr:   []error{ErrSmolvm, ErrExists},
			wantText:  []string{"already exists"},
			wantStep:  "create",
		},
		{
			name:      "start-fails",
			reason:    "start failed: stop then delete, in reverse order of setup",
			cfg:       stubConfig{Actions: map[string]stubAction{"start": {Exit: 1, Stderr: "Error: agent operation failed: start: boom\n"}}},
			wantVerbs: []string{"create", "start", "stop", "delete"},
			wantErr:   []error{ErrSmolvm},
			wantText:  []string{"start: ", "boom"},
			wantStep:  "start",
		},
		{
			name:      "probe-fails",
			reason:    "the default-user probe failed after start: full teardown",
			cfg:       stubConfig{Actions: map[string]stubAction{"exec": {Exit: 1, Stderr: "id: cannot find name for user ID 1000\n"}}},
			wantVerbs: []string{"create", "start", "probe", "stop", "delete"},
			wantText:  []string{"probe default user", "cannot find name"},
			wantStep:  "probe",
		},
		{
			name:   "teardown-fails-too",
			reason: "start, stop and delete all fail: every error is joined into one",
			cfg: stubConfig{Actions: map[string]stubAction{
				"start":  {Exit: 1, Stderr: "Error: start broke\n"},
				"stop":   {Exit: 1, Stderr: "Error: stop broke\n"},
				"delete": {Exit: 1, Stderr: "Error: delete broke\n"},
			}},
			wantVerbs: []string{"create", "start", "stop", "delete"},
			wantErr:   []error{ErrSmolvm},
			wantText:  []string{"start broke", "teardown: stop: ", "stop broke", "teardown: delete: ", "delete broke"},
			wantStep:  "start",
		},
		{
			name:      "invalid-spec",
			reason:    "an invalid spec runs nothing",
			spec:      Spec{Target: Target{Env: []EnvVar{{"A=B", "x"}}}},
			wantVerbs: nil,
			wantErr:   []error{ErrInvalid},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			s := newStub(t, tc.cfg)
			spec := tc.spec
			spec.Program = s.prog
			var first *Machine
			if tc.name == "name-taken" {
				var err error
				if first, err = Launch(context.Background(), spec); err != nil {
					t.Fatal(err)
				}
			}
			m, err := Launch(context.Background(), spec)
			if err == nil {
				t.Fatalf("%s: Launch succeeded with %s", tc.reason, m.Name())
			}
			for _, want := range tc.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("%s: error %q does not match %v", tc.reason, err, want)
				}
			}
			for _, want := range tc.wantText {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%s: error %q lacks %q", tc.reason, err, want)
				}
			}
			var lerr *LaunchError
			if errors.As(err, &lerr) != (tc.wantStep != "") || lerr != nil && lerr.Step != tc.wantStep {
				t.Errorf("%s: error %q: want a *LaunchError of step %q, got %+v", tc.reason, err, tc.wantStep, lerr)
			}
			if diff := cmp.Diff(tc.wantVerbs, s.verbs()); diff != "" {
				t.Errorf("%s: calls (-want +got):\n%s", tc.reason, diff)
			}
			if tc.name == "name-taken" {
				if got := s.machines(); got["taken"] != "running" {
					t.Errorf("the existing machine was touched: %v", got)
				}
				if err := first.Close(); err != nil {
					t.Fatal(err)
				}
			}
			var terr *TeardownError
			if got, want := errors.As(err, &terr), tc.name == "teardown-fails-too"; got != want {
				t.Errorf("%s: error %q: a *TeardownError in it is %v, want %v (only a failed stop or delete is one)", tc.reason, err, got, want)
			}
			if tc.name == "teardown-fails-too" {
				if strings.Contains(terr.Error(), "start broke") {
					t.Errorf("the TeardownError %q carries the launch failure too", terr)
				}
				return // the stub's delete failed on purpose
			}
			s.assertNothingLeft()
		})
	}
}

// TestLaunchCancelled cancels the context while create or start hangs
// (having already half-done its work, with a grandchild holding the
// pipes): Launch returns, and stop and delete still run, on a fresh context.
func TestLaunchCancelled(t *testing.T) {
	tests := []struct {
		name, verb, reason string
		wantVerbs          []string
	}{
		{"mid-create", "create", "a killed create may have made the record: delete it", []string{"create", "delete"}},
		{"mid-start", "start", "a killed start may have booted the machine: stop and delete", []string{"create", "start", "stop", "delete"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			s := newStub(t, stubConfig{Actions: map[string]stubAction{tc.verb: {Hang: true, Grandchild: true, Partial: true}}})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				m, err := Launch(ctx, Spec{Target: Target{Program: s.prog, Name: "b1"}})
				if err == nil {
					err = errors.Join(errors.New("Launch succeeded"), m.Close())
				}
				done <- err
			}()
			s.waitHanging()
			// The stub's next call must not hang: teardown uses it.
			s.configure(stubConfig{})
			cancel()
			err := <-done
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("%s: Launch: %v, want context.Canceled", tc.reason, err)
			}
			if diff := cmp.Diff(tc.wantVerbs, s.verbs()); diff != "" {
				t.Errorf("%s: calls (-want +got):\n%s", tc.reason, diff)
			}
			s.assertNothingLeft()
		})
	}
}

func TestLaunchStatedUserSkipsProbe(t *testing.T) {
	s := newStub(t, stubConfig{ProbeUser: "root"})
	m, err := Launch(context.Background(), Spec{
		Target: Target{Program: s.prog, Name: "b1", GuestUser: "node", Env: []EnvVar{{"A", "1"}}},
		Agent:  Agent{Command: "codex", PromptPath: "/p"}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	res, err := m.Exec(context.Background(), "true", "")
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Exec: %v %v", res, err)
	}
	code, err := m.RunAgent(context.Background(), []string{"--full-auto"},
		RunOptions{TTY: true, Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard})
	if code != 0 || err != nil {
		t.Fatalf("RunAgent = %d, %v", code, err)
	}
	calls := s.calls()
	got := calls[len(calls)-1].Argv
	want := []string{"smolvm", "machine", "exec", "--name", "b1", "-i", "-t", "-e", "HOME=/home/node", "-e", "USER=node",
		"-e", "A=1", "--", "codex", "--full-auto", "Read /p and follow the instructions in it."}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("agent argv (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"create", "start", "exec", "exec"}, s.verbs()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	s.assertNothingLeft()
}

func TestDown(t *testing.T) {
	s := running(t, stubConfig{})
	if err := Down(context.Background(), s.prog, "b1"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"stop", "delete"}, s.verbs()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	s.assertNothingLeft()
	err := Down(context.Background(), s.prog, "b1")
	if !errors.Is(err, ErrNotFound) || strings.Count(err.Error(), "vm not found") != 1 {
		t.Errorf("Down of a missing machine: %v, want one ErrNotFound", err)
	}
	if err := Down(context.Background(), s.prog, "-h"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Down(-h): %v, want ErrInvalid", err)
	}
}

// TestDownStopFails: a stop that fails for another reason than a missing
// machine does not keep Down from deleting it, and the error says so.
func TestDownStopFails(t *testing.T) {
	s := running(t, stubConfig{Actions: map[string]stubAction{"stop": {Exit: 1, Stderr: "Error: stop broke\n"}}})
	err := Down(context.Background(), s.prog, "b1")
	if !errors.Is(err, ErrSmolvm) || !strings.Contains(err.Error(), "stop broke") {
		t.Errorf("Down: %v, want the stop's ErrSmolvm", err)
	}
	if diff := cmp.Diff([]string{"stop", "delete"}, s.verbs()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	s.assertNothingLeft()
}
