package bottle

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// DefaultProgram is the smolvm program used when none is given (an empty
// Target.Program, or program argument); it is looked up on PATH when run.
// The library never reads the environment for it: the bottle CLI passes
// $SMOLVM.
const DefaultProgram = "smolvm"

// EnvVar is one guest environment entry. Guest env is a slice, not a map,
// because it is passed in insertion order.
type EnvVar struct {
	Key, Value string
}

// PromptMode says how the agent is pointed at its prompt file.
type PromptMode string

const (
	// PromptAppendFile puts "--append-system-prompt-file PATH" before the
	// user's arguments (claude), unless they already carry that flag.
	PromptAppendFile PromptMode = "claude_append_file"
	// PromptReadFile appends one positional argument after the user's
	// arguments: "Read PATH and follow the instructions in it." (codex).
	PromptReadFile PromptMode = "codex_read_prompt_file"
)

// appendPromptFlag is the claude flag PromptAppendFile adds.
const appendPromptFlag = "--append-system-prompt-file"

// defaultPromptMode returns PromptReadFile for the agent command "codex"
// and PromptAppendFile for anything else, as the original did
// (docs/original.md, The agent command and its prompt).
func defaultPromptMode(agentCommand string) PromptMode {
	if agentCommand == "codex" {
		return PromptReadFile
	}
	return PromptAppendFile
}

// Defaults kept from the original (docs/original.md, The agent command and
// its prompt).
const (
	// DefaultAgentCommand is the agent run when Agent.Command is empty.
	DefaultAgentCommand = "claude"
	// DefaultAgentUser is the user the agent and Exec run as when none is
	// given (not to be confused with Target.GuestUser, the user smolvm exec
	// itself runs as in the guest).
	DefaultAgentUser = "node"
)

// Target is what every argv addresses: the program, the machine, and what
// each exec re-passes. The builders are pure: they never read the process
// environment.
type Target struct {
	// Program is argv[0]; "" means DefaultProgram.
	Program string
	// Name is the machine name (validated with smolvm's rules).
	Name string
	// Env is the guest environment, passed as "-e K=V" on every exec in
	// this order: smolvm's create -e does not reach fresh exec process trees.
	Env []EnvVar
	// Secrets are passed as "-e KEY" only; their values go into smolvm's
	// own environment (Invocation.Env), never into argv.
	Secrets map[string]string
	// GuestUser is the user smolvm exec runs commands as when not told
	// otherwise. "" (unknown) and "root" mean the original's guest model:
	// switch users with "runuser -u USER --". See the package
	// documentation.
	GuestUser string
}

// Agent describes the coding agent run inside the bottle.
type Agent struct {
	// Command is the agent executable in the guest; "" means "claude".
	Command string
	// PromptMode defaults to PromptReadFile for the command "codex" and
	// PromptAppendFile for any other.
	PromptMode PromptMode
	// PromptPath is the guest path of the prompt file; "" adds no prompt
	// arguments.
	PromptPath string
	// User runs the agent; "" means "node" (claude-code refuses to run as
	// root with --dangerously-skip-permissions).
	User string
}

// Invocation is one smolvm command line plus the entries it needs in
// smolvm's own environment (secret values, as KEY=VALUE).
type Invocation struct {
	Argv []string
	Env  []string
}

// Stdio says how the agent's smolvm exec is connected to the caller.
type Stdio int

const (
	// Buffered is the original's form without a terminal: no -i or -t, the
	// agent's stdin is /dev/null and smolvm prints its output only once it
	// has ended, at most 11 MiB per stream (docs/smolvm.md, exec: buffered).
	Buffered Stdio = iota
	// Streamed is "-i" without "-t": stdin is forwarded, and stdout and
	// stderr stream live and separately, with no size cap (docs/smolvm.md,
	// exec: -i). RunAgent uses it without a terminal.
	Streamed
	// TTY is "-i -t": a guest terminal, to run behind the PTY-resize bridge.
	TTY
)

