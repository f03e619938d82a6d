package fakesmolvm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/smolbottle/smolbottle/internal/fakesmolvm/guest"
)

// displayState resolves a record's state as smolvm does on every read
// (docs/smolvm.md, State and data dirs): a record marked running whose agent
// does not answer shows as stopped.
func (c *cli) displayState(r *record) (string, int) {
	if r.State != "running" {
		return r.State, 0
	}
	if pid, ok := guest.Alive(c.paths.machineDir(r.Name)); ok {
		return "running", pid
	}
	return "stopped", 0
}

func (c *cli) setState(name, state string) error {
	return c.store.update(func(d *db) error {
		if r := d.Machines[name]; r != nil {
			r.State = state
		}
		return nil
	})
}

// machineName is --name, or "default" when it is omitted.
func machineName(p *parsed) (name string, named bool) {
	if name, named = p.get("name"); !named {
		name = "default"
	}
	return name, named
}

// lockedRecord takes name's machine lock and reads its record (nil when
// there is none). The caller releases the lock.
func (c *cli) lockedRecord(name string) (*record, func(), error) {
	unlock, err := c.store.lockMachine(name)
	if err != nil {
		return nil, nil, err
	}
	r, err := c.store.get(name)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return r, unlock, nil
}

// namedNotFound is the error for a --name without a record: an invalid name
// is reported as such.
func namedNotFound(name string) error {
	if err := validateName(name); err != nil {
		return errorf("config operation failed: validate machine name: %v", err)
	}
	return errorf("vm not found: %s", name)
}

// tidy makes sure no agent runs for a machine that is not running, and
// records as stopped one whose record says running though its agent is
// gone. An agent of a start that was killed midway ends by itself (see
// guest.StartHeld), but stop and delete must not race its last moment.
func (c *cli) tidy(r *record) {
	dir := c.paths.machineDir(r.Name)
	if _, err := os.Stat(dir); err == nil || r.State == "running" {
		_ = guest.Stop(dir)
	}
	if r.State == "running" {
		_ = c.setState(r.Name, "stopped")
	}
}

// guestConfig is what the agent needs to run the machine's guest.
func (c *cli) guestConfig(r *record) guest.Config {
	var mounts []guest.Mount
	for _, m := range r.Mounts {
		mounts = append(mounts, guest.Mount{Host: m.Host, Guest: m.Guest, ReadOnly: m.ReadOnly})
	}
	var ports []guest.Port
	for _, p := range r.Ports {
		ports = append(ports, guest.Port{Host: p.Host, Guest: p.Guest})
	}
	return guest.Config{
		Mounts:  mounts,
		Ports:   ports,
		Name:    r.Name,
		DataDir: c.paths.machineDir(r.Name),
		Env:     r.Env,
		Workdir: r.Workdir,
		Network: r.Network,
		// The opt-in is read at each start, like the rest of the
		// environment: the record does not keep it.
		HostUserland: c.getenv(guest.HostUserlandEnv) == "1",
	}
}

// start implements `machine start` (docs/smolvm.md, start).
func (c *cli) start(p *parsed) error {
	name, named := machineName(p)
	r, unlock, err := c.lockedRecord(name)
	if err != nil {
		return err
	}
	defer unlock()
	if r == nil {
		if named {
			return errorf("vm not found: %s", name)
		}
		r = &record{Name: name, State: "created", CPUs: 4, MemoryMiB: 8192, CreatedAt: c.nowUnix()}
		if err := c.insert(r); err != nil {
			return err
		}
	}
	_, err = c.boot(r)
	return err
}

