package bottle

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Spec describes a bottle to launch: the Target its execs address (Name
// "" generates one; GuestUser "" asks the guest once after start), how to
// create the machine, and its labels.
type Spec struct {
	Target
	// Image is the OCI image ("" = a bare machine).
	Image string
	// CPUs and MemoryMiB size the machine; 0 keeps smolvm's defaults.
	CPUs      int
	MemoryMiB int
	// MachineEnv is persisted on the machine (create -e K=V); Target.Env
	// is what every exec re-passes.
	MachineEnv []EnvVar
	// Network enables networking (--net).
	Network bool
	// CreateFlags are appended verbatim to "smolvm machine create".
	CreateFlags []string
	// Owner is the process the machine is labelled with (see LabelPID);
	// the zero value means the calling process (Self).
	Owner Owner
	// Keep labels the machine as left running on purpose (LabelKeep): it
	// is meant to outlive its owner, and Orphaned never reports it.
	Keep bool
	// Labels are more labels for the machine (create --label KEY=VALUE).
	// The owner labels (LabelBottle and the smolbottle.* keys) are
	// bottle's own and cannot be set here.
	Labels map[string]string

	// Agent is the agent RunAgent starts.
	Agent Agent
	// TeardownTimeout bounds stop + delete (default 2 minutes). Teardown
	// runs on a fresh context, so it also happens after ctx is cancelled.
	TeardownTimeout time.Duration
}

const defaultTeardownTimeout = 2 * time.Minute

// NewName returns a fresh machine name: "bottle-" + 8 lower-case hex digits.
func NewName() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return "bottle-" + hex.EncodeToString(b[:])
}

// CreateArgv builds "smolvm machine create" for spec (Name and Owner must
// be set): "--label KEY=VALUE" for each label, sorted by key.
func CreateArgv(spec Spec) (Invocation, error) {
	if err := ValidateName(spec.Name); err != nil {
		return Invocation{}, err
	}
	argv := []string{programOr(spec.Program), "machine", "create", "--name", spec.Name}
	if spec.Image != "" {
		if strings.TrimSpace(spec.Image) == "" || strings.HasPrefix(spec.Image, "-") {
			return Invocation{}, invalidf("invalid image %q", spec.Image)
		}
		argv = append(argv, "--image", spec.Image)
	}
	if spec.CPUs < 0 || spec.CPUs > 255 {
		return Invocation{}, invalidf("cpus %d out of range 1..255", spec.CPUs)
	}
	if spec.CPUs > 0 {
		argv = append(argv, "--cpus", strconv.Itoa(spec.CPUs))
	}
	if spec.MemoryMiB < 0 {
		return Invocation{}, invalidf("memory %d MiB is negative", spec.MemoryMiB)
	}
	if spec.MemoryMiB > 0 {
		argv = append(argv, "--mem", strconv.Itoa(spec.MemoryMiB))
	}
	for _, kv := range spec.MachineEnv {
		if err := ValidateEnvKey(kv.Key); err != nil {
			return Invocation{}, fmt.Errorf("machine env: %w", err)
		}
		if err := noNUL("value of machine env "+kv.Key, kv.Value); err != nil {
			return Invocation{}, err
		}
		argv = append(argv, "-e", kv.Key+"="+kv.Value)
	}
	if spec.Network {
		argv = append(argv, "--net")
	}
	labels, err := spec.labels()
	if err != nil {
		return Invocation{}, err
	}
	keys := slices.Sorted(maps.Keys(labels))
	for _, k := range keys {
		argv = append(argv, "--label", k+"="+labels[k])
	}
	for _, f := range spec.CreateFlags {
		if err := noNUL("create flag", f); err != nil {
			return Invocation{}, err
		}
	}
	argv = append(argv, spec.CreateFlags...)
	return Invocation{Argv: argv}, nil
}

