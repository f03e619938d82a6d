package fakesmolvm

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
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

// buildRecord validates create's options in smolvm's order (docs/smolvm.md,
// create: validation) and returns the record; nothing is stored here.
func (c *cli) buildRecord(p *parsed) (*record, error) {
	c.noteLateFlags(p)
	if err := unsupportedSource(p, "create machine"); err != nil {
		return nil, err
	}
	if err := resolveAllowHosts(p); err != nil {
		return nil, err
	}
	r := c.recordFromFlags(p)
	r.Cmd = p.args
	// A local image (an archive, "-", a rootfs directory) is resolved
	// now, as smolvm stages it right after its egress flags; a registry
	// name is looked up last (recordImage).
	localImage := r.Image == "-" || looksLocal(r.Image)
	if localImage {
		if err := c.recordImage(r); err != nil {
			return nil, err
		}
	}
	// Labels.
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
	if err := checkSockets(p); err != nil {
		return nil, err
	}
	if err := checkSecretRefs(p); err != nil {
		return nil, err
	}
	if err := c.validateResources(r); err != nil {
		return nil, err
	}
	if err := validateNetBackend(p, r); err != nil {
		return nil, err
	}
	if err := validatePorts(r); err != nil {
		return nil, err
	}
	if err := validateName(r.Name); err != nil {
		return nil, errorf("config operation failed: create machine: %v", err)
	}
	mounts, err := parseVolumes(p.all("volume"), c.cwd)
	if err != nil {
		return nil, err
	}
	r.Mounts = mounts
	if !localImage {
		if err := c.recordImage(r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// checkSockets is smolvm's reading of create's --expose-socket
// GUEST_PATH[:HOST_PATH] and --mount-socket HOST_PATH:GUEST_PATH: the
// sockets are not published by the fake, but a spec smolvm refuses is
// refused with its message.
func checkSockets(p *parsed) error {
	type sock struct {
		guest string
		mount bool
	}
	var out []sock
	for _, s := range p.all("expose-socket") {
		g, _, _ := strings.Cut(s, ":")
		if g == "" {
			return errorf("config operation failed: expose-socket: empty guest path in '%s'", s)
		}
		out = append(out, sock{g, false})
	}
	for _, s := range p.all("mount-socket") {
		h, g, ok := strings.Cut(s, ":")
		if !ok {
			return errorf("config operation failed: mount-socket: expected HOST_PATH:GUEST_PATH, got '%s'", s)
		}
		if h == "" || g == "" {
			return errorf("config operation failed: mount-socket: both HOST_PATH and GUEST_PATH are required in '%s'", s)
		}
		out = append(out, sock{g, true})
	}
	if len(out) > 64 {
		return errorf("config operation failed: publish-socket: too many published sockets (%d); max is 64", len(out))
	}
	for _, s := range out {
		if strings.ContainsAny(s.guest, ";|") {
			return errorf("config operation failed: publish-socket: guest path '%s' contains an unsupported character (';' or '|')", s.guest)
		}
		if !strings.HasPrefix(s.guest, "/") {
			return errorf("config operation failed: publish-socket: guest path '%s' must be absolute", s.guest)
		}
	}
	mounted := map[string]bool{}
	for _, s := range out {
		if !s.mount {
			continue
		}
		if mounted[s.guest] {
			return errorf("config operation failed: mount-socket: guest path '%s' is mounted more than once", s.guest)
		}
		mounted[s.guest] = true
	}
	return nil
}

// unsupportedSource refuses --from and --smolfile, which the fake cannot
// read.
func unsupportedSource(p *parsed, op string) error {
	if p.has("from") {
		return errorf("config operation failed: %s: --from (.smolmachine files) is not supported by fake-smolvm", op)
	}
	if p.has("smolfile") {
		return errorf("config operation failed: %s: --smolfile is not supported by fake-smolvm", op)
	}
	return nil
}

// resolveAllowHosts resolves each --allow-host on the host, as smolvm does
// before anything else is checked: an IP address is taken as is, a
// host:port is refused, and a name that does not resolve within 10 s fails.
func resolveAllowHosts(p *parsed) error {
	for _, h := range p.all("allow-host") {
		if _, err := netip.ParseAddr(h); err == nil && !strings.Contains(h, "%") {
			continue
		}
		if strings.Contains(h, ":") {
			return errorf("config operation failed: --allow-host: invalid hostname '%s': port suffixes are not supported. Use the hostname only (all ports are allowed to resolved IPs).", h)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		addrs, err := net.DefaultResolver.LookupIPAddr(ctx, h)
		cancel()
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			return errorf("config operation failed: --allow-host: DNS resolution for '%s' timed out after 10 seconds", h)
		case err != nil:
			return errorf("config operation failed: --allow-host: failed to resolve '%s': %v", h, err)
		case len(addrs) == 0:
			return errorf("config operation failed: --allow-host: '%s' resolved to no addresses", h)
		}
	}
	return nil
}

// recordFromFlags reads the machine options create and run share (clap
// has already checked each value's syntax). Mounts are parsed separately,
// where smolvm's order puts them.
func (c *cli) recordFromFlags(p *parsed) *record {
	r := &record{
		Name:      c.machine,
		State:     "created",
		CPUs:      4,
		MemoryMiB: 8192,
		CreatedAt: c.nowUnix(),
	}
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
	for _, s := range p.all("port") {
		pm, _ := parsePort(s)
		r.Ports = append(r.Ports, pm)
	}
	r.Env = resolveEnv(p.all("env"), c.lookupEnv)
	r.Workdir, _ = p.get("workdir")
	r.Init = p.all("init")
	for _, f := range netFlags {
		if p.has(f) {
			r.Network = true
		}
	}
	r.GPU = p.has("gpu")
	if s, ok := p.get("gpu-vram"); ok {
		n, _ := strconv.ParseUint(strings.TrimPrefix(s, "+"), 10, 32)
		r.GPUVRAMMiB = &n
	}
	r.CUDA = p.has("cuda") || p.has("auto-graph")
	r.NetBackend, _ = p.get("net-backend")
	r.DNS, _ = p.get("dns")
	r.OCIPlatform, _ = p.get("oci-platform")
	r.Image, _ = p.get("image")
	return r
}

// validateResources is smolvm's resource check (docs/smolvm.md, create:
// validation): errors for zero CPUs, too little memory and zero-sized
// disks, a warning above 16 CPUs.
func (c *cli) validateResources(r *record) error {
	switch {
	case r.CPUs == 0:
		return errorf("config operation failed: validate resources: CPU count must be at least 1")
	case r.CPUs > 16:
		c.errf("warning: requested %d vCPUs but the hypervisor supports at most 16; the VM will run with 16 vCPUs", r.CPUs)
	}
	switch {
	case r.MemoryMiB < 64:
		return errorf("config operation failed: validate resources: memory must be at least 64 MiB (got %d MiB)", r.MemoryMiB)
	case r.StorageGB != nil && *r.StorageGB == 0:
		return errorf("config operation failed: validate resources: storage disk size must be greater than 0 GiB")
	case r.OverlayGB != nil && *r.OverlayGB == 0:
		return errorf("config operation failed: validate resources: overlay disk size must be greater than 0 GiB")
	}
	return nil
}

// validateNetBackend is smolvm's check of the requested network backend:
// published ports, a named network and an egress policy need virtio-net
// (the default when any of them is asked for), and an explicit virtio-net
// needs networking.
func validateNetBackend(p *parsed, r *record) error {
	egress := p.has("allow-cidr") || p.has("allow-host") || p.has("outbound-localhost-only")
	named := p.has("network")
	backend := r.NetBackend
	if backend == "" {
		backend = "tsi"
		if len(r.Ports) > 0 || egress || named {
			backend = "virtio-net"
		}
	}
	switch {
	case len(r.Ports) > 0 && backend != "virtio-net":
		return errorf("config operation failed: ports: published ports require the virtio-net backend (TSI is outbound-only); remove --net-backend tsi or set it to virtio-net")
	case named && backend != "virtio-net":
		return errorf("config operation failed: network: --network requires the virtio-net backend; remove --net-backend tsi or set it to virtio-net")
	case egress && backend != "virtio-net":
		return errorf("config operation failed: egress: egress policy (--allow-cidr/--allow-host/--outbound-localhost-only) requires the virtio-net backend; TSI does not enforce it. Remove --net-backend tsi or set it to virtio-net")
	case r.NetBackend == "virtio-net" && !r.Network && len(r.Ports) == 0:
		return errorf("config operation failed: --net-backend: --net-backend virtio-net requires --net")
	}
	return nil
}

// validatePorts refuses a host port mapped twice.
func validatePorts(r *record) error {
	seen := map[uint16]bool{}
	for _, pm := range r.Ports {
		if seen[pm.Host] {
			return errorf("config operation failed: validate ports: duplicate host port %d: each host port can only be mapped once", pm.Host)
		}
		seen[pm.Host] = true
	}
	return nil
}

// recordImage checks the record's image as smolvm classifies it
// (images.go): a local source is staged (an archive flattened once) and
// recorded as "local:<sha256>" or "local-dir:<path>"; a registry name must
// be in the fake's image store (there is no registry).
func (c *cli) recordImage(r *record) error {
	img := r.Image
	if img == "" {
		return nil
	}
	ref, dir, err := c.resolveImageArg(img)
	if err != nil {
		return err
	}
	r.Image = ref
	if dir == "" {
		if !r.Network {
			return errorf("config operation failed: create machine: image '%s' must be pulled from a registry, but this machine has no network, so the pull can never succeed. Add --net (or put the image in the fake-smolvm image store: $FAKE_SMOLVM_IMAGES or %s)", img, c.imageStore())
		}
		return errorf("config operation failed: create machine: image '%s' not found in the fake-smolvm image store ($FAKE_SMOLVM_IMAGES or %s); fake-smolvm cannot pull from a registry", img, c.imageStore())
	}
	return nil
}

// noteLateFlags prints create's note about its own long options after "--".
func (c *cli) noteLateFlags(p *parsed) {
	if !p.dashes || p.spec != specCreate {
		return
	}
	var late []string
	seen := map[string]bool{}
	for _, w := range p.args {
		// Whole words only, as smolvm compares them: "--mem=5" is not noted.
		if !strings.HasPrefix(w, "--") || w == "--" {
			continue
		}
		name := w[2:]
		if p.spec.long(name) != nil && !seen[name] {
			seen[name] = true
			late = append(late, w)
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

// protectedMounts are the host paths smolvm refuses to mount on Linux: the
// path itself, and with true everything under it too.
var protectedMounts = []struct {
	path    string
	subtree bool
}{
	{"/", false}, {"/var", false}, {"/var/run", true}, {"/var/log", true},
	{"/etc", true}, {"/boot", true}, {"/usr", true}, {"/bin", true},
	{"/sbin", true}, {"/lib", true}, {"/proc", true}, {"/sys", true},
	{"/dev", true}, {"/run", true},
}

// parseVolumes is smolvm's HostMount::parse (docs/smolvm.md, create:
// mounts). Each spec is read from the right: an optional ":ro" or ":rw",
// then the last ":" splits host source from guest target. The source must
// exist and be a directory; it is canonicalised and may not be a protected
// system path; the target must be absolute. Then no two targets may be the
// same path (compared by components, as Rust's Path does).
func parseVolumes(specs []string, cwd string) ([]mount, error) {
	var out []mount
	for _, s := range specs {
		rest, ro := s, false
		if i := strings.LastIndexByte(s, ':'); i >= 0 {
			switch s[i+1:] {
			case "ro":
				rest, ro = s[:i], true
			case "rw":
				rest = s[:i]
			}
		}
		i := strings.LastIndexByte(rest, ':')
		if i <= 0 || i == len(rest)-1 {
			return nil, errorf("invalid mount path: invalid format '%s' (expected host:guest[:ro|:rw])", s)
		}
		m := mount{Host: rest[:i], Guest: rest[i+1:], ReadOnly: ro}
		host := m.Host
		if !filepath.IsAbs(host) {
			host = filepath.Join(cwd, host)
		}
		fi, err := os.Stat(host)
		if err != nil {
			// Rust's Path::exists is false on any error.
			return nil, errorf("mount source not found: %s", m.Host)
		}
		if !fi.IsDir() {
			return nil, errorf("mount operation failed: validate host path: source path on host must be a directory (virtiofs limitation): %s", m.Host)
		}
		canon, err := filepath.EvalSymlinks(host)
		if err != nil {
			return nil, errorf("mount operation failed: canonicalize host path: '%s': %v", m.Host, err)
		}
		m.Host = canon
		for _, pm := range protectedMounts {
			if canon == pm.path || (pm.subtree && strings.HasPrefix(canon, pm.path+"/")) {
				return nil, errorf("mount operation failed: validate host path: source path on host is a protected system path and cannot be mounted: %s", canon)
			}
		}
		if !strings.HasPrefix(m.Guest, "/") {
			return nil, errorf("mount operation failed: validate guest path: target path on guest should be an absolute directory: %s", m.Guest)
		}
		out = append(out, m)
	}
	seen := map[string]bool{}
	for _, m := range out {
		key := pathComponents(m.Guest)
		if seen[key] {
			return nil, errorf("mount operation failed: validate mounts: duplicate mount target: %s is specified more than once", m.Guest)
		}
		seen[key] = true
	}
	return out, nil
}

// pathComponents is the identity Rust gives an absolute path: its
// components, with empty and "." ones dropped ("/a//b/./" is "/a/b"), but
// ".." kept.
func pathComponents(p string) string {
	var parts []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			parts = append(parts, c)
		}
	}
	return "/" + strings.Join(parts, "/")
}