func (s Stdio) String() string {
	switch s {
	case Buffered:
		return "buffered"
	case Streamed:
		return "streamed"
	case TTY:
		return "tty"
	}
	return fmt.Sprintf("Stdio(%d)", int(s))
}

// flags returns the exec flags of s.
func (s Stdio) flags() ([]string, error) {
	switch s {
	case Buffered:
		return nil, nil
	case Streamed:
		return []string{"-i"}, nil
	case TTY:
		return []string{"-i", "-t"}, nil
	}
	return nil, invalidf("unknown stdio %d", int(s))
}

// AgentArgv builds the agent command line, connected as stdio says.
func AgentArgv(t Target, a Agent, args []string, stdio Stdio) (Invocation, error) {
	a = a.withDefaults()
	if err := a.validate(); err != nil {
		return Invocation{}, err
	}
	for i, arg := range args {
		if err := noNUL(fmt.Sprintf("agent argument %d", i), arg); err != nil {
			return Invocation{}, err
		}
	}
	tail := []string{a.Command}
	prompt := promptArgs(a.PromptMode, a.PromptPath, args)
	if a.PromptMode == PromptReadFile {
		tail = append(append(tail, args...), prompt...)
	} else {
		tail = append(append(tail, prompt...), args...)
	}
	flags, err := stdio.flags()
	if err != nil {
		return Invocation{}, err
	}
	return execArgv(t, a.User, flags, tail)
}

// ExecArgv builds "run /bin/sh -c SCRIPT as user" (user "" means
// DefaultAgentUser), in Machine.Exec's order: script, then user. Exec never
// allocates a TTY.
func ExecArgv(t Target, script, user string) (Invocation, error) {
	user, err := checkExec(user, script)
	if err != nil {
		return Invocation{}, err
	}
	return execArgv(t, user, nil, []string{"/bin/sh", "-c", script})
}

// checkExec validates what ExecArgv takes besides the target, with the
// default user applied, so Machine.Exec can refuse bad input before it
// asks the guest anything.
func checkExec(user, script string) (string, error) {
	if user == "" {
		user = DefaultAgentUser
	}
	if err := ValidateUser(user); err != nil {
		return "", err
	}
	return user, noNUL("script", script)
}

// probeArgv builds the one call that asks the guest which user exec runs
// as by default: "smolvm machine exec --name NAME -- id -un".
func probeArgv(t Target) (Invocation, error) {
	if err := ValidateName(t.Name); err != nil {
		return Invocation{}, err
	}
	return Invocation{Argv: []string{t.program(), "machine", "exec", "--name", t.Name, "--", "id", "-un"}}, nil
}

// UploadOptions set what smolvm's agent, which writes uploads as root,
// gives the uploaded file; the zero value keeps smolvm's defaults (root:root,
// 0644) and adds no flags.
type UploadOptions struct {
	// Mode is the file's permission bits ("--mode", in octal); 0 keeps
	// smolvm's default. Only permission bits are allowed.
	Mode fs.FileMode
	// Owner, when set, is the file's numeric owner ("--uid U --gid G").
	Owner *FileOwner
}

// FileOwner is a numeric guest uid and gid.
type FileOwner struct {
	UID, GID uint32
}

