//go:build linux

package guest

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Confinement of guest processes: the capability bounding set and a non-dumpable agent.

// keptCaps are what guest processes may still hold (a container runtime's
// usual default set): enough for root to own, chmod and chown files in its
// tree and to switch users, but no mount, mknod, ptrace, module, raw I/O or
// namespace administration, and no file capabilities (SETFCAP: without
// shifted ids guest root is the caller's uid, so a capability it set on a
// file in a volume would hold for the caller).
var keptCaps = map[int]bool{
	unix.CAP_CHOWN: true, unix.CAP_DAC_OVERRIDE: true, unix.CAP_FOWNER: true,
	unix.CAP_FSETID: true, unix.CAP_KILL: true, unix.CAP_SETGID: true,
	unix.CAP_SETUID: true, unix.CAP_SETPCAP: true, unix.CAP_NET_BIND_SERVICE: true,
	unix.CAP_NET_RAW: true, unix.CAP_SYS_CHROOT: true, unix.CAP_AUDIT_WRITE: true,
}

// dropBoundingSet shrinks the capability bounding set of the calling
// thread. The bounding set is per thread, and a child inherits the one of
// the thread that forked it; so this runs on the spawner's locked thread,
// the only thread that forks guest processes.
func dropBoundingSet() error {
	for c := 0; c <= lastCap(); c++ {
		if keptCaps[c] {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("drop capability %d: %w", c, err)
		}
	}
	// The seccomp filter is per thread too, and inherited the same way.
	return installFilter()
}

// lastCap is the highest capability this kernel has.
func lastCap() int {
	if raw, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil {
			return n
		}
	}
	return unix.CAP_LAST_CAP
}

// limitNamespaces forbids new user and cgroup namespaces inside the
// guest's user namespace: the limits under /proc/sys/user are per user
// namespace, and a nested user namespace is the only way a guest process
// could regain CAP_SYS_ADMIN (to mount a host cgroup hierarchy, say). The
// guest cannot raise them: it has no CAP_SYS_RESOURCE, and /proc/sys is
// read-only in the guest.
func limitNamespaces() error {
	for _, f := range []string{"max_user_namespaces", "max_cgroup_namespaces"} {
		if err := os.WriteFile("/proc/sys/user/"+f, []byte("0\n"), 0o644); err != nil {
			return fmt.Errorf("limit %s: %w", f, err)
		}
	}
	return nil
}

// dropPrivileges starts the spawner thread with the reduced bounding set
// and makes the agent non-dumpable, so no guest process can open the
// agent's /proc/1/fd (its host-side files).
func (a *agent) dropPrivileges() error {
	a.reaper.spawns = make(chan spawnReq)
	errc := make(chan error, 1)
	go a.reaper.spawner(errc)
	if err := <-errc; err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("set non-dumpable: %w", err)
	}
	return nil
}
