//go:build linux

package guest

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// The guest tree: bind mounts, /dev, /proc, pivot_root and volumes.

// userland is what a guest runs on.
type userland int

const (
	userlandBusybox userland = iota // a bare guest: Alpine-like, static busybox plus the table's commands
	userlandHost                    // a bare guest on the host's /usr (HostUserlandEnv)
	userlandImage                   // an image guest: the image's root filesystem only
)

func userlandOf(cfg Config) userland {
	switch {
	case cfg.ImageDir != "":
		return userlandImage
	case cfg.HostUserland:
		return userlandHost
	default:
		return userlandBusybox
	}
}

func (u userland) String() string {
	switch u {
	case userlandHost:
		return "host"
	case userlandImage:
		return "image"
	default:
		return "busybox"
	}
}

// guestTree is the guest's root filesystem while the agent builds it:
// mounted before pivot_root (prepareTree), finished inside it (finish).
type guestTree struct {
	root      string // where the root filesystem is mounted, to pivot into
	kind      userland
	first     bool
	applets   []string   // a busybox guest's layout: its applets
	commands  []hostFile // a busybox guest's layout: busybox and the table's host commands
	hostFiles []hostFile // the first start's files from the host /etc
}

// prepareTree mounts the guest's root filesystem at DATADIR/merged (still
// seen from the host side; pivot follows). It is an overlay: for an image
// guest, the flattened image (read-only, shared by every machine of the
// image) under the machine's own writable layer DATADIR/upper, so no start
// copies the image; for a bare guest, its own tree DATADIR/rootfs over an
// empty layer. Either way the guest's mountinfo names no host path for its
// root (the layers are named by descriptor). Where overlayfs cannot be
// mounted, a bare guest's tree is bound instead. The data dir is the
// working directory, and every path into it is relative; imageLower
// names the image's rootfs when it is not ImageDir/rootfs (the id-mapped
// mount of a remapped guest).
func prepareTree(cfg Config, imageLower string, first bool) (*guestTree, error) {
	t := &guestTree{kind: userlandOf(cfg), first: first, root: dirMerged}
	lower, upper := dirLower, dirRootfs
	if t.kind == userlandImage {
		lower, upper = imageLower, dirUpper
		if lower == "" {
			lower = filepath.Join(cfg.ImageDir, "rootfs")
		}
	}
	// The client made the directories (prepareDataDir); the agent never
	// creates one, so a machine deleted while it started stays deleted.
	if err := mountOverlay(t.root, lower, upper, dirWork); err != nil {
		if t.kind == userlandImage {
			return nil, fmt.Errorf("mount image overlay: %w", err)
		}
		fmt.Fprintf(os.Stderr, "agent: overlay: %v; binding the guest tree instead\n", err)
		// pivot_root needs the new root to be a mount point.
		t.root = upper
		if err := unix.Mount(t.root, t.root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return nil, fmt.Errorf("bind guest root: %w", err)
		}
	}
	root := t.root
	switch t.kind {
	case userlandHost:
		if err := mountHostUsr(root, dirUsrLocal); err != nil {
			return nil, err
		}
		if first {
			t.hostFiles = readHostEtc()
		}
	case userlandBusybox:
		// The Alpine layout is laid out on the first start, or on the
		// first busybox start of a tree that had the host's userland.
		// (The client checked that the host has a static busybox.)
		if _, err := os.Lstat(filepath.Join(root, "bin/busybox")); first || err != nil {
			busybox, err := findBusybox()
			if err != nil {
				return nil, err
			}
			if t.applets, err = busyboxApplets(busybox); err != nil {
				return nil, err
			}
			if t.commands, err = readHostCommands(busybox); err != nil {
				return nil, err
			}
		}
		if first {
			t.hostFiles = readHostFiles(bareHostEtc(cfg))
		}
	case userlandImage:
		if first && cfg.Network {
			t.hostFiles = readHostFiles([]string{"resolv.conf"})
		}
	}
	for _, m := range []struct {
		dir, opts string
	}{{"tmp", "mode=1777"}, {"run", "mode=755"}, {"dev", "mode=755"}} {
		dst := filepath.Join(root, m.dir)
		if err := mountpoint(dst); err != nil {
			return nil, err
		}
		// /dev is nosuid but not nodev: its device nodes are the point.
		flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
		if m.dir == "dev" {
			flags = unix.MS_NOSUID
		}
		if err := unix.Mount("tmpfs", dst, "tmpfs", flags, m.opts); err != nil {
			return nil, fmt.Errorf("mount /%s: %w", m.dir, err)
		}
	}
	if err := mountDev(filepath.Join(root, "dev")); err != nil {
		return nil, err
	}
	if err := mountpoint(filepath.Join(root, "proc")); err != nil {
		return nil, err
	}
	if err := mountProc(filepath.Join(root, "proc"), filepath.Join(root, "dev/null")); err != nil {
		return nil, err
	}
	if err := limitNamespaces(); err != nil {
		return nil, err
	}
	return t, nil
}