// CopyInArgv builds "smolvm machine cp [--mode OCTAL] [--uid U --gid G]
// HOST NAME:GUEST". A host path with ":" is refused (smolvm would read it
// as MACHINE:PATH and copy the wrong way; Machine.CopyIn stages such a file
// under a colon-free name). A host path starting with "-" is passed as
// "./-..." so it is not read as a flag. Setting mode and owner at upload
// needs no exec as root in the guest, so it works whatever user the
// guest's exec runs as.
func CopyInArgv(t Target, hostPath, guestPath string, opts UploadOptions) (Invocation, error) {
	if err := ValidateName(t.Name); err != nil {
		return Invocation{}, err
	}
	host, err := hostArg(hostPath)
	if err != nil {
		return Invocation{}, err
	}
	if strings.Contains(hostPath, ":") {
		return Invocation{}, fmt.Errorf("host path %q: %w", hostPath, ErrColonPath)
	}
	if err := guestArg(guestPath); err != nil {
		return Invocation{}, err
	}
	if opts.Mode&^fs.ModePerm != 0 {
		return Invocation{}, invalidf("upload mode %v: only permission bits can be set", opts.Mode)
	}
	argv := []string{t.program(), "machine", "cp"}
	if opts.Mode != 0 {
		argv = append(argv, "--mode", fmt.Sprintf("%03o", uint32(opts.Mode)))
	}
	if o := opts.Owner; o != nil {
		argv = append(argv, "--uid", strconv.FormatUint(uint64(o.UID), 10), "--gid", strconv.FormatUint(uint64(o.GID), 10))
	}
	return Invocation{Argv: append(argv, host, t.Name+":"+guestPath)}, nil
}

// CopyOutArgv builds "smolvm machine cp NAME:GUEST HOST". smolvm takes the
// destination as a local path even when it contains ":" (the source already
// names the machine), so such a host path is passed unchanged.
func CopyOutArgv(t Target, guestPath, hostPath string) (Invocation, error) {
	if err := ValidateName(t.Name); err != nil {
		return Invocation{}, err
	}
	if err := guestArg(guestPath); err != nil {
		return Invocation{}, err
	}
	host, err := hostArg(hostPath)
	if err != nil {
		return Invocation{}, err
	}
	return Invocation{Argv: []string{t.program(), "machine", "cp", t.Name + ":" + guestPath, host}}, nil
}

// ErrColonPath is returned by CopyInArgv for a host path containing ":".
var ErrColonPath = errors.New("a host path with ':' would be read by smolvm as MACHINE:PATH")

func hostArg(p string) (string, error) {
	if p == "" {
		return "", invalidf("host path is empty")
	}
	if err := noNUL("host path", p); err != nil {
		return "", err
	}
	if strings.HasPrefix(p, "-") {
		return "./" + p, nil
	}
	return p, nil
}

func guestArg(p string) error {
	if p == "" {
		return invalidf("guest path is empty")
	}
	return noNUL("guest path", p)
}

// execArgv is the shared shape of every user command:
// PROGRAM machine exec --name NAME [-i [-t]] -e HOME=H -e USER=U [-e K=V]...
// [-e SECRET]... -- [runuser -u U --] TAIL...
func execArgv(t Target, user string, stdio []string, tail []string) (Invocation, error) {
	if err := t.validate(); err != nil {
		return Invocation{}, err
	}
	if err := ValidateUser(user); err != nil {
		return Invocation{}, err
	}
	switchUser, err := needsRunuser(t.GuestUser, user)
	if err != nil {
		return Invocation{}, err
	}
	argv := append([]string{t.program(), "machine", "exec", "--name", t.Name}, stdio...)
	argv = append(argv, "-e", "HOME="+HomeFor(user), "-e", "USER="+user)
	for _, kv := range t.Env {
		argv = append(argv, "-e", kv.Key+"="+kv.Value)
	}
	keys := t.secretKeys()
	env := make([]string, 0, len(keys))
	for _, k := range keys {
		argv = append(argv, "-e", k)
		env = append(env, k+"="+t.Secrets[k])
	}
	argv = append(argv, "--")
	if switchUser {
		argv = append(argv, "runuser", "-u", user, "--")
	}
	argv = append(argv, tail...)
	if len(env) == 0 {
		env = nil
	}
	return Invocation{Argv: argv, Env: env}, nil
}

