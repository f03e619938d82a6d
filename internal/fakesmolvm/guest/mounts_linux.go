//go:build linux

package guest

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The guest tree: bind mounts, /dev, /proc, pivot_root and volumes.

// mountTree prepares root as the guest's root filesystem (still seen from
// the host side; pivot follows).
func mountTree(root, usrLocal string, cfg Config, first bool) error {
	// pivot_root needs the new root to be a mount point.
	if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind guest root: %w", err)
	}
	// Host system directories, read-only. On a merged-/usr host /bin, /lib...
	// are symlinks into /usr; the guest gets the same symlinks.
	for _, d := range []string{"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"} {
		host := "/" + d
		fi, err := os.Lstat(host)
		if err != nil {
			continue
		}
		dst := filepath.Join(root, d)
		if fi.Mode()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(host)
			if err != nil {
				return err
			}
			if cur, err := os.Readlink(dst); err == nil && cur == target {
				continue
			}
			os.RemoveAll(dst)
			if err := os.Symlink(target, dst); err != nil {
				return fmt.Errorf("guest /%s: %w", d, err)
			}
			continue
		}
		if err := mountpoint(dst); err != nil {
			return err
		}
		if err := bindReadOnly(host, dst); err != nil {
			return err
		}
	}
	// Debian's /usr/bin/awk and friends resolve through /etc/alternatives:
	// the host's, read-only (hundreds of symlinks, too slow to copy).
	if fi, err := os.Stat("/etc/alternatives"); err == nil && fi.IsDir() {
		for _, d := range []string{"etc", "etc/alternatives"} {
			if err := mountpoint(filepath.Join(root, d)); err != nil {
				return err
			}
		}
		if err := bindReadOnly("/etc/alternatives", filepath.Join(root, "etc/alternatives")); err != nil {
			return err
		}
	}
	if err := unix.Mount(usrLocal, filepath.Join(root, "usr/local"), "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("mount /usr/local: %w", err)
	}
	for _, t := range []struct {
		dir, opts string
	}{{"tmp", "mode=1777"}, {"run", "mode=755"}, {"dev", "mode=755"}} {
		dst := filepath.Join(root, t.dir)
		if err := mountpoint(dst); err != nil {
			return err
		}
		if err := unix.Mount("tmpfs", dst, "tmpfs", unix.MS_NOSUID, t.opts); err != nil {
			return fmt.Errorf("mount /%s: %w", t.dir, err)
		}
	}
	if err := mountDev(filepath.Join(root, "dev"), cfg, first); err != nil {
		return err
	}
	if err := mountpoint(filepath.Join(root, "proc")); err != nil {
		return err
	}
	return mountProc(filepath.Join(root, "proc"), filepath.Join(root, "dev/null"))
}

// mountpoint makes sure dst is a real directory (the guest may have left a
// symlink there, which must not redirect a mount).
func mountpoint(dst string) error {
	fi, err := os.Lstat(dst)
	if err == nil && fi.IsDir() {
		return nil
	}
	if err == nil {
		if err := os.RemoveAll(dst); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		return fmt.Errorf("mount point %s: %w", dst, err)
	}
	return nil
}

// bindReadOnly bind-mounts src on dst read-only, submounts included. The
// remount must repeat the source's nosuid/nodev/noexec/atime flags: inside
// a user namespace they are locked.
func bindReadOnly(src, dst string) error {
	if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", src, err)
	}
	targets := []string{dst}
	for _, m := range mountsUnder(dst) {
		if m != dst {
			targets = append(targets, m)
		}
	}
	for _, t := range targets {
		var st unix.Statfs_t
		if err := unix.Statfs(t, &st); err != nil {
			return fmt.Errorf("statfs %s: %w", t, err)
		}
		const keep = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME
		flags := uintptr(unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY) | uintptr(st.Flags)&keep
		if err := unix.Mount("", t, "", flags, ""); err != nil {
			return fmt.Errorf("read-only %s: %w", t, err)
		}
	}
	return nil
}

