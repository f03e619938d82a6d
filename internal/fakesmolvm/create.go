package fakesmolvm

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// create implements `machine create` (docs/smolvm.md, create): validation in
// smolvm's order, nothing persisted on any error.
func (c *cli) create(p *parsed) error {
	r, err := c.buildRecord(p)
	if err != nil {
		return err
	}
	if err := c.insert(r); err != nil {
		return err
	}
	c.out("Created machine: %s", r.Name)
	c.out("  CPUs: %d, Memory: %d MiB", r.CPUs, r.MemoryMiB)
	if n := len(r.Mounts); n > 0 {
		c.out("  Mounts: %d", n)
	}
	if n := len(r.Ports); n > 0 {
		c.out("  Ports: %d", n)
	}
	if n := len(r.Init); n > 0 {
		c.out("  Init commands: %d", n)
	}
	c.out("")
	c.out("Use 'smolvm machine start --name %s' to start the machine", r.Name)
	c.out("Then use 'smolvm machine exec --name %s -- <command>' to run commands", r.Name)
	return nil
}

// insert stores a new record unless the name is taken.
func (c *cli) insert(r *record) error {
	return c.store.update(func(d *db) error {
		if _, ok := d.Machines[r.Name]; ok {
			return errorf("config operation failed: create machine: machine '%s' already exists or is being created", r.Name)
		}
		d.Machines[r.Name] = r
		return nil
	})
}

// buildRecord validates create's (and run's) options and returns the record.
func (c *cli) buildRecord(p *parsed) (*record, error) {
	c.noteLateFlags(p)
	r := &record{
		Name:      c.machine,
		State:     "created",
		CPUs:      4,
		MemoryMiB: 8192,
		CreatedAt: c.nowUnix(),
		Cmd:       p.args,
	}
	if p.spec == specRun {
		r.Cmd = nil
		r.Ephemeral = true
	}
	if p.has("from") {
		return nil, errorf("config operation failed: create machine: --from (.smolmachine files) is not supported by fake-smolvm")
	}
	if p.has("smolfile") {
		return nil, errorf("config operation failed: create machine: --smolfile is not supported by fake-smolvm")
	}
	// 2. Labels.
	for _, l := range p.all("label") {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return nil, errorf("config operation failed: --label: expected KEY=VALUE, got '%s'", l)
		}
		if k == "" {
			return nil, errorf("config operation failed: --label: label key cannot be empty (in '%s')", l)
		}
		if r.Labels == nil {
			r.Labels = map[string]string{}
		}
		r.Labels[k] = v
	}
	// 3. Resources.
	num := func(long string) (uint64, bool) {
		s, ok := p.get(long)
		if !ok {
			return 0, false
		}
		n, _ := strconv.ParseUint(s, 10, 64)
		return n, true
	}
	if n, ok := num("cpus"); ok {
		r.CPUs = n
	}
	if n, ok := num("mem"); ok {
		r.MemoryMiB = n
	}
	if n, ok := num("storage"); ok {
		r.StorageGB = &n
	}
	if n, ok := num("overlay"); ok {
		r.OverlayGB = &n
	}
	switch {
	case r.CPUs == 0:
		return nil, errorf("config operation failed: validate resources: CPU count must be at least 1")
	case r.MemoryMiB < 64:
		return nil, errorf("config operation failed: validate resources: memory must be at least 64 MiB (got %d MiB)", r.MemoryMiB)
	case r.StorageGB != nil && *r.StorageGB == 0:
		return nil, errorf("config operation failed: validate resources: storage disk size must be greater than 0 GiB")
	case r.OverlayGB != nil && *r.OverlayGB == 0:
		return nil, errorf("config operation failed: validate resources: overlay disk size must be greater than 0 GiB")
	}
	if r.CPUs > 16 {
		c.errf("warning: requested %d vCPUs but the hypervisor supports at most 16; the VM will run with 16 vCPUs", r.CPUs)
	}
	// 4. Ports.
	seen := map[uint16]bool{}
	for _, s := range p.all("port") {
		pm, _ := parsePort(s)
		if seen[pm.Host] {
			return nil, errorf("config operation failed: validate ports: duplicate host port %d: each host port can only be mapped once", pm.Host)
		}
		seen[pm.Host] = true
		r.Ports = append(r.Ports, pm)
	}
	// 5. Name.
	if err := validateName(r.Name); err != nil {
		return nil, errorf("config operation failed: create machine: %v", err)
	}
	// 6. Volumes.
	mounts, err := parseVolumes(p.all("volume"), c.cwd)
	if err != nil {
		return nil, err
	}
	r.Mounts = mounts
	r.Env = resolveEnv(p.all("env"), c.lookupEnv)
	r.Workdir, _ = p.get("workdir")
	r.Init = p.all("init")
	for _, f := range netFlags {
		if p.has(f) {
			r.Network = true
		}
	}
	// 7. Image.
	if img, ok := p.get("image"); ok {
		r.Image = img
		dir, err := c.resolveImage(img)
		if err != nil {
			return nil, err
		}
		if dir == "" {
			if !r.Network {
				return nil, errorf("config operation failed: create machine: image '%s' must be pulled from a registry, but this machine has no network, so the pull can never succeed. Add --net (or put the image in the fake-smolvm image store: $FAKE_SMOLVM_IMAGES or %s)", img, c.imageStore())
			}
			return nil, errorf("config operation failed: create machine: image '%s' not found in the fake-smolvm image store ($FAKE_SMOLVM_IMAGES or %s); fake-smolvm cannot pull from a registry", img, c.imageStore())
		}
	}
	return r, nil
}