// needsRunuser applies the two guest models: a guest whose exec runs as
// root (or is not known) switches with runuser; a guest whose exec already
// runs as the target user needs no switch (runuser would fail there with
// "may not be used by non-root users"); any other combination cannot work.
func needsRunuser(defaultUser, user string) (bool, error) {
	switch defaultUser {
	case "", "root":
		return true, nil
	case user:
		return false, nil
	}
	return false, fmt.Errorf("guest runs exec as %q, which cannot switch to user %q (runuser needs root): %w",
		defaultUser, user, ErrUserSwitch)
}

// ErrUserSwitch is returned when the guest's default exec user is a
// non-root user other than the requested one.
var ErrUserSwitch = errors.New("cannot switch guest user")

// HomeFor returns the HOME every exec as user gets: /root for root,
// /home/USER otherwise (docs/original.md, HOME and USER through -e).
func HomeFor(user string) string {
	if user == "root" {
		return "/root"
	}
	return "/home/" + user
}

func promptArgs(mode PromptMode, path string, args []string) []string {
	if path == "" {
		return nil
	}
	switch mode {
	case PromptReadFile:
		return []string{"Read " + path + " and follow the instructions in it."}
	default:
		if slices.ContainsFunc(args, func(a string) bool {
			return a == appendPromptFlag || strings.HasPrefix(a, appendPromptFlag+"=")
		}) {
			return nil // the user's own prompt flag wins
		}
		return []string{appendPromptFlag, path}
	}
}

func (a Agent) withDefaults() Agent {
	if a.Command == "" {
		a.Command = DefaultAgentCommand
	}
	if a.PromptMode == "" {
		a.PromptMode = defaultPromptMode(a.Command)
	}
	if a.User == "" {
		a.User = DefaultAgentUser
	}
	return a
}

func (a Agent) validate() error {
	switch a.PromptMode {
	case PromptAppendFile, PromptReadFile:
	default:
		return invalidf("unknown prompt mode %q: want %s or %s", a.PromptMode, PromptAppendFile, PromptReadFile)
	}
	if err := noNUL("agent command", a.Command); err != nil {
		return err
	}
	return noNUL("prompt path", a.PromptPath)
}

func (t Target) program() string { return programOr(t.Program) }

func programOr(p string) string {
	if p == "" {
		return DefaultProgram
	}
	return p
}

// validate checks everything an exec passes: the name, env keys and values,
// secret keys and values, and the default user.
func (t Target) validate() error {
	if err := ValidateName(t.Name); err != nil {
		return err
	}
	if t.GuestUser != "" {
		if err := ValidateUser(t.GuestUser); err != nil {
			return fmt.Errorf("default user: %w", err)
		}
	}
	seen := map[string]bool{}
	for _, kv := range t.Env {
		if err := ValidateEnvKey(kv.Key); err != nil {
			return err
		}
		if err := noNUL("value of env "+kv.Key, kv.Value); err != nil {
			return err
		}
		seen[kv.Key] = true
	}
	for _, k := range t.secretKeys() {
		if err := ValidateEnvKey(k); err != nil {
			return fmt.Errorf("secret: %w", err)
		}
		if seen[k] {
			return invalidf("env key %q is given both as plain env and as a secret", k)
		}
		if reservedSecret(k) {
			return invalidf("secret %q would also change smolvm's own environment; pass it under another name", k)
		}
		if err := noNUL("value of secret "+k, t.Secrets[k]); err != nil {
			return err
		}
	}
	return nil
}

// reservedSecret reports keys that a secret may not use: its value goes
// into smolvm's own environment, where these names steer smolvm itself
// (its state dir, program lookup, dynamic loader) or are set by bottle.
func reservedSecret(k string) bool {
	switch k {
	case "HOME", "USER", "PATH", "TMPDIR":
		return true
	}
	for _, p := range []string{"SMOLVM_", "XDG_", "LD_"} {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// secretKeys returns the secret keys sorted, so the argv is deterministic.
func (t Target) secretKeys() []string {
	return slices.Sorted(maps.Keys(t.Secrets))
}
