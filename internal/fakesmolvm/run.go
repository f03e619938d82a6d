package fakesmolvm

import (
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/smolbottle/smolbottle/internal/fakesmolvm/guest"
)

// runMachine implements `machine run` (docs/smolvm.md, run).
//
// Without -d the machine gets a generated name (-n is ignored), is recorded
// as ephemeral, runs COMMAND and is removed; the exit code is COMMAND's.
// Only "Starting ephemeral machine (NAME)..." is printed besides the
// command's own output. The run holds its machine's owner lock while it
// lives, so the sweep of other invocations (sweepEphemeral) never touches
// a live run; the machine lock is held only while booting, so stop or
// delete from elsewhere still work on a running run's machine.
//
// With -d the machine is named by -n (default "default") and is an ordinary
// persistent record, left running: a bare machine runs COMMAND in the
// background, an image machine runs it as its workload.
func (c *cli) runMachine(p *parsed) error {
	if err := unsupportedSource(p, "machine run"); err != nil {
		return err
	}
	detach := p.has("detach")
	name := c.machine // targetMachine: -n or "default" with -d, else generated
	_, named := p.get("name")
	if detach && named && name != "default" {
		if r, err := c.store.get(name); err != nil {
			return err
		} else if r != nil {
			return errorf("config operation failed: machine run -d --name: a machine named '%s' already exists. Use 'machine start --name %s' to start it, or 'machine delete --name %s -f' to remove it.", name, name, name)
		}
	}
	if err := resolveAllowHosts(p); err != nil {
		return err
	}
	if err := checkSecretRefs(p); err != nil {
		return err
	}
	r := c.recordFromFlags(p)
	r.Name = name
	r.Ephemeral = !detach
	mounts, err := parseVolumes(p.all("volume"), c.cwd)
	if err != nil {
		return err
	}
	r.Mounts = mounts
	if err := validatePorts(r); err != nil {
		return err
	}
	interactive, tty := p.has("interactive"), p.has("tty")
	if detach && (interactive || tty) {
		c.errf("warning: -i/-t flags are ignored in detached mode (-d)")
	}
	if !interactive && !tty && !detach && len(p.args) == 0 {
		return errorf("config operation failed: machine run: no command specified.\nUse: smolvm machine run -- <command>\nOr:  smolvm machine run -it")
	}
	if r.Image == "-" && (interactive || tty) {
		return errorf("config operation failed: machine run: `--image -` reads the image archive from stdin and cannot be combined with -i/-t, which also use stdin.\nPipe the archive from a file instead: --image ./image.tar")
	}
	if r.Image == "" && len(p.args) > 0 && isLikelyImageRef(p.args[0]) {
		return imageRefAsCommand(p.args)
	}
	if err := validateNetBackend(p, r); err != nil {
		return err
	}
	if detach {
		if err := validateName(name); err != nil {
			return errorf("agent operation failed: create agent manager: config operation failed: validate machine name: %v", err)
		}
		c.errf("Starting persistent machine...")
	} else {
		c.errf("Starting ephemeral machine (%s)...", name)
	}
	if _, set := c.lookupEnv("SSH_AUTH_SOCK"); p.has("ssh-agent") && !set {
		return errorf("config operation failed: --ssh-agent: SSH_AUTH_SOCK is not set. Start an SSH agent with: eval $(ssh-agent) && ssh-add")
	}
	if err := c.recordImage(r); err != nil {
		return err
	}
	if err := c.validateResources(r); err != nil {
		return errorf("agent operation failed: start machine: %v", err)
	}
	if detach {
		return c.runDetached(p, r)
	}
	return c.runForeground(p, r)
}

