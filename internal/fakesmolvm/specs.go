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
	secretEnvFlag   = flagSpec{long: "secret-env", value: "GUEST_VAR=HOST_VAR", repeat: true}
	secretFileFlag  = flagSpec{long: "secret-file", value: "GUEST_VAR=PATH", repeat: true}
	timeoutFlag     = flagSpec{long: "timeout", value: "DURATION", check: checkTimeout, help: "Kill the command after DURATION"}
	interactiveFlag = flagSpec{long: "interactive", short: 'i', help: "Forward stdin"}
	ttyFlag         = flagSpec{long: "tty", short: 't', help: "Allocate a PTY"}
)

// Flags that create and run share, as smolvm 1.9.2's clap definitions give
// them (docs/smolvm.md, create and run). Accepted flags whose effect the fake
// does not emulate are listed in docs/fake-differences.md.
var (
	imageFlag        = flagSpec{long: "image", short: 'I', value: "IMAGE", check: checkImage, help: "Image (fake-smolvm: a directory in the local image store)"}
	maxImageSizeFlag = flagSpec{long: "max-image-size", value: "SIZE", check: checkSize, help: "Largest accepted local image archive"}
	cpusFlag         = flagSpec{long: "cpus", value: "N", check: rangedUint(255), help: "Number of virtual CPUs [default: 4]"}
	memFlag          = flagSpec{long: "mem", value: "MiB", check: rangedUint(1<<32 - 1), help: "Memory allocation in MiB [default: 8192]"}
	storageFlag      = flagSpec{long: "storage", value: "GiB", check: rangedUint(1<<64 - 1), help: "Storage disk size in GiB"}
	overlayFlag      = flagSpec{long: "overlay", value: "GiB", check: rangedUint(1<<64 - 1), help: "Overlay disk size in GiB"}
	volumeFlag       = flagSpec{long: "volume", short: 'v', value: "HOST:GUEST[:ro]", repeat: true, help: "Mount host directory (can be used multiple times)"}
	runVolumeFlag    = flagSpec{long: "volume", short: 'v', value: "HOST:CONTAINER[:ro]", repeat: true, help: "Mount host directory into container (can be used multiple times)"}
	portFlag         = flagSpec{long: "port", short: 'p', value: "HOST:GUEST", repeat: true, check: checkPort, help: "Expose port from VM to host (can be used multiple times)"}
	netFlag          = flagSpec{long: "net", help: "Enable outbound network access"}
	netBackendFlag   = flagSpec{long: "net-backend", value: "NET_BACKEND", values: netBackends, help: "Select the networking backend"}
	dnsFlag          = flagSpec{long: "dns", value: "IP", check: checkIPv4, help: "Custom DNS resolver for the guest (implies --net)"}
	networkFlag      = flagSpec{long: "network", value: "NAME", help: "Join a named inter-VM network (implies --net)"}
	allowCIDRFlag    = flagSpec{long: "allow-cidr", value: "CIDR", repeat: true, check: checkCIDR, help: "Allow egress to specific CIDR range (implies --net)"}
	allowHostFlag    = flagSpec{long: "allow-host", value: "HOSTNAME", repeat: true, help: "Allow egress to specific hostname (implies --net)"}
	localhostFlag    = flagSpec{long: "outbound-localhost-only", help: "Restrict outbound to localhost only (implies --net)"}
	gpuFlag          = flagSpec{long: "gpu", help: "Enable GPU acceleration"}
	gpuVRAMFlag      = flagSpec{long: "gpu-vram", value: "MiB", check: checkGPUVRAM, help: "GPU shared-memory region size in MiB"}
	rosettaFlag      = flagSpec{long: "rosetta", help: "Enable Rosetta 2"}
	sshAgentFlag     = flagSpec{long: "ssh-agent", help: "Forward host SSH agent into the VM"}
	cudaFlag         = flagSpec{long: "cuda", help: "Remote guest CUDA calls to the host GPU"}
	autoGraphFlag    = flagSpec{long: "auto-graph", help: "Graph safe compiled CUDA regions (implies --cuda)"}
	dockerSocketFlag = flagSpec{long: "docker-socket", help: "Expose the guest's Docker daemon socket to the host"}
	smolfileFlag     = flagSpec{long: "smolfile", short: 's', value: "PATH", help: "Smolfile (not supported by fake-smolvm)"}
	fromFlag         = flagSpec{long: "from", value: "PATH", help: ".smolmachine file (not supported by fake-smolvm)"}
)

