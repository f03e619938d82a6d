package fakesmolvm

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/smolbottle/smolbottle/internal/fakesmolvm/guest"
)

// runEphemeral implements `machine run` (docs/smolvm.md, run): create an
// ephemeral machine, start it, run COMMAND (default /bin/sh), and delete it.
// With -d the machine is left running and start's output is printed; without
// it only the command's output reaches stdout (start's chatter goes to stderr)
// and the exit code is the command's. The run holds its machine's owner lock
// while it lives, so the sweep of other invocations (sweepEphemeral) never
// touches a live run; the machine lock itself is held only while booting, so
// stop or delete from elsewhere still work on a running run's machine.
func (c *cli) runEphemeral(p *parsed) error {
	r, err := c.buildRecord(p)
	if err != nil {
		return err
	}
	detach := p.has("detach")
	r.Detached = detach
	release, ok := tryLockFile(c.store.ownerLockPath(r.Name))
	if !ok {
		return errorf("config operation failed: create machine: machine '%s' already exists or is being created", r.Name)
	}
	defer release()
	if err := c.insert(r); err != nil {
		return err
	}
	boot := func() error {
		unlock, err := c.store.lockMachine(r.Name)
		if err != nil {
			return err
		}
		defer unlock()
		_, err = c.boot(r)
		return err
	}
	if detach {
		err := boot()
		if err != nil {
			c.discard(r.Name)
		}
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
	stdout := c.stdout
	c.stdout = c.stderr
	err = boot()
	c.stdout = stdout
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
	return c.runGuest(c.paths.machineDir(r.Name), req)
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

// sweepEphemeral removes ephemeral machines whose run is gone: every machine
// subcommand does this first, silently (docs/smolvm.md, Top level). A run
// holds its owner lock while it lives; a detached run's machine is kept while
// it runs.
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
		if state, _ := c.displayState(r); !r.Detached || state != "running" {
			c.discard(r.Name)
		}
		unlock()
	}
}