// runDetached boots a run -d machine and leaves it running: the record
// persists as an ordinary machine. An existing machine (only "default" gets
// here) is reused as smolvm reuses it: a running one with the same launch
// configuration stays as it is, any other is (re)started with the new one;
// its record then takes run's options.
func (c *cli) runDetached(p *parsed, r *record) error {
	release, ok := tryLockFile(c.store.ownerLockPath(r.Name))
	if !ok {
		return errorf("config operation failed: create machine: machine '%s' already exists or is being created", r.Name)
	}
	defer release()
	var existing *record
	if err := c.store.update(func(d *db) error {
		if existing = d.Machines[r.Name]; existing == nil {
			d.Machines[r.Name] = r
		}
		return nil
	}); err != nil {
		return err
	}
	fail := func(err error) error {
		if existing == nil {
			c.discard(r.Name)
		}
		return err
	}
	pid, err := func() (int, error) {
		unlock, err := c.store.lockMachine(r.Name)
		if err != nil {
			return 0, err
		}
		defer unlock()
		if existing != nil {
			// The record may have changed before the lock was taken.
			if existing, err = c.store.get(r.Name); err != nil || existing == nil {
				return 0, errorf("config operation failed: persist machine record: VM record for '%s' missing after insert", r.Name)
			}
			state, pid := c.displayState(existing)
			if state == "running" && sameLaunch(existing, r) {
				return pid, nil
			}
			if state == "running" {
				if err := c.halt(r.Name); err != nil {
					return 0, err
				}
			}
		}
		return c.bootQuiet(r)
	}()
	if err != nil {
		return fail(err)
	}
	bare := r.Image == ""
	if len(p.args) > 0 {
		// Bare: a background exec. Image: the machine's workload, started
		// here and by every later start from the record's command.
		req, err := c.execRequest(p, p.args)
		if err == nil {
			req.Mode = guest.Detach
			req.Timeout = 0
			_, err = guest.Exec(c.paths.machineDir(r.Name), req, guest.Stdio{Stdout: discardWriter{}, Stderr: c.stderr})
		}
		if err != nil {
			return fail(&runtimeError{err.Error()})
		}
	}
	if err := c.store.update(func(d *db) error {
		x := d.Machines[r.Name]
		if x == nil {
			return errorf("config operation failed: persist machine record: VM record for '%s' missing after insert", r.Name)
		}
		x.CPUs, x.MemoryMiB, x.StorageGB, x.OverlayGB = r.CPUs, r.MemoryMiB, r.StorageGB, r.OverlayGB
		x.Mounts, x.Ports, x.Network, x.NetBackend, x.DNS = r.Mounts, r.Ports, r.Network, r.NetBackend, r.DNS
		x.Env, x.Workdir, x.Init, x.InitDone = r.Env, r.Workdir, nil, false
		x.Image, x.OCIPlatform, x.Cmd, x.Ephemeral = r.Image, r.OCIPlatform, p.args, false
		x.GPU, x.GPUVRAMMiB, x.CUDA = r.GPU, r.GPUVRAMMiB, r.CUDA
		return nil
	}); err != nil {
		return err
	}
	switch {
	case bare && r.Name == "default":
		c.out("Machine running (PID: %d)", pid)
	case bare:
		c.out("Machine '%s' running (PID: %d)", r.Name, pid)
	case r.Name == "default":
		c.out("Machine running in background")
	default:
		c.out("Machine '%s' running in background", r.Name)
	}
	target := ""
	if r.Name != "default" {
		target = " --name " + r.Name
	}
	c.out("\nTo interact:")
	c.out("  smolvm machine exec%s -- <command>", target)
	c.out("\nTo stop:")
	c.out("  smolvm machine stop%s", target)
	return nil
}

// runForeground boots an ephemeral machine, runs COMMAND in it and removes
// it, also when the run is interrupted.
func (c *cli) runForeground(p *parsed, r *record) error {
	release, ok := tryLockFile(c.store.ownerLockPath(r.Name))
	if !ok {
		return errorf("config operation failed: create machine: machine '%s' already exists or is being created", r.Name)
	}
	defer release()
	// smolvm records an ephemeral machine with its CPUs, memory, network
	// and image only: ls shows no mounts or ports for it.
	eph := &record{Name: r.Name, State: r.State, CPUs: r.CPUs, MemoryMiB: r.MemoryMiB,
		CreatedAt: r.CreatedAt, Network: r.Network, Image: r.Image, Ephemeral: true}
	if err := c.insert(eph); err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		s, ok := <-sigs
		if !ok {
			return
		}
		c.discard(r.Name)
		os.Exit(128 + int(s.(syscall.Signal)))
	}()
	defer c.discard(r.Name)
	unlock, err := c.store.lockMachine(r.Name)
	if err != nil {
		return err
	}
	_, err = c.bootQuiet(r)
	unlock()
	if err != nil {
		return err
	}
	argv := p.args
	if len(argv) == 0 {
		argv = []string{"/bin/sh"}
	}
	req, err := c.execRequest(p, argv)
	if err != nil {
		return err
	}
	if req.Mode == guest.Detach || req.Mode == guest.Stream {
		req.Mode = guest.Buffered
	}
	err = c.runGuest(c.paths.machineDir(r.Name), req)
	if rt, ok := err.(*runtimeError); ok && req.Mode == guest.Buffered && r.Image == "" {
		return notFoundHint(rt, argv[0])
	}
	return err
}