// createFlags are create's, in smolvm's order.
func createFlags() []flagSpec {
	return []flagSpec{
		{long: "name", short: 'n', value: "NAME", help: "Name for the machine (auto-generated if omitted)"},
		{long: "label", value: "KEY=VALUE", repeat: true, help: "Attach metadata to the machine (repeatable)"},
		imageFlag, maxImageSizeFlag, cpusFlag, memFlag, storageFlag, overlayFlag,
		volumeFlag, portFlag, netFlag, netBackendFlag, dnsFlag, networkFlag,
		allowCIDRFlag, allowHostFlag, localhostFlag, gpuFlag, gpuVRAMFlag, rosettaFlag,
		{long: "expose-socket", value: "GUEST_PATH[:HOST_PATH]", repeat: true, help: "Expose a guest Unix socket to the host"},
		{long: "mount-socket", value: "HOST_PATH:GUEST_PATH", repeat: true, help: "Mount a host Unix socket into the guest"},
		{long: "init", value: "COMMAND", repeat: true, help: "Run command on the first VM start (can be used multiple times)"},
		envFlag, workdirFlag,
		sshAgentFlag, cudaFlag, autoGraphFlag, dockerSocketFlag,
		secretEnvFlag, secretFileFlag, smolfileFlag, fromFlag,
	}
}

// runFlags are run's, in smolvm's order: create's machine flags without
// --label, --init and the socket flags, plus the execution flags.
func runFlags() []flagSpec {
	return []flagSpec{
		imageFlag, maxImageSizeFlag, fromFlag,
		{long: "name", short: 'n', value: "NAME", help: "Name a persistent machine when used with --detach"},
		{long: "detach", short: 'd', help: "Start the command in the background and leave the machine running"},
		interactiveFlag, ttyFlag, timeoutFlag, workdirFlag, envFlag,
		{long: "oci-platform", value: "OS/ARCH", help: "Target OCI platform for multi-arch images"},
		runVolumeFlag, portFlag, netFlag, netBackendFlag, dnsFlag, networkFlag,
		allowCIDRFlag, allowHostFlag, localhostFlag, gpuFlag, gpuVRAMFlag, rosettaFlag,
		cpusFlag, memFlag, storageFlag, overlayFlag, smolfileFlag,
		sshAgentFlag, cudaFlag, autoGraphFlag, dockerSocketFlag,
		{long: "docker-config", help: "Mount ~/.docker/ config into VM for registry authentication"},
		secretEnvFlag, secretFileFlag,
		{long: "no-init-cache", help: "Skip the init-layer cache"},
		{long: "rebuild-init-cache", help: "Rebuild the cached init layer"},
		{long: "oci-cache", help: "Cache the pulled OCI image on the host"},
		{long: "unprivileged", help: "Run the workload as an unprivileged container"},
		{long: "proxy", value: "URL", help: "HTTP(S) proxy for the guest"},
		{long: "no-proxy", value: "LIST", help: "Hosts that bypass the proxy"},
	}
}

// netFlags switch networking on (docs/smolvm.md, create).
var netFlags = []string{"net", "allow-cidr", "allow-host", "outbound-localhost-only", "dns", "network"}

var specCreate = &cmdSpec{
	name:      "machine create",
	about:     "Create a new named machine configuration",
	usage:     "smolvm machine create [OPTIONS] [-- <COMMAND>...]",
	flags:     createFlags(),
	pos:       posLast,
	posNames:  []string{"[COMMAND]..."},
	conflicts: [][2]string{{"from", "image"}, {"from", "smolfile"}},
}

var specRun = &cmdSpec{
	name:     "machine run",
	about:    "Run a container image in an ephemeral machine",
	usage:    "smolvm machine run [OPTIONS] [COMMAND]...",
	flags:    runFlags(),
	pos:      posTrailing,
	posNames: []string{"[COMMAND]..."},
	conflicts: [][2]string{
		{"from", "image"}, {"from", "smolfile"}, {"from", "detach"}, {"from", "name"},
		{"from", "gpu"}, {"from", "gpu-vram"}, {"from", "oci-platform"}, {"from", "allow-cidr"},
		{"from", "allow-host"}, {"from", "outbound-localhost-only"}, {"from", "secret-env"},
		{"from", "secret-file"},
	},
}

var specStart = &cmdSpec{
	name:  "machine start",
	about: "Start a machine",
	usage: "smolvm machine start [OPTIONS]",
	flags: []flagSpec{
		nameFlag,
		{long: "forkable", help: "Start as a fork base"},
		{long: "fork-pool-size", value: "CLONES", check: nonZeroUint(32), help: "Plan a CUDA fork pool with this many clones"},
		{long: "cuda-vram-limit-mib", value: "MIB", check: nonZeroUint(64), help: "VRAM budget per CUDA session (requires --fork-pool-size)"},
		{long: "proxy", value: "URL", help: "HTTP(S) proxy for the guest"},
		{long: "no-proxy", value: "LIST", help: "Hosts that bypass the proxy"},
	},
	requires: [][2]string{{"cuda-vram-limit-mib", "fork-pool-size"}},
}

