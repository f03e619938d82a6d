package fakesmolvm

// Command specs: the flags smolvm's clap definitions give each machine
// subcommand (docs/smolvm.md, create to run).

const (
	aboutTop    = "Build and run portable, self-contained virtual machines"
	afterHelp   = "Agents: run `smolvm --help` for full documentation including CLI reference and Smolfile schema"
	usageTop    = "smolvm <COMMAND>"
	usageMach   = "smolvm machine <COMMAND>"
	fakeVersion = "smolvm 1.9.2"
)

var nameFlag = flagSpec{long: "name", short: 'n', value: "NAME", help: "Machine name [default: default]"}

// Flags that create, run and exec share.
var (
	workdirFlag     = flagSpec{long: "workdir", short: 'w', value: "DIR", help: "Working directory"}
	envFlag         = flagSpec{long: "env", short: 'e', value: "KEY=VALUE", repeat: true, help: "Environment variable"}
	secretEnvFlag   = flagSpec{long: "secret-env", value: "GUEST=HOSTVAR", repeat: true}
	secretFileFlag  = flagSpec{long: "secret-file", value: "GUEST=PATH", repeat: true}
	timeoutFlag     = flagSpec{long: "timeout", value: "DURATION", check: checkTimeout, help: "Kill the command after DURATION"}
	interactiveFlag = flagSpec{long: "interactive", short: 'i', help: "Forward stdin"}
	ttyFlag         = flagSpec{long: "tty", short: 't', help: "Allocate a PTY"}
)

// createFlags are shared by create and run.
func createFlags() []flagSpec {
	return []flagSpec{
		{long: "name", short: 'n', value: "NAME", help: "Machine name"},
		{long: "cpus", value: "N", check: rangedUint(255), help: "Number of vCPUs [default: 4]"},
		{long: "mem", value: "MiB", check: rangedUint(1<<32 - 1), help: "Memory in MiB [default: 8192]"},
		{long: "storage", value: "GiB", check: rangedUint(1<<64 - 1), help: "Storage disk size in GiB"},
		{long: "overlay", value: "GiB", check: rangedUint(1<<64 - 1), help: "Overlay disk size in GiB"},
		{long: "image", short: 'I', value: "IMAGE", check: checkImage, help: "Image (fake-smolvm: a directory in the local image store)"},
		{long: "volume", short: 'v', value: "HOST:GUEST[:ro|:rw]", repeat: true, help: "Mount a host directory"},
		{long: "port", short: 'p', value: "HOST:GUEST", repeat: true, check: checkPort, help: "Forward a host port"},
		envFlag,
		workdirFlag,
		{long: "init", value: "COMMAND", repeat: true, help: "Command run with sh -c on the first start"},
		{long: "label", value: "KEY=VALUE", repeat: true, help: "Label"},
		{long: "net", help: "Enable networking"},
		{long: "smolfile", short: 's', value: "PATH", help: "Smolfile (not supported by fake-smolvm)"},
		{long: "from", value: "PATH", help: ".smolmachine file (not supported by fake-smolvm)"},
		// Accepted and ignored (unused here: docs/smolvm.md, create).
		{long: "net-backend", value: "BACKEND"},
		{long: "dns", value: "DNS", repeat: true},
		{long: "network", value: "NETWORK"},
		{long: "allow-cidr", value: "CIDR", repeat: true},
		{long: "allow-host", value: "HOST", repeat: true},
		{long: "outbound-localhost-only"},
		{long: "gpu"},
		{long: "gpu-vram", value: "MIB"},
		{long: "rosetta"},
		{long: "expose-socket", value: "PATH", repeat: true},
		{long: "mount-socket", value: "SPEC", repeat: true},
		{long: "ssh-agent"},
		{long: "cuda"},
		{long: "auto-graph"},
		{long: "docker-socket"},
		secretEnvFlag,
		secretFileFlag,
		{long: "max-image-size", value: "SIZE"},
	}
}

// netFlags switch networking on (docs/smolvm.md, create).
var netFlags = []string{"net", "allow-cidr", "allow-host", "outbound-localhost-only", "dns", "network"}