// sameLaunch reports whether a running machine was started with the
// launch configuration r asks for (smolvm compares mounts, ports and
// resources).
func sameLaunch(old, r *record) bool {
	eq := func(a, b *uint64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
	return old.CPUs == r.CPUs && old.MemoryMiB == r.MemoryMiB && old.Network == r.Network &&
		old.NetBackend == r.NetBackend && old.DNS == r.DNS &&
		eq(old.StorageGB, r.StorageGB) && eq(old.OverlayGB, r.OverlayGB) &&
		slices.Equal(old.Mounts, r.Mounts) && slices.Equal(old.Ports, r.Ports)
}

// bootQuiet boots a run's machine; the caller holds its machine lock.
// smolvm's run prints none of start's lines (only its own "Starting ..."
// line), so start's output is dropped.
func (c *cli) bootQuiet(r *record) (int, error) {
	stdout, stderr := c.stdout, c.stderr
	c.stdout, c.stderr = discardWriter{}, discardWriter{}
	defer func() { c.stdout, c.stderr = stdout, stderr }()
	return c.boot(r)
}

type discardWriter struct{}

func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// isLikelyImageRef is smolvm's test for a COMMAND that is really an image
// reference: it has a ":" (image:tag), or a "/" without being a path.
func isLikelyImageRef(s string) bool {
	if strings.Contains(s, ":") {
		return true
	}
	return strings.Contains(s, "/") && !strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "./") && !strings.HasPrefix(s, "../")
}

// imageRefAsCommand is run's error for an image reference given as the
// command, with the command line that was probably meant.
func imageRefAsCommand(args []string) error {
	cmd0 := args[0]
	var rest []string
	for _, a := range args[1:] {
		if a != "--" {
			rest = append(rest, a)
		}
	}
	suggestion := "smolvm machine run --image " + cmd0
	if len(rest) > 0 {
		suggestion += " -- " + strings.Join(rest, " ")
	}
	return errorf("config operation failed: machine run: '%s' looks like a container image reference, not a command.\nTo run a container, use --image:\n  %s", cmd0, suggestion)
}

// notFoundHint adds run's note to a bare machine's spawn failure of a
// command that is neither a path nor found.
func notFoundHint(err *runtimeError, cmd0 string) error {
	if (!strings.Contains(err.msg, "No such file or directory") && !strings.Contains(err.msg, "os error 2")) ||
		strings.HasPrefix(cmd0, "/") || strings.HasPrefix(cmd0, ".") {
		return err
	}
	return errorf("%s\n\nNote: '%s' was not found in the VM. If you meant to run a container image, use --image:\n  smolvm machine run --image %s -- <command>", err.msg, cmd0, cmd0)
}

// discard stops and deletes a machine without printing anything.
func (c *cli) discard(name string) {
	if unlock, err := c.store.lockMachine(name); err == nil {
		defer unlock()
	}
	dir := c.paths.machineDir(name)
	_ = guest.Stop(dir)
	_ = os.RemoveAll(dir)
	_ = c.store.update(func(d *db) error {
		delete(d.Machines, name)
		return nil
	})
}

// sweepEphemeral removes ephemeral machines whose run is gone: every
// machine subcommand does this first, silently (docs/smolvm.md, top
// level). A run holds its owner lock while it lives.
func (c *cli) sweepEphemeral() {
	d, err := c.store.load()
	if err != nil {
		return
	}
	for _, r := range d.sorted() {
		if !r.Ephemeral {
			continue
		}
		unlock, ok := tryLockFile(c.store.ownerLockPath(r.Name))
		if !ok {
			continue
		}
		c.discard(r.Name)
		unlock()
	}
}