// mountsUnder lists the mount points at or below dir, from mountinfo.
func mountsUnder(dir string) []string {
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMountinfo(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out
}

func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountDev fills the guest's /dev tmpfs: the harmless host devices, a fresh
// devpts instance, /dev/shm, and the fake binary (for runuser).
func mountDev(dev string, cfg Config, first bool) error {
	for _, n := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		dst := filepath.Join(dev, n)
		if err := os.WriteFile(dst, nil, 0o666); err != nil {
			return err
		}
		// Read-only: the node stays usable, but the guest's root (a host
		// uid) cannot chmod, chown or touch the host's device inode.
		if err := bindReadOnly("/dev/"+n, dst); err != nil {
			return fmt.Errorf("bind /dev/%s: %w", n, err)
		}
	}
	for _, d := range []string{"pts", "shm", ".smolvm"} {
		if err := os.Mkdir(filepath.Join(dev, d), 0o755); err != nil {
			return err
		}
	}
	if err := unix.Mount("devpts", filepath.Join(dev, "pts"), "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return fmt.Errorf("mount devpts: %w", err)
	}
	if err := unix.Mount("shm", filepath.Join(dev, "shm"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
		return fmt.Errorf("mount /dev/shm: %w", err)
	}
	for name, target := range map[string]string{
		"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
	} {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return err
		}
	}
	exe := filepath.Join(dev, ".smolvm/smolvm")
	if err := os.WriteFile(exe, nil, 0o755); err != nil {
		return err
	}
	if err := bindReadOnly("/proc/self/exe", exe); err != nil {
		return fmt.Errorf("bind fake binary: %w", err)
	}
	if first && cfg.ImageDir != "" {
		src := filepath.Join(cfg.ImageDir, "rootfs")
		if fi, err := os.Stat(src); err == nil && fi.IsDir() {
			img := filepath.Join(dev, ".smolvm/image")
			if err := os.Mkdir(img, 0o755); err != nil {
				return err
			}
			if err := bindReadOnly(src, img); err != nil {
				return fmt.Errorf("image: %w", err)
			}
		}
	}
	return nil
}

// mountProc mounts the guest's own /proc (its PID namespace only) and
// makes the parts that reach the kernel read-only or empty, as container
// runtimes do: the guest's root maps to a real host uid.
func mountProc(proc, null string) error {
	if err := unix.Mount("proc", proc, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	for _, p := range []string{"sys", "sysrq-trigger", "irq", "bus", "fs"} {
		t := filepath.Join(proc, p)
		if _, err := os.Lstat(t); err != nil {
			continue
		}
		if err := bindReadOnly(t, t); err != nil {
			return fmt.Errorf("/proc/%s: %w", p, err)
		}
	}
	for _, p := range []string{"kcore", "keys", "timer_list", "sched_debug", "kallsyms"} {
		t := filepath.Join(proc, p)
		if _, err := os.Lstat(t); err != nil {
			continue
		}
		if err := unix.Mount(null, t, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("mask /proc/%s: %w", p, err)
		}
	}
	return nil
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// listenIn listens on dataDir/agent.sock. The address goes through
// /proc/self/fd so long data dir paths fit the 108-byte sun_path.
func listenIn(dataDir string) (*net.UnixListener, error) {
	os.Remove(filepath.Join(dataDir, fileSock))
	var ln *net.UnixListener
	err := withShortPath(dataDir, fileSock, func(p string) error {
		var err error
		ln, err = net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	return ln, nil
}

func writePid(dataDir string, pid int) (*os.File, error) {
	p := filepath.Join(dataDir, filePid)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, p); err != nil {
		return nil, err
	}
	return os.Open(p)
}

func pivot(root string) error {
	if err := unix.Chdir(root); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach host root: %w", err)
	}
	return unix.Chdir("/")
}

// volumeError is a -v mount that cannot be made: the machine's problem,
// not the host's lack of isolation.
type volumeError struct{ error }

// volume is a -v mount, detached until attached in the guest.
type volume struct {
	m  Mount
	fd int
}

func openVolumes(ms []Mount) ([]volume, error) {
	var out []volume
	for _, m := range ms {
		fd, err := unix.OpenTree(unix.AT_FDCWD, m.Host, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
		if err != nil {
			for _, v := range out {
				unix.Close(v.fd)
			}
			return nil, volumeError{fmt.Errorf("%s: %w", m.Host, err)}
		}
		if m.ReadOnly {
			attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
			if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
				unix.Close(fd)
				return nil, fmt.Errorf("volume %s read-only: %w", m.Host, err)
			}
		}
		out = append(out, volume{m, fd})
	}
	return out, nil
}

// attachVolumes runs inside the guest root: the mount points are created
// there, through whatever symlinks the guest made, never on the host.
func attachVolumes(vols []volume) error {
	defer func() {
		for _, v := range vols {
			unix.Close(v.fd)
		}
	}()
	for _, v := range vols {
		if err := os.MkdirAll(v.m.Guest, 0o755); err != nil {
			return volumeError{fmt.Errorf("mount point %s: %w", v.m.Guest, err)}
		}
		if err := unix.MoveMount(v.fd, "", unix.AT_FDCWD, v.m.Guest, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			return volumeError{fmt.Errorf("%s at %s: %w", v.m.Host, v.m.Guest, err)}
		}
	}
	return nil
}