var specCreate = &cmdSpec{
	name:      "machine create",
	about:     "Create a machine",
	usage:     "smolvm machine create [OPTIONS] [-- <COMMAND>...]",
	flags:     createFlags(),
	pos:       posLast,
	posNames:  []string{"[COMMAND]..."},
	conflicts: [][2]string{{"from", "image"}, {"from", "smolfile"}},
}

var specRun = func() *cmdSpec {
	flags := createFlags()
	flags = append(flags,
		interactiveFlag,
		ttyFlag,
		timeoutFlag,
		flagSpec{long: "detach", short: 'd', help: "Leave the machine running"},
	)
	return &cmdSpec{
		name:     "machine run",
		about:    "Run a command in an ephemeral machine",
		usage:    "smolvm machine run [OPTIONS] [COMMAND]...",
		flags:    flags,
		pos:      posTrailing,
		posNames: []string{"[COMMAND]..."},
	}
}()

var specStart = &cmdSpec{
	name:  "machine start",
	about: "Start a machine",
	usage: "smolvm machine start [OPTIONS]",
	flags: []flagSpec{
		nameFlag,
		{long: "forkable"},
		{long: "fork-pool-size", value: "N", check: rangedUint(1<<32 - 1)},
		{long: "cuda-vram-limit-mib", value: "MIB", check: rangedUint(1<<64 - 1)},
		{long: "proxy", value: "URL"},
		{long: "no-proxy", value: "LIST"},
	},
}

var specStop = &cmdSpec{
	name:  "machine stop",
	about: "Stop a machine",
	usage: "smolvm machine stop [OPTIONS]",
	flags: []flagSpec{nameFlag},
}

var specDelete = &cmdSpec{
	name:  "machine delete",
	about: "Delete a machine",
	usage: "smolvm machine delete [OPTIONS] --name <NAME>",
	flags: []flagSpec{
		{long: "name", short: 'n', value: "NAME", help: "Machine name"},
		{long: "force", short: 'f', help: "Do not ask for confirmation"},
		{long: "cascade", help: "Also delete fork clones"},
	},
	required: []string{"name"},
}

var specStatus = &cmdSpec{
	name:  "machine status",
	about: "Show a machine's status",
	usage: "smolvm machine status [OPTIONS]",
	flags: []flagSpec{nameFlag, {long: "json", help: "Output as JSON"}},
}

var specLs = &cmdSpec{
	name:  "machine ls",
	about: "List machines",
	usage: "smolvm machine ls [OPTIONS]",
	flags: []flagSpec{
		{long: "verbose", short: 'v', help: "Show details"},
		{long: "json", help: "Output as JSON"},
	},
}

var specExec = &cmdSpec{
	name:  "machine exec",
	about: "Run a command in a running machine",
	usage: "smolvm machine exec [OPTIONS] <COMMAND>...",
	flags: []flagSpec{
		{long: "name", value: "NAME", help: "Machine name [default: default]"},
		workdirFlag,
		envFlag,
		secretEnvFlag,
		secretFileFlag,
		timeoutFlag,
		interactiveFlag,
		ttyFlag,
		{long: "stream", help: "Stream output live"},
		{long: "detach", short: 'd', help: "Run in the background"},
	},
	pos:       posTrailing,
	posNames:  []string{"<COMMAND>..."},
	posReq:    true,
	conflicts: [][2]string{{"detach", "interactive"}, {"detach", "tty"}, {"detach", "stream"}},
}

var specShell = &cmdSpec{
	name:  "machine shell",
	about: "Open a shell in a running machine",
	usage: "smolvm machine shell [OPTIONS]",
	flags: []flagSpec{nameFlag},
}

var specCp = &cmdSpec{
	name:  "machine cp",
	about: "Copy a file between the host and a machine",
	usage: "smolvm machine cp [OPTIONS] <SRC> <DST>",
	flags: []flagSpec{
		{long: "mode", value: "OCTAL", help: "File mode for uploads"},
		{long: "uid", value: "UID", check: plainUint(32), help: "Owner for uploads"},
		{long: "gid", value: "GID", check: plainUint(32), help: "Group for uploads"},
	},
	pos:      posPair,
	posNames: []string{"<SRC>", "<DST>"},
	posReq:   true,
}

