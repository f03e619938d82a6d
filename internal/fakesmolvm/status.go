package fakesmolvm

import (
	"fmt"
	"strings"
	"time"
)

// status implements `machine status` (docs/smolvm.md, status).
func (c *cli) status(p *parsed) error {
	name, named := machineName(p)
	r, err := c.store.get(name)
	if err != nil {
		return err
	}
	if !p.has("json") {
		if err := c.touchDataDir(name); err != nil {
			return err
		}
	} else {
		if r == nil {
			return errorf("config operation failed: machine status: machine '%s' not found", name)
		}
		b, _ := marshalJSON(c.jsonRecord(r), true)
		c.out("%s", b)
		return nil
	}
	if r == nil {
		if named {
			return namedNotFound(name)
		}
		c.out("Machine 'default': not running")
		return nil
	}
	state, pid := c.displayState(r)
	switch {
	case state == "running" && pid > 0:
		c.out("Machine '%s': running (PID: %d)", name, pid)
	case state == "running":
		c.out("Machine '%s': running", name)
	case !named:
		c.out("Machine 'default': not running")
	default:
		c.out("Machine '%s': %s", name, state)
	}
	return nil
}

// jsonRecord is one element of `ls --json` (docs/smolvm.md, ls); map keys
// marshal in alphabetical order, as serde_json prints them.
func (c *cli) jsonRecord(r *record) map[string]any {
	state, pid := c.displayState(r)
	var jpid any
	if pid > 0 {
		jpid = pid
	}
	labels := r.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	cmd := r.Cmd
	if cmd == nil {
		cmd = []string{}
	}
	var image, storage, overlay, vram any
	if r.GPUVRAMMiB != nil {
		vram = *r.GPUVRAMMiB
	}
	if r.Image != "" {
		image = r.Image
	}
	if r.StorageGB != nil {
		storage = *r.StorageGB
	}
	if r.OverlayGB != nil {
		overlay = *r.OverlayGB
	}
	return map[string]any{
		"cmd":                       cmd,
		"cpus":                      r.CPUs,
		"created_at":                r.CreatedAt,
		"cuda":                      r.CUDA,
		"cuda_fork_pool_size":       nil,
		"cuda_vram_limit_mib":       nil,
		"entrypoint":                []string{},
		"ephemeral":                 r.Ephemeral,
		"forkable":                  false,
		"forkpoint_held":            false,
		"gpu":                       r.GPU,
		"gpu_vram_mib":              vram,
		"health_cmd":                nil,
		"health_interval_secs":      nil,
		"health_retries":            nil,
		"health_startup_grace_secs": nil,
		"health_timeout_secs":       nil,
		"image":                     image,
		"labels":                    labels,
		"memory_mib":                r.MemoryMiB,
		"mounts":                    len(r.Mounts),
		"name":                      r.Name,
		"network":                   r.Network,
		"overlay_gb":                overlay,
		"pid":                       jpid,
		"ports":                     len(r.Ports),
		"restart_count":             0,
		"restart_max_retries":       0,
		"restart_policy":            "never",
		"state":                     state,
		"storage_gb":                storage,
	}
}

// ls implements `machine ls` (docs/smolvm.md, ls).
func (c *cli) ls(p *parsed) error {
	d, err := c.store.load()
	if err != nil {
		return err
	}
	recs := d.sorted()
	if p.has("json") {
		list := make([]map[string]any, 0, len(recs))
		for _, r := range recs {
			list = append(list, c.jsonRecord(r))
		}
		b, _ := marshalJSON(list, true)
		c.out("%s", b)
		return nil
	}
	if len(recs) == 0 {
		c.out("No machines found")
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-20s %-12s %5s %10s %7s %7s %8s %8s\n", "NAME", "STATE", "CPUS", "MEMORY", "MOUNTS", "PORTS", "STORAGE", "OVERLAY")
	b.WriteString(strings.Repeat("-", 88) + "\n")
	for _, r := range recs {
		state, pid := c.displayState(r)
		if r.Ephemeral {
			state += " (eph)"
		}
		name := r.Name
		if len(name) > 18 {
			name = name[:15] + "..."
		}
		storage, overlay := uint64(20), uint64(10)
		if r.StorageGB != nil {
			storage = *r.StorageGB
		}
		if r.OverlayGB != nil {
			overlay = *r.OverlayGB
		}
		fmt.Fprintf(&b, "%-20s %-12s %5d %10s %7d %7d %8s %8s\n", name, state, r.CPUs,
			fmt.Sprintf("%d MiB", r.MemoryMiB), len(r.Mounts), len(r.Ports),
			fmt.Sprintf("%d GiB", storage), fmt.Sprintf("%d GiB", overlay))
		if !p.has("verbose") {
			continue
		}
		if pid > 0 {
			fmt.Fprintf(&b, "  PID: %d\n", pid)
		}
		for _, m := range r.Mounts {
			ro := ""
			if m.ReadOnly {
				ro = " (ro)"
			}
			fmt.Fprintf(&b, "  Mount: %s -> %s%s\n", m.Host, m.Guest, ro)
		}
		for _, pm := range r.Ports {
			fmt.Fprintf(&b, "  Port: %d -> %d\n", pm.Host, pm.Guest)
		}
		if r.Network {
			b.WriteString("  Network: enabled\n")
		}
		switch {
		case r.GPU && r.GPUVRAMMiB != nil:
			fmt.Fprintf(&b, "  GPU: enabled (%d MiB VRAM)\n", *r.GPUVRAMMiB)
		case r.GPU:
			b.WriteString("  GPU: enabled\n")
		}
		for _, i := range r.Init {
			fmt.Fprintf(&b, "  Init: %s\n", i)
		}
		for _, e := range r.Env {
			fmt.Fprintf(&b, "  Env: %s\n", e)
		}
		if r.Workdir != "" {
			fmt.Fprintf(&b, "  Workdir: %s\n", r.Workdir)
		}
		fmt.Fprintf(&b, "  Created: %s\n\n", time.Unix(r.CreatedAt, 0).UTC().Format(time.RFC3339))
	}
	fmt.Fprint(c.stdout, b.String())
	return nil
}
