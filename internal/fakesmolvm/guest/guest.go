// Package guest is fake-smolvm's stand-in for a microVM: a machine agent
// process that owns an isolated guest (private user, mount, PID, UTS and
// network namespaces over the machine's own writable tree, with the host's
// system directories read-only), and the client side that the CLI uses to run
// commands and copy files through the agent's unix socket.
//
// The CLI layer (package fakesmolvm) owns parsing, state records, messages
// and exit codes; this package owns everything that happens "inside the VM".
//
// THIS FILE IS THE CONTRACT between the two layers. Signatures may grow
// fields; changing their meaning needs both sides updated together. How the
// guest is built is described in doc.go.
package guest

import (
	"errors"
	"io"
	"os"
	"sync/atomic"
	"time"
)

// Config describes the guest a machine agent runs.
type Config struct {
	Name    string // machine name; also the guest hostname
	DataDir string // the machine's data dir (docs/smolvm.md, State and data dirs); agent.sock, agent.pid, agent-console.log and the guest tree live here
	// ImageDir is the resolved image directory ("" for a bare machine).
	// Layout: ImageDir/rootfs/ is the image's root filesystem, the guest's
	// only one (the read-only lower layer of the machine's overlay; it must
	// not change while machines use it); ImageDir/config.json is
	// {"env": ["K=V"...], "workdir": "/x", "user": "node"}.
	ImageDir string
	// HostUserland gives a bare machine the host's /usr (read-only) instead
	// of the Alpine-like busybox userland: the opt-in of HostUserlandEnv.
	HostUserland bool
	Env          []string // record env from create -e, "K=V", in order
	Workdir      string   // record workdir from create -w ("" = image's, else /)
	Network      bool     // --net: share the host network; otherwise a private net namespace with lo only
	// Mounts are create's -v volumes (HOST appears at GUEST:
	// docs/smolvm.md, create: mounts), validated by the CLI: Host is an existing absolute directory,
	// canonicalised; Guest is absolute; no two share a Guest.
	Mounts []Mount
	// Ports are create's (and run's) -p HOST:GUEST mappings, in order,
	// validated by the CLI: both ports in 1-65535, no host port twice. A
	// connection to 127.0.0.1:HOST (or [::1]:HOST) on the host reaches the
	// guest's port GUEST for as long as the agent runs.
	Ports []Port
}

// Port is one -p HOST:GUEST.
type Port struct {
	Host  uint16
	Guest uint16
}

// Mount is one -v HOST:GUEST[:ro|:rw].
type Mount struct {
	Host     string
	Guest    string
	ReadOnly bool
}

// ImageConfig is an image directory's config.json (Config.ImageDir): the
// image config's user exec runs as by default ("" for root), environment
// ("K=V"), working directory, and the entrypoint and command the CLI runs
// at start.
type ImageConfig struct {
	Env        []string `json:"env,omitempty"`
	Workdir    string   `json:"workdir,omitempty"`
	User       string   `json:"user,omitempty"`
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
}

// HostUserlandEnv names the opt-in that keeps the older host-userland bare
// guest (the host's /usr read-only, its bash, python, coreutils...), for
// hosts that cannot install a static busybox. The CLI reads it and sets
// Config.HostUserland.
const HostUserlandEnv = "FAKE_SMOLVM_HOST_USERLAND"

// AddBusybox installs the host's static busybox into the root filesystem
// rootfs as an image would carry it: /bin/busybox and a link for each of
// its applets (/bin/sh among them). Tests use it to build self-contained
// images from skeleton trees. It fails, naming the package to install,
// when the host has no static busybox.
func AddBusybox(rootfs string) error { return addBusybox(rootfs) }

// OwnerPIDEnv names an environment variable holding a host PID: agents
// started while it is set end, with their guests, when that process ends.
// Test harnesses set it to their own PID, so a test binary that dies
// (panic, timeout, kill) takes its machines with it.
const OwnerPIDEnv = "FAKE_SMOLVM_OWNER_PID"

// ErrNotRunning is returned (wrapped) by client calls when no agent answers
// on the machine's socket.
var ErrNotRunning = errors.New("machine agent is not running")

// ErrUnsupported is returned (wrapped) by Start when this host cannot
// isolate a guest; its message is one line that says why and how to fix it.
var ErrUnsupported = errors.New("guest isolation is not supported on this host")

// Start starts the machine's agent as a detached process (it outlives the
// CLI invocation), sets up the guest, and returns once the agent answers.
// /tmp in the guest is emptied on each start. Returns the agent's host PID.
func Start(cfg Config) (pid int, err error) {
	pid, keep, err := startAgent(cfg)
	if err != nil {
		return 0, err
	}
	keep()
	return pid, nil
}

// StartHeld is Start for a caller that records the machine once it runs:
// the agent ends by itself if the caller dies before calling keep, so a
// client killed at any point of a start leaves no machine running that its
// records do not know. keep is safe to call more than once.
func StartHeld(cfg Config) (pid int, keep func(), err error) { return startAgent(cfg) }