// noteLateFlags prints create's note about its own long options after "--".
func (c *cli) noteLateFlags(p *parsed) {
	if !p.dashes || p.spec != specCreate {
		return
	}
	var late []string
	seen := map[string]bool{}
	for _, w := range p.args {
		if !strings.HasPrefix(w, "--") || w == "--" {
			continue
		}
		name, _, _ := strings.Cut(w[2:], "=")
		if p.spec.long(name) != nil && !seen[name] {
			seen[name] = true
			late = append(late, "--"+name)
		}
	}
	switch len(late) {
	case 0:
	case 1:
		c.errf("note: %s came after `--`, so it was passed to the workload and did not configure the machine. Machine options go before `--`.", late[0])
	default:
		c.errf("note: %s came after `--`, so they were passed to the workload and did not configure the machine. Machine options go before `--`.", strings.Join(late, ", "))
	}
}

// resolveEnv applies -e rules: KEY=VALUE splits at the first "="; a bare
// KEY copies the host value or is dropped when unset; empty keys drop.
func resolveEnv(entries []string, lookup func(string) (string, bool)) []string {
	var out []string
	for _, e := range entries {
		k, v, ok := strings.Cut(e, "=")
		if k == "" {
			continue
		}
		if !ok {
			hv, set := lookup(k)
			if !set {
				continue
			}
			v = hv
		}
		out = append(out, k+"="+v)
	}
	return out
}

// parseVolumes validates -v specs (docs/smolvm.md, create: mounts) and
// canonicalises host paths.
func parseVolumes(specs []string, cwd string) ([]mount, error) {
	var out []mount
	guests := map[string]bool{}
	for _, s := range specs {
		parts := strings.Split(s, ":")
		bad := errorf("invalid mount path: invalid format '%s' (expected host:guest[:ro|:rw])", s)
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
			return nil, bad
		}
		m := mount{Host: parts[0], Guest: parts[1]}
		if len(parts) == 3 {
			switch parts[2] {
			case "ro":
				m.ReadOnly = true
			case "rw":
			default:
				return nil, bad
			}
		}
		host := m.Host
		if !filepath.IsAbs(host) {
			host = filepath.Join(cwd, host)
		}
		fi, err := os.Stat(host)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errorf("mount source not found: %s", m.Host)
		}
		if err != nil {
			return nil, errorf("mount operation failed: validate host path: %v", err)
		}
		if !fi.IsDir() {
			return nil, errorf("mount operation failed: validate host path: source path on host must be a directory (virtiofs limitation): %s", m.Host)
		}
		if canon, err := filepath.EvalSymlinks(host); err == nil {
			host = canon
		}
		m.Host = host
		if !strings.HasPrefix(m.Guest, "/") {
			return nil, errorf("mount operation failed: validate guest path: target path on guest should be an absolute directory: %s", m.Guest)
		}
		g := filepath.Clean(m.Guest)
		if guests[g] {
			return nil, errorf("mount operation failed: validate mounts: duplicate mount target: %s is specified more than once", m.Guest)
		}
		guests[g] = true
		out = append(out, m)
	}
	return out, nil
}