var specDataDir = &cmdSpec{
	name:     "machine data-dir",
	about:    "Print a machine's data directory",
	usage:    "smolvm machine data-dir --name <NAME>",
	flags:    []flagSpec{{long: "name", short: 'n', value: "NAME", help: "Machine name"}},
	required: []string{"name"},
}

// machineCommands maps each subcommand and alias to its canonical name.
var machineCommands = map[string]string{
	"run": "run", "exec": "exec", "create": "create", "start": "start",
	"stop": "stop", "delete": "delete", "rm": "delete", "status": "status",
	"ls": "ls", "list": "ls", "shell": "shell", "sh": "shell", "cp": "cp",
	"data-dir": "data-dir",
	// Real subcommands the fake does not emulate.
	"fork": "", "fork-release": "", "egress-events": "", "update": "",
	"images": "", "prune": "", "monitor": "", "resize": "", "network-test": "",
}

// topNames are smolvm's top-level subcommand names and aliases, hidden ones
// included, as clap matches them for "a similar subcommand" tips.
var topNames = []string{"machine", "vm", "serve", "pack", "config", "help", "_boot-vm", "_cuda-daemon", "_cuda-clone-worker", "_cuda-mps-supervisor", "_cleanup-ephemeral"}

// machineNames are the machine subcommands and aliases in clap's order.
func machineNames() []string {
	return []string{"run", "exec", "create", "start", "fork", "fork-release", "stop", "delete", "rm", "status", "egress-events", "ls", "list", "update", "images", "prune", "shell", "sh", "cp", "monitor", "data-dir", "resize", "network-test", "help"}
}

var specs = map[string]*cmdSpec{
	"run": specRun, "exec": specExec, "create": specCreate, "start": specStart,
	"stop": specStop, "delete": specDelete, "status": specStatus, "ls": specLs,
	"shell": specShell, "cp": specCp, "data-dir": specDataDir,
}

const shortHelp = aboutTop + `

Usage: smolvm <COMMAND>

Commands:
  machine  Manage machines [aliases: vm]
  serve    Start the HTTP API server
  pack     Build and run portable .smolmachine artifacts
  config   Manage configuration
  help     Print this message or the help of the given subcommand(s)

Options:
  -h, --help     Print help (see more with '--help')
  -V, --version  Print version

` + afterHelp + "\n"

const longHelp = aboutTop + `

This is fake-smolvm, a stand-in for smolvm that keeps machine state on disk
and runs each machine's commands in an isolated guest on this host.

Machines (smolvm machine ..., alias vm):
  create, start, stop, delete (rm), status, ls (list), exec, shell (sh), cp,
  data-dir, run.
Images are directories in a local store ($FAKE_SMOLVM_IMAGES, then the
store under the state dir); there is no container registry and no pack
support: container and pack workflows need the real smolvm.
Fake administration: smolvm fake log [--json] [--machine M], smolvm fake
reset, smolvm fake doctor.

Usage: smolvm <COMMAND>

Commands:
  machine  Manage machines [aliases: vm]
  serve    Start the HTTP API server
  pack     Build and run portable .smolmachine artifacts
  config   Manage configuration
  help     Print this message or the help of the given subcommand(s)

Options:
  -h, --help
          Print help (see a summary with '-h')

  -V, --version
          Print version

` + afterHelp + "\n"

const machineHelp = `Manage machines

Usage: smolvm machine <COMMAND>

Commands:
  run       Run a command in an ephemeral machine
  exec      Run a command in a running machine
  create    Create a machine
  start     Start a machine
  stop      Stop a machine
  delete    Delete a machine [aliases: rm]
  status    Show a machine's status
  ls        List machines [aliases: list]
  shell     Open a shell in a running machine [aliases: sh]
  cp        Copy a file between the host and a machine
  data-dir  Print a machine's data directory
  help      Print this message or the help of the given subcommand(s)

Options:
  -h, --help  Print help
`