// Stop ends the agent and every process of the guest and waits for them to
// be gone. Stopping a machine whose agent is not running is not an error.
func Stop(dataDir string) error { return stopAgent(dataDir) }

// Alive reports whether the machine's agent is running and answering, with
// its host PID.
func Alive(dataDir string) (pid int, ok bool) { return aliveAgent(dataDir) }

// Mode selects how exec runs (docs/smolvm.md, exec: buffered, -i, -t,
// --stream and -d).
type Mode int

const (
	Buffered    Mode = iota // stdin /dev/null, all stdout then all stderr, 11 MiB cap
	Interactive             // -i: stdin streamed, EOF closes it, stdout/stderr streamed separately
	TTY                     // -t (with or without -i): guest PTY, output merged on stdout
	Stream                  // --stream: live output, stdin never forwarded
	Detach                  // -d: background; prints the guest PID
)

// ExecRequest is one `machine exec` (or `machine shell`).
type ExecRequest struct {
	Argv    []string      // the guest command; Argv[0] is looked up on the guest PATH
	Env     []string      // exec's -e entries, already resolved to K=V (key-only -e copied from the host by the CLI)
	Workdir string        // -w; "" = the machine's default
	Mode    Mode          //
	Timeout time.Duration // 0 = none; on expiry the process group is killed and the exit code is 124

	// Faults injected by the CLI's scenario rules.
	NoResizeForwarding bool // -t: ignore SIGWINCH and never send a size after the first
	KillMachine        bool // the agent dies once the command has started
}

// Stdio are the host side streams of an exec. For TTY mode the terminal size
// is read from Stdin when it is a terminal.
type Stdio struct {
	Stdin  *os.File
	Stdout io.Writer
	Stderr io.Writer
	// StdinCount, when set, counts the stdin bytes forwarded to the guest
	// (modes that forward stdin: Interactive, TTY).
	StdinCount *atomic.Int64
}

// Exec runs req in the guest through the agent and returns the guest
// command's exit code (128+signal when killed, 124 on timeout).
//
// A non-nil error is a smolvm runtime failure; its Error() is the message
// after "Error: " exactly as smolvm prints it (for example
// "agent operation failed: vm exec: failed to spawn command: No such file or
// directory (os error 2)"), and the CLI exits 1. Errors that smolvm reports
// as lower-case "error: ..." lines mid-stream are written to Stdio.Stderr by
// Exec itself, which then returns 1, nil.
//
// Interactive and TTY modes read Stdin only while Exec runs: once it has
// returned, nothing of it reads the caller's stdin.
func Exec(dataDir string, req ExecRequest, stdio Stdio) (exitCode int, err error) {
	return execClient(dataDir, req, stdio)
}

// CopyRequest is one `machine cp` (docs/smolvm.md, cp).
type CopyRequest struct {
	Upload    bool    // host -> guest
	LocalPath string  //
	GuestPath string  // the text after "machine:" as given
	Mode      *uint32 // uploads only; nil = 0644
	UID, GID  *uint32 // uploads only; nil = 0 (root)
}

// Copy performs a cp through the agent. Progress lines go to progress
// exactly as smolvm prints them (docs/smolvm.md, cp: progress). Errors are
// formatted like Exec's.
func Copy(dataDir string, req CopyRequest, progress io.Writer) error {
	return copyClient(dataDir, req, progress)
}

// AgentMain is the entry point of the hidden "__agent" subcommand that Start
// spawns. It returns the process exit code.
func AgentMain(args []string) int { return agentMain(args) }

// RunuserMain is the guest's runuser(1). The guest's /usr/local/sbin/runuser
// is a shell shim that runs the fake binary as `smolvm __runuser ARGS...`
// (argv[0]'s basename stays "smolvm" so testscript dispatches it), so the
// CLI dispatches the hidden "__runuser" subcommand here, like "__agent".
// It returns the process exit code.
func RunuserMain(args []string) int { return runuserMain(args) }

// IDShift is the host id of the guest's root for guests started by this
// process, when guest ids 0-65535 are host ids IDShift()..IDShift()+65535
// (the fake runs as root); 0 when they are not shifted (see doc.go,
// Users).
func IDShift() int { return idShiftHere() }

// StopAllUnder stops every agent whose data dir lies under dir (found from
// the process table, so a missing agent.pid does not hide one). Test
// harnesses call it when a work dir is torn down.
func StopAllUnder(dir string) { stopAllUnder(dir) }

// Report says what isolation this host supports and why.
type Report struct {
	Supported bool
	Lines     []string // human-readable findings, one per line
}

// Doctor inspects the host; hostUserland says whether bare guests are
// asked for the host's userland (HostUserlandEnv).
func Doctor(hostUserland bool) Report { return doctor(hostUserland) }