var specStop = &cmdSpec{
	name:  "machine stop",
	about: "Stop a running machine",
	usage: "smolvm machine stop [OPTIONS]",
	flags: []flagSpec{nameFlag},
}

var specDelete = &cmdSpec{
	name:  "machine delete",
	about: "Delete a machine configuration",
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
	about: "Show machine status",
	usage: "smolvm machine status [OPTIONS]",
	flags: []flagSpec{nameFlag, {long: "json", help: "Output as JSON"}},
}

var specLs = &cmdSpec{
	name:  "machine ls",
	about: "List all machines",
	usage: "smolvm machine ls [OPTIONS]",
	flags: []flagSpec{
		{long: "verbose", short: 'v', help: "Show details"},
		{long: "json", help: "Output as JSON"},
	},
}

var specExec = &cmdSpec{
	name:  "machine exec",
	about: "Run a command directly in the VM (not in a container)",
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
	about: "Open an interactive shell in a machine (starts it if stopped)",
	usage: "smolvm machine shell [OPTIONS]",
	flags: []flagSpec{nameFlag},
}

var specCp = &cmdSpec{
	name:  "machine cp",
	about: "Copy files between host and machine",
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
	about:    "Print the on-disk data directory path for a named machine",
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
  machine  Manage machines (create, start, stop, exec) (boxed: the machine arg structs dwarf every other variant) [aliases: vm]
  serve    Start the HTTP API server for programmatic control
  pack     Package and run self-contained VM executables
  config   Manage smolvm configuration (registries, defaults)
  help     Print this message or the help of the given subcommand(s)

Options:
  -h, --help     Print help (see more with '--help')
  -V, --version  Print version

` + afterHelp + "\n"

const longHelp = aboutTop + `

This is fake-smolvm, a stand-in for smolvm that keeps machine state on disk
and runs each machine's commands in an isolated guest on this host.

Machines (smolvm machine ..., alias vm): create, start, stop, delete (rm),
status, ls (list), exec, shell (sh), cp, data-dir and run are emulated;
fork, fork-release, update, images, prune, monitor and egress-events are
listed by 'smolvm machine --help' but fail with one line when run.
Images are directories in a local store ($FAKE_SMOLVM_IMAGES, then the
store under the state dir); there is no container registry and no pack
support: container and pack workflows need the real smolvm.
Fake administration: smolvm fake log [--json] [--machine M], smolvm fake
reset, smolvm fake doctor.

Usage: smolvm <COMMAND>

Commands:
  machine  Manage machines (create, start, stop, exec) (boxed: the machine arg structs dwarf every other variant) [aliases: vm]
  serve    Start the HTTP API server for programmatic control
  pack     Package and run self-contained VM executables
  config   Manage smolvm configuration (registries, defaults)
  help     Print this message or the help of the given subcommand(s)

Options:
  -h, --help
          Print help (see a summary with '-h')

  -V, --version
          Print version

` + afterHelp + "\n"

// machineHelp is smolvm's `machine --help`: every machine subcommand,
// emulated or not (the fake fails the others with one line when run), with
// smolvm's own summaries; resize and network-test are hidden, as in smolvm.
const machineHelp = `Manage machines (create, start, stop, exec) (boxed: the machine arg structs dwarf every other variant)

Usage: smolvm machine <COMMAND>

Commands:
  run            Run a container image in an ephemeral machine
  exec           Run a command directly in the VM (not in a container)
  create         Create a new named machine configuration
  start          Start a machine
  fork           Fork a running forkable machine into a new clone (CoW memory + disks)
  fork-release   Assign parameters and release one held fork-pool slot
  stop           Stop a running machine
  delete         Delete a machine configuration [aliases: rm]
  status         Show machine status
  egress-events  Show egress denials — outbound connections the machine's egress policy refused
  ls             List all machines [aliases: list]
  update         Modify settings on a stopped machine (mounts, ports, resources, disks)
  images         List cached images and storage usage
  prune          Remove unused images and layers to free disk space
  shell          Open an interactive shell in a machine (starts it if stopped) [aliases: sh]
  cp             Copy files between host and machine
  monitor        Monitor a machine with health checks and restart policy
  data-dir       Print the on-disk data directory path for a named machine
  help           Print this message or the help of the given subcommand(s)

Options:
  -h, --help  Print help
`
