// Package bottle runs coding agents inside smolvm microVMs: it launches a
// machine, runs the agent with or without a TTY, executes scripts as a user,
// copies files in and out, and tears everything down on every exit path.
//
// # Layers
//
// The argv builders (AgentArgv, ExecArgv, CopyInArgv, CopyOutArgv,
// CreateArgv, ResizeArgv) are pure: they validate their input and return an
// Invocation (argv plus the environment entries smolvm needs), nothing
// else; an empty Target.Program is DefaultProgram, "smolvm" from PATH, and
// nothing in the package reads the environment for it. Run executes an
// Invocation; Launch and Machine tie them together. For the cases the
// original Python implementation covered, the argv is byte-identical to it
// (docs/original.md says what is kept and why):
//
//	smolvm machine exec --name NAME [-i -t] -e HOME=H -e USER=U [-e K=V]... -- runuser -u U -- CMD...
//
// # The agent
//
// Machine.RunAgent runs the agent one way on both paths: on a terminal
// (RunOptions.TTY) with "-i -t", without one with "-i" alone, so stdin is
// forwarded and stdout and stderr stream live, apart and uncapped (Stdio
// names the three forms; Buffered, the original's form without a
// terminal, is for AgentArgv only). RunOptions.Runner plugs in what runs
// the command: the bottle CLI passes the PTY-resize bridge (package
// ptybridge). smolvm's own stderr is read on both paths, so a failure of
// smolvm is a *SmolvmError, not the agent's exit status.
//
// # Users and the two guest models
//
// smolvm exec runs commands as a default user that depends on the machine:
// root on a bare machine (the original's assumption), the image's user on an
// image machine. runuser only works as root ("runuser: may not be used by
// non-root users"), so the builders take the guest's default exec user
// (Target.GuestUser) as a parameter:
//   - "" (unknown) or "root": switch with "runuser -u USER --", as the
//     original does;
//   - the target user itself: no runuser; HOME and USER still go through -e;
//   - another non-root user: ErrUserSwitch, since no switch can work.
//
// Launch learns the guest user with one probe after start
// ("smolvm machine exec --name NAME -- id -un") unless Target.GuestUser
// says it; Open probes lazily, on the first Exec or RunAgent.
//
// # Safety beyond the original
//
// Where the original was unsafe, bottle goes further (docs/original.md,
// Where bottle goes further). Secrets never appear in argv (which every
// local user can read through ps): Target.Secrets are passed as "-e KEY",
// and smolvm copies the value from its own environment, where
// Invocation.Env puts it.
//
// smolvm machine cp reads an argument with ":" as MACHINE:PATH. An upload
// from a host path with ":" would be taken as a download, so CopyInArgv
// refuses it (ErrColonPath) and Machine.CopyIn stages the file under a
// colon-free temporary name (hard link, else copy) and removes it
// afterwards. A download's destination is always local to smolvm, colon or
// not, so CopyOutArgv passes it unchanged. A host path starting with "-" is
// passed as "./-..." so it is never read as a flag. UploadOptions set an
// upload's mode and owner with smolvm cp's --mode/--uid/--gid: smolvm's
// agent writes as root, so this needs no exec as root, which a guest whose
// exec runs as the image's user refuses.
//
// Machine names are checked with smolvm's own rules (ValidateName), user
// names with a conservative POSIX pattern (ValidateUser) and env keys with
// [A-Za-z_][A-Za-z0-9_]* (ValidateEnvKey), before anything runs: a user named
// "-h" or a key with "=" never reaches smolvm. These errors match ErrInvalid.
//
// # Errors
//
// A guest command that exits non-zero is not an error: Exec returns its
// ExecResult. A failure of smolvm itself is a *SmolvmError carrying argv,
// exit code and stderr, matched with errors.Is against ErrSmolvm,
// ErrNotFound, ErrExists, ErrUsage or ErrExit. The two are told apart by smolvm's
// conventions: on a runtime error it exits 1 and prints exactly one
// "Error: MESSAGE" line as its last stderr line; on a parse error it exits 2
// with a block starting "error: ". The limit of this heuristic: a guest
// command that exits 1 and itself ends its stderr with a line starting
// "Error: " (or exits 2 with stderr starting "error: ") is reported as a
// smolvm failure.
//
// # Lifecycle
//
// Launch creates and starts a machine; on any failure during launch, and on
// Close, it stops and deletes it (reverse order, errors joined), on a fresh
// context with a bounded timeout so a cancelled caller still cleans up.
// Close is idempotent and safe to call from several goroutines. Run kills
// smolvm's whole process group when its context ends and returns promptly.
// A failed Launch is a *LaunchError naming the step (create, start, probe).
//
// # Owners
//
// Every machine Launch creates carries labels (create --label) saying that
// it is a bottle and which process owns it: PID, start time, boot id and
// host (Owner, LabelPID...). List reads them back from smolvm machine ls
// --json; Owner.Liveness tells a live owner from a dead one (gone, its PID
// reused, or the host rebooted since) and Info.Orphaned names what a killed
// owner left behind. Spec.Keep marks a machine left running on purpose,
// which is never an orphan.
package bottle