// boot starts a machine whose lock the caller holds, printing start's lines
// (docs/smolvm.md, start).
// It returns the agent's PID.
func (c *cli) boot(r *record) (int, error) {
	if state, pid := c.displayState(r); state == "running" {
		if pid > 0 {
			c.out("Machine '%s' already running (PID: %d)", r.Name, pid)
		} else {
			c.out("Machine '%s' already running", r.Name)
		}
		return pid, nil
	}
	if err := c.checkPorts(r); err != nil {
		return 0, err
	}
	switch m, n := len(r.Mounts), len(r.Ports); {
	case m > 0 && n > 0:
		c.errf("Starting machine '%s' with %d mount(s) and %d port mapping(s)...", r.Name, m, n)
	case m > 0:
		c.errf("Starting machine '%s' with %d mount(s)...", r.Name, m)
	case n > 0:
		c.errf("Starting machine '%s' and %d port mapping(s)...", r.Name, n)
	default:
		c.errf("Starting machine '%s'...", r.Name)
	}
	cfg := c.guestConfig(r)
	if r.Image != "" {
		dir, err := c.resolveImage(r.Image)
		if err != nil {
			return 0, err
		}
		if dir == "" {
			return 0, errorf("agent operation failed: start: image '%s' is no longer in the fake-smolvm image store", r.Image)
		}
		cfg.ImageDir = dir
		if !r.Pulled && !isLocalImage(r.Image) {
			// smolvm pulls on the first start; the fake's image is local.
			c.errf("Pulling %s...", r.Image)
		}
	}
	if err := c.touchDataDir(r.Name); err != nil {
		return 0, err
	}
	// The agent stays tied to this invocation until the record says
	// running: killed before that, it takes its machine with it.
	pid, keep, err := guest.StartHeld(cfg)
	if err != nil {
		_ = guest.Stop(cfg.DataDir)
		if errors.Is(err, guest.ErrUnsupported) {
			return 0, &runtimeError{firstLine(err.Error())}
		}
		return 0, errorf("agent operation failed: start: %v", err)
	}
	if err := c.store.update(func(d *db) error {
		if x := d.Machines[r.Name]; x != nil {
			x.State = "running"
			x.Pulled = x.Pulled || x.Image != ""
		}
		return nil
	}); err != nil {
		_ = guest.Stop(cfg.DataDir)
		return 0, err
	}
	keep()
	if len(r.Init) > 0 {
		if r.InitDone {
			c.out("Init already completed, skipping %d command(s)", len(r.Init))
		} else if err := c.runInit(r, cfg.DataDir); err != nil {
			_ = guest.Stop(cfg.DataDir)
			_ = c.setState(r.Name, "stopped")
			return 0, err
		}
	}
	if len(r.Cmd) > 0 {
		c.runWorkload(r, cfg.DataDir, r.Cmd)
	} else if cmd := imageStartCommand(cfg.ImageDir); cfg.ImageDir != "" && len(cmd) > 0 {
		// An image with an entrypoint or cmd and no COMMAND runs it at
		// start (docs/smolvm.md, "Image machines").
		c.runWorkload(r, cfg.DataDir, cmd)
	}
	c.out("Machine '%s' running (PID: %d)", r.Name, pid)
	return pid, nil
}

// checkPorts refuses host ports held by another running machine.
func (c *cli) checkPorts(r *record) error {
	if len(r.Ports) == 0 {
		return nil
	}
	d, err := c.store.load()
	if err != nil {
		return err
	}
	for _, o := range d.sorted() {
		if o.Name == r.Name {
			continue
		}
		if st, _ := c.displayState(o); st != "running" {
			continue
		}
		for _, op := range o.Ports {
			for _, p := range r.Ports {
				if p.Host == op.Host {
					return errorf("config operation failed: start machine: host port %d is already in use by running machine '%s'", p.Host, o.Name)
				}
			}
		}
	}
	return nil
}

// runInit runs the init commands of a first start with sh -c
// (docs/smolvm.md, start, step 3).
func (c *cli) runInit(r *record, dataDir string) error {
	c.out("Running %d init command(s)...", len(r.Init))
	for i, cmd := range r.Init {
		var so, se bytes.Buffer
		code, err := guest.Exec(dataDir, guest.ExecRequest{Argv: []string{"sh", "-c", cmd}, Mode: guest.Buffered},
			guest.Stdio{Stdin: nil, Stdout: &so, Stderr: &se})
		if err != nil {
			return errorf("agent operation failed: init: init[%d] failed: %v", i, err)
		}
		if code != 0 {
			msg := fmt.Sprintf("agent operation failed: init: init[%d] failed (exit %d)", i, code)
			out, errs := strings.TrimSpace(so.String()), strings.TrimSpace(se.String())
			switch {
			case out != "" && errs != "":
				msg += ": " + errs + "; stdout: " + out
			case errs != "":
				msg += ": " + errs
			case out != "":
				msg += ": " + out
			}
			return &runtimeError{msg}
		}
	}
	return c.store.update(func(d *db) error {
		if x := d.Machines[r.Name]; x != nil {
			x.InitDone = true
		}
		return nil
	})
}