// labels returns every label of the machine: spec.Labels, the owner's
// and LabelKeep. A key smolvm would split differently (with "="), an empty
// key and one of bottle's own are refused.
func (spec Spec) labels() (map[string]string, error) {
	if spec.Owner.PID <= 0 {
		return nil, invalidf("owner pid %d: want the process that owns the machine", spec.Owner.PID)
	}
	out := spec.Owner.labels()
	if spec.Keep {
		out[LabelKeep] = "1"
	}
	for k, v := range spec.Labels {
		switch {
		case k == "" || strings.ContainsAny(k, "=\x00"):
			return nil, invalidf("label key %q: want a non-empty key without '=' or NUL", k)
		case strings.HasPrefix(k, "smolbottle."):
			return nil, invalidf("label key %q: smolbottle.* labels are bottle's own", k)
		}
		if err := noNUL("value of label "+k, v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	for _, v := range []string{spec.Owner.Boot, spec.Owner.Host, spec.Owner.PIDNS} {
		if err := noNUL("owner label", v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// lifecycleArgv builds "smolvm machine VERB --name NAME [extra...]".
func lifecycleArgv(program, verb, name string, extra ...string) Invocation {
	return Invocation{Argv: append([]string{programOr(program), "machine", verb, "--name", name}, extra...)}
}

// Launch creates and starts a machine and returns it running. If anything
// fails, what was done is undone (stop, then delete) before Launch returns,
// and the errors are joined. Close on the result does the same teardown.
func Launch(ctx context.Context, spec Spec) (_ *Machine, err error) {
	if spec.Name == "" {
		spec.Name = NewName()
	}
	if spec.Owner == (Owner{}) {
		spec.Owner = Self()
	}
	create, err := CreateArgv(spec)
	if err != nil {
		return nil, err
	}
	m, err := Open(spec.Target, spec.Agent)
	if err != nil {
		return nil, err
	}
	timeout := spec.TeardownTimeout
	if timeout <= 0 {
		timeout = defaultTeardownTimeout
	}
	stack := &cleanupStack{timeout: timeout}
	defer func() {
		if err != nil {
			err = errors.Join(err, stack.run())
		}
	}()

	deleteStep := func(ctx context.Context) error {
		_, _, err := runOK(ctx, lifecycleArgv(spec.Program, "delete", spec.Name, "-f"))
		if errors.Is(err, ErrNotFound) {
			return nil // nothing (left) to delete
		}
		return err
	}
	_, started, err := runOK(ctx, create)
	if err != nil {
		// A clean refusal from smolvm (bad flag, name taken) created
		// nothing, and deleting would hit someone else's machine; any
		// other failure (killed, cancelled) may have left it half made.
		var serr *SmolvmError
		if started && !(errors.As(err, &serr) && serr.Kind != ErrExit) {
			stack.push("delete", deleteStep)
		}
		return nil, &LaunchError{Name: spec.Name, Step: "create", Err: err}
	}
	stack.push("delete", deleteStep)
	stack.push("stop", func(ctx context.Context) error {
		_, _, err := runOK(ctx, lifecycleArgv(spec.Program, "stop", spec.Name))
		return err
	})
	if _, _, err := runOK(ctx, lifecycleArgv(spec.Program, "start", spec.Name)); err != nil {
		return nil, &LaunchError{Name: spec.Name, Step: "start", Err: err}
	}
	if _, err := m.GuestUser(ctx); err != nil {
		return nil, &LaunchError{Name: spec.Name, Step: "probe", Err: err}
	}
	m.cleanup = stack
	return m, nil
}

// LaunchError is a failed Launch: the machine and the step that failed
// ("create", "start" or "probe", the default-user probe). What Launch
// undid, or failed to undo (a *TeardownError), is joined to it.
type LaunchError struct {
	Name string
	Step string
	Err  error
}

func (e *LaunchError) Error() string {
	if e.Step == "probe" {
		return "launch " + e.Name + ": " + e.Err.Error() // "probe default user: ..."
	}
	return "launch " + e.Name + ": " + e.Step + ": " + e.Err.Error()
}
func (e *LaunchError) Unwrap() error { return e.Err }

// Down stops and deletes the machine name (the CLI's "bottle down");
// program "" is DefaultProgram.
func Down(ctx context.Context, program, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if _, _, err := runOK(ctx, lifecycleArgv(program, "stop", name)); err != nil {
		if errors.Is(err, ErrNotFound) {
			return err
		}
		_, _, derr := runOK(ctx, lifecycleArgv(program, "delete", name, "-f"))
		return errors.Join(err, derr)
	}
	_, _, err := runOK(ctx, lifecycleArgv(program, "delete", name, "-f"))
	return err
}

// cleanupStack runs its steps in reverse order, each one even if an earlier
// one failed, on a fresh context bounded by timeout. It needs no lock: Launch
// builds it, and then either Launch or Close (once) runs it.
type cleanupStack struct {
	timeout time.Duration
	steps   []cleanupStep
}

type cleanupStep struct {
	name string
	fn   func(context.Context) error
}

func (s *cleanupStack) push(name string, fn func(context.Context) error) {
	s.steps = append(s.steps, cleanupStep{name, fn})
}

func (s *cleanupStack) run() error {
	steps := s.steps
	s.steps = nil
	if len(steps) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	var errs []error
	for i := len(steps) - 1; i >= 0; i-- {
		if err := steps[i].fn(ctx); err != nil {
			errs = append(errs, fmt.Errorf("teardown: %s: %w", steps[i].name, err))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &TeardownError{Err: errors.Join(errs...)}
}

// TeardownError is a failed stop or delete of a launched machine (from
// Launch's cleanup or Close): the machine may still exist. Callers find it
// with errors.As in an error that also says why teardown ran.
type TeardownError struct {
	Err error // the failed steps, joined
}

func (e *TeardownError) Error() string { return e.Err.Error() }
func (e *TeardownError) Unwrap() error { return e.Err }