// finish completes the tree from inside it (after pivot_root): the first
// start's /etc and layout.
func (t *guestTree) finish(cfg Config, img ImageConfig) error {
	if t.first {
		if err := populate(cfg, img, t); err != nil {
			return fmt.Errorf("populate guest: %w", err)
		}
	} else if t.applets != nil {
		if err := populateBusybox(t.applets, t.commands); err != nil {
			return fmt.Errorf("populate guest: %w", err)
		}
	}
	t.commands = nil
	if t.kind == userlandHost {
		os.MkdirAll(filepath.Dir(guestRunuserHost), 0o755)
		if err := os.WriteFile(guestRunuserHost, []byte(runuserShim), 0o755); err != nil {
			return fmt.Errorf("install runuser: %w", err)
		}
	}
	return nil
}

// mountOverlay mounts lower under upper at dst. The layers are named
// through descriptors: no character of a host path (a ':' in "app:1.0", a
// ',') can break the options, and the guest's mountinfo shows no host
// path.
func mountOverlay(dst, lower, upper, work string) error {
	var names []string
	for _, p := range []string{lower, upper, work} {
		fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("layer: %w", err)
		}
		defer unix.Close(fd)
		names = append(names, "/proc/self/fd/"+strconv.Itoa(fd))
	}
	opts := "lowerdir=" + names[0] + ",upperdir=" + names[1] + ",workdir=" + names[2] + ",userxattr"
	return unix.Mount("overlay", dst, "overlay", unix.MS_NODEV, opts)
}

// mountHostUsr shows the host's system directories read-only (a
// host-userland guest). On a merged-/usr host /bin, /lib... are symlinks
// into /usr; the guest gets the same symlinks.
func mountHostUsr(root, usrLocal string) error {
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
	if err := unix.Mount(usrLocal, filepath.Join(root, "usr/local"), "", unix.MS_BIND|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("mount /usr/local: %w", err)
	}
	return nil
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

// bindReadOnly bind-mounts src on dst read-only, nosuid and nodev,
// submounts included: a host setuid binary runs in the guest without its
// privilege, and no host device node opens through it. The bind is a
// detached clone given its flags before it is attached: the flags a user
// namespace locks (noexec, atime) are kept as they are, and no host path
// of dst is needed (dst may be relative to the data dir).
func bindReadOnly(src, dst string) error {
	return bindRO(src, dst, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV)
}

// bindDevice is bindReadOnly for a device node, which nodev would make
// unusable: read-only, so the guest cannot chmod, chown or touch the host
// inode, and nosuid.
func bindDevice(src, dst string) error { return bindRO(src, dst, unix.MOUNT_ATTR_NOSUID) }

func bindRO(src, dst string, extra uint64) error {
	fd, err := detachedMount(src, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | extra})
	if err != nil {
		return fmt.Errorf("bind %s: %w", src, err)
	}
	defer unix.Close(fd)
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, dst, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("bind %s: %w", src, err)
	}
	return nil
}

// mountDev fills the guest's /dev tmpfs: the harmless host devices, a fresh
// devpts instance, /dev/shm, and the fake binary (for runuser).
func mountDev(dev string) error {
	for _, n := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		dst := filepath.Join(dev, n)
		if err := os.WriteFile(dst, nil, 0o666); err != nil {
			return err
		}
		// Read-only: the node stays usable, but the guest's root (a host
		// uid) cannot chmod, chown or touch the host's device inode.
		if err := bindDevice("/dev/"+n, dst); err != nil {
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
	return nil
}

// mountProc mounts the guest's own /proc (its PID namespace only) and
// makes the parts that reach the kernel read-only or empty, as container
// runtimes do: the guest's root holds capabilities over its namespaces.
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
		fd, err := volumeMount(m)
		if err != nil {
			for _, v := range out {
				unix.Close(v.fd)
			}
			return nil, volumeError{err}
		}
		out = append(out, volume{m, fd})
	}
	return out, nil
}

// volumeMount clones a volume's host directory as a detached mount:
// nosuid and nodev, as every host tree a guest sees (a setuid binary
// there runs without its privilege, and a host device node does not
// open), and read-only for :ro. Its error reads "HOST: REASON".
func volumeMount(m Mount) (int, error) {
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if m.ReadOnly {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	fd, err := detachedMount(m.Host, attr)
	if err != nil {
		return -1, fmt.Errorf("%s: %w", m.Host, errors.Unwrap(err))
	}
	return fd, nil
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