// runWorkload runs a stored COMMAND: detached on an image machine, to
// completion on a bare one (docs/smolvm.md, start, step 4).
func (c *cli) runWorkload(r *record, dataDir string, argv []string) {
	mode := guest.Buffered
	if r.Image != "" {
		mode = guest.Detach
	}
	var discard bytes.Buffer
	stdout := c.stdout
	if mode == guest.Detach {
		stdout = &discard // the workload's PID is not part of start's output
	}
	code, err := guest.Exec(dataDir, guest.ExecRequest{Argv: argv, Mode: mode},
		guest.Stdio{Stdout: stdout, Stderr: c.stderr})
	switch {
	case err != nil:
		c.errf("workload failed: %v", err)
	case code != 0:
		c.errf("workload exited with code %d", code)
	}
}

// stop implements `machine stop` (docs/smolvm.md, stop).
func (c *cli) stop(p *parsed) error {
	name, named := machineName(p)
	r, unlock, err := c.lockedRecord(name)
	if err != nil {
		return err
	}
	defer unlock()
	if r == nil {
		// smolvm opens the runtime files of a machine it has no record of,
		// which creates its data dir.
		if err := c.touchDataDir(name); err != nil {
			return err
		}
		if !named {
			c.out("Stopping machine 'default'...")
			c.out("Machine 'default' stopped")
			return nil
		}
		return namedNotFound(name)
	}
	state, _ := c.displayState(r)
	if state != "running" {
		c.tidy(r)
		c.out("Machine '%s' is not running (state: %s)", name, state)
		return nil
	}
	c.out("Stopping machine '%s'...", name)
	if err := c.halt(name); err != nil {
		return err
	}
	c.out("Stopped machine: %s", name)
	return nil
}

// halt stops the guest and records the machine as stopped.
func (c *cli) halt(name string) error {
	if err := guest.Stop(c.paths.machineDir(name)); err != nil {
		return errorf("agent operation failed: stop: %v", err)
	}
	return c.setState(name, "stopped")
}

// delete implements `machine delete` (docs/smolvm.md, delete).
func (c *cli) delete(p *parsed) error {
	name, _ := p.get("name")
	r, unlock, err := c.lockedRecord(name)
	if err != nil {
		return err
	}
	defer unlock()
	if r == nil {
		return errorf("vm not found: %s", name)
	}
	if state, _ := c.displayState(r); state == "running" {
		c.out("Stopping machine '%s'...", name)
		if err := c.halt(name); err != nil {
			return err
		}
	} else {
		c.tidy(r)
	}
	if !p.has("force") && !p.has("cascade") {
		fmt.Fprintf(c.stderr, "Delete machine '%s'? [y/N] ", name)
		line := c.readLine()
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			c.out("Cancelled")
			return nil
		}
	}
	return c.remove(name)
}

// remove deletes a stopped machine's data dir and record. An agent of a
// start killed midway may still be writing into the directory for a
// moment: a failed removal ends every agent of the machine and tries again.
func (c *cli) remove(name string) error {
	dir := c.paths.machineDir(name)
	if _, err := os.Stat(dir); err == nil {
		c.out("Cleaning up data directory for vm: %s", name)
		for try := 1; ; try++ {
			err := os.RemoveAll(dir)
			if err == nil {
				break
			}
			if try == 5 {
				return errorf("io operation failed: remove %s: %v", dir, err)
			}
			_ = guest.Stop(dir)
			time.Sleep(time.Duration(try) * 20 * time.Millisecond)
		}
	}
	if err := c.store.update(func(d *db) error {
		delete(d.Machines, name)
		return nil
	}); err != nil {
		return err
	}
	c.out("Deleted machine: %s", name)
	return nil
}

// readLine reads one line of stdin, counting the bytes for the recorder.
func (c *cli) readLine() string {
	if c.stdin == nil {
		return ""
	}
	// One byte at a time: what follows the answer stays unread.
	var line []byte
	b := make([]byte, 1)
	for {
		n, err := c.stdin.Read(b)
		if n == 1 {
			line = append(line, b[0])
			if b[0] == '\n' {
				break
			}
		}
		if err != nil {
			break
		}
	}
	c.stdinBytes.Add(int64(len(line)))
	return string(line)
}

// nowUnix is the creation time of records: $FAKE_SMOLVM_NOW (Unix seconds)
// when set, so that goldens of ls and status can be exact.
func (c *cli) nowUnix() int64 {
	if n, err := strconv.ParseInt(c.getenv("FAKE_SMOLVM_NOW"), 10, 64); err == nil {
		return n
	}
	return time.Now().Unix()
}
