//go:build linux

package guest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

func doctor(hostUserland bool) Report {
	r := Report{Supported: true}
	if err := unsupported(); err != nil {
		r.Supported = false
		r.Lines = append(r.Lines, err.Error())
	}
	if err := probeNamespaces(); err != nil {
		r.Supported = false
		r.Lines = append(r.Lines, "cannot create a guest's namespaces: "+err.Error())
	} else {
		r.Lines = append(r.Lines, "creating user, mount, pid, uts, ipc, cgroup and net namespaces: ok")
	}
	if v, err := readInt("/proc/sys/user/max_user_namespaces"); err == nil {
		r.Lines = append(r.Lines, fmt.Sprintf("user.max_user_namespaces = %d", v))
	}
	switch ids := guestIDMap(); {
	case ids.remapped():
		r.Lines = append(r.Lines, fmt.Sprintf("running as root: guest uids/gids 0-65535 map to host %d-%d, so guest root owns nothing of the host; runuser to any user in the guest's /etc/passwd works; a volume is written with these ids (make it writable to host uid %d for the guest's root)", ids.shift, ids.shift+guestIDs-1, ids.shift))
	case ids.fullRange():
		r.Lines = append(r.Lines, "running as root of a user namespace without host ids 100000-165535: guest uids/gids 0-65535 map to this namespace's 0-65535; runuser to any user in the guest's /etc/passwd works")
	default:
		r.Lines = append(r.Lines, fmt.Sprintf("running as uid %d (or as root of a user namespace without ids 0-65535): the guest's root is this user and the only id in the guest; runuser to other users fails", os.Geteuid()))
	}
	r.Lines = append(r.Lines, "namespaces per guest: user, mount, pid, uts, ipc, cgroup, and net unless --net")
	if hostUserland {
		r.Lines = append(r.Lines, "bare guest userland: the host's ("+HostUserlandEnv+"=1): host /usr (and /bin, /lib... or their merged-/usr links) read-only")
	} else if bb, err := findBusybox(); err != nil {
		r.Supported = false
		r.Lines = append(r.Lines, "bare guest userland: none: "+err.Error())
	} else {
		r.Lines = append(r.Lines, "bare guest userland: Alpine-like, static busybox "+bb+" plus "+strings.Join(hostCommandNames(), " "))
	}
	r.Lines = append(r.Lines, "image guest userland: the image's root filesystem only")
	return r
}

// probeNamespaces runs a trivial program in the namespaces a guest gets.
func probeNamespaces() error {
	ids := guestIDMap()
	p, err := exec.LookPath("true")
	if err != nil {
		return fmt.Errorf("no true(1) to probe with: %w", err)
	}
	cmd := exec.Command(p)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWCGROUP | syscall.CLONE_NEWNET,
		UidMappings:                ids.uids,
		GidMappings:                ids.gids,
		GidMappingsEnableSetgroups: ids.setgroups,
	}
	return cmd.Run()
}
