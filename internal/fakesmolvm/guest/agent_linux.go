//go:build linux

package guest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Files in a machine's data dir.
const (
	fileSock    = "agent.sock"
	filePid     = "agent.pid"
	fileConsole = "agent-console.log"
	fileConfig  = "agent.json"
	fileReady   = "guest.ready" // the guest tree has been populated (first start done)
	dirRootfs   = "rootfs"      // the guest's own tree: /etc, /root, /home, /workspace, /var...
	dirUsrLocal = "usrlocal"    // the guest's /usr/local, mounted over the read-only host /usr
)

// Paths inside the guest that the agent sets up.
const (
	guestExeDir  = "/dev/.smolvm"          // tmpfs, recreated each start
	guestExe     = guestExeDir + "/smolvm" // the fake binary, bind-mounted read-only
	guestImage   = guestExeDir + "/image"  // image rootfs, mounted during the first start only
	guestRunuser = "/usr/local/sbin/runuser"
	guestPATH    = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// imageConfig is ImageDir/config.json.
type imageConfig struct {
	Env     []string `json:"env"`
	Workdir string   `json:"workdir"`
	User    string   `json:"user"`
}

// agent is the state of a running machine agent (PID 1 of the guest).
type agent struct {
	cfg     Config
	image   imageConfig
	hostPID int
	ln      *net.UnixListener
	watch   *os.File // agent.pid, open: its link count drops to 0 when the data dir is removed
	reaper  reaper
}

func agentMain(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: __agent DATADIR")
		return 2
	}
	// fd 3 is the readiness pipe from Start, fd 4 maybe the owner's pidfd.
	// Neither may reach a guest process, and nor may anything the CLI
	// inherited from whoever ran it (a pipe of the host's shell...).
	unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	ready := os.NewFile(3, "ready")
	if os.Getenv(ownerFDEnv) == "4" {
		go watchOwner(4)
	}
	a, err := setupAgent(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "agent: %v\n", err)
		if ready != nil {
			var ve volumeError
			if errors.As(err, &ve) {
				fmt.Fprintf(ready, "fail: %v\n", err)
			} else {
				fmt.Fprintf(ready, "error: %v\n", err)
			}
		}
		return 1
	}
	if ready != nil {
		fmt.Fprintf(ready, "ok %d\n", a.hostPID)
		ready.Close()
	}
	a.serve()
	return 0
}

// setupAgent builds the guest: mounts, pivot_root, first-start population,
// capability drop. Every write into the guest tree happens after pivot_root,
// so no path the guest controls (a symlink left in its tree) can make the
// agent touch a host file.
func setupAgent(dataDir string) (*agent, error) {
	a := &agent{reaper: reaper{waiters: map[int]chan unix.WaitStatus{}}}
	raw, err := os.ReadFile(filepath.Join(dataDir, fileConfig))
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if err := json.Unmarshal(raw, &a.cfg); err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	a.cfg.DataDir = dataDir
	if a.cfg.ImageDir != "" {
		if raw, err := os.ReadFile(filepath.Join(a.cfg.ImageDir, "config.json")); err == nil {
			if err := json.Unmarshal(raw, &a.image); err != nil {
				return nil, fmt.Errorf("parse image config: %w", err)
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read image config: %w", err)
		}
	}
	// /proc is still the host's: "self" names our host PID.
	self, err := os.Readlink("/proc/self")
	if err != nil {
		return nil, fmt.Errorf("host pid: %w", err)
	}
	a.hostPID, _ = strconv.Atoi(self)

	// Signals a guest may send to its PID 1 must not kill the agent by a
	// default action; the host stops it with SIGKILL. They are caught and
	// dropped rather than ignored: an ignored signal would stay ignored in
	// every guest process across exec.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		for range sigs {
		}
	}()

	first := true
	if _, err := os.Stat(filepath.Join(dataDir, fileReady)); err == nil {
		first = false
	}
	var hostFiles []hostFile
	if first {
		hostFiles = readHostEtc()
	}

	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return nil, fmt.Errorf("make mounts private: %w", err)
	}
	root := filepath.Join(dataDir, dirRootfs)
	usrLocal := filepath.Join(dataDir, dirUsrLocal)
	for _, d := range []string{root, usrLocal} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := mountTree(root, usrLocal, a.cfg, first); err != nil {
		return nil, err
	}
	if err := unix.Sethostname([]byte(a.cfg.Name)); err != nil {
		return nil, fmt.Errorf("sethostname: %w", err)
	}
	if !a.cfg.Network {
		if err := loopbackUp(); err != nil {
			return nil, fmt.Errorf("loopback: %w", err)
		}
	}

	// Host-side files: the socket, and agent.pid kept open as the data
	// dir's liveness probe. Neither is a directory, so /proc/1/fd/N can
	// never be walked into the host tree.
	if a.ln, err = listenIn(dataDir); err != nil {
		return nil, err
	}
	if a.watch, err = writePid(dataDir, a.hostPID); err != nil {
		return nil, err
	}

	// Volumes (-v) are cloned as detached mounts now and attached after
	// pivot_root, so the guest paths they land on resolve inside the guest.
	vols, err := openVolumes(a.cfg.Mounts)
	if err != nil {
		return nil, err
	}
	if err := pivot(root); err != nil {
		return nil, err
	}
	if first {
		if err := populate(a.cfg, a.image, hostFiles); err != nil {
			return nil, fmt.Errorf("populate guest: %w", err)
		}
	}
	if err := attachVolumes(vols); err != nil {
		return nil, err
	}
	if err := os.WriteFile(guestRunuser, []byte("#!/bin/sh\nexec "+guestExe+" __runuser \"$@\"\n"), 0o755); err != nil {
		return nil, fmt.Errorf("install runuser: %w", err)
	}
	if err := a.dropPrivileges(); err != nil {
		return nil, err
	}
	return a, nil
}

// serve runs until the machine is stopped (SIGKILL) or its data dir is
// removed.
func (a *agent) serve() {
	go a.reaper.loop()
	go a.watchDataDir()
	for {
		c, err := a.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				os.Exit(0)
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go a.handle(c)
	}
}

// ownerFDEnv tells the agent that fd 4 is its owner's pidfd.
const ownerFDEnv = "FAKE_SMOLVM_OWNER_FD"

// watchOwner ends the agent once the owner process (OwnerPIDEnv) is gone.
func watchOwner(fd int) {
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, -1)
		if err == unix.EINTR {
			continue
		}
		if n == 1 || err != nil {
			fmt.Fprintln(os.Stderr, "agent: owner process ended, shutting down")
			os.Exit(0)
		}
	}
}

// watchDataDir ends the agent, and with it the whole guest, once its data
// dir is gone (a deleted test work dir): a missed stop cannot leak forever.
func (a *agent) watchDataDir() {
	for range time.Tick(time.Second) {
		var st unix.Stat_t
		if err := unix.Fstat(int(a.watch.Fd()), &st); err != nil || st.Nlink == 0 {
			fmt.Fprintln(os.Stderr, "agent: data dir removed, shutting down")
			os.Exit(0)
		}
	}
}

func (a *agent) handle(c *net.UnixConn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 64<<10)
	fw := &frameWriter{w: c}
	typ, p, err := readFrame(br)
	if err != nil || typ != frameRequest {
		return
	}
	var req request
	if err := json.Unmarshal(p, &req); err != nil {
		fw.writeString(frameError, "agent operation failed: request: "+err.Error())
		return
	}
	switch req.Op {
	case "ping":
		fw.writeString(frameOK, strconv.Itoa(a.hostPID))
	case "exec":
		if req.Exec == nil {
			fw.writeString(frameError, "agent operation failed: request: missing exec")
			return
		}
		a.exec(br, fw, req.Exec)
	case "upload":
		a.upload(br, fw, &req)
	case "download":
		a.download(fw, &req)
	default:
		fw.writeString(frameError, "agent operation failed: request: unknown op "+strconv.Quote(req.Op))
	}
}

// ---- mounts ----

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

// ---- first start ----

type hostFile struct {
	path   string // under /etc
	mode   fs.FileMode
	data   []byte
	link   string // symlink target
	isLink bool
	isDir  bool
}

// hostEtc lists what real programs need from the host /etc: the dynamic
// linker's cache, name service config, TLS roots. (/etc/alternatives is
// bind-mounted instead.)
var hostEtc = []string{
	"ld.so.cache", "ld.so.conf", "ld.so.conf.d", "nsswitch.conf", "host.conf",
	"resolv.conf", "localtime", "protocols", "services",
	"ssl/certs/ca-certificates.crt", "ssl/openssl.cnf", "shells", "mime.types",
}

// readHostEtc reads the host files before pivot_root; they are written
// into the guest afterwards.
func readHostEtc() []hostFile {
	var out []hostFile
	for _, rel := range hostEtc {
		filepath.WalkDir(filepath.Join("/etc", rel), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			f := hostFile{path: p}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			f.mode = info.Mode().Perm()
			switch {
			case d.Type()&fs.ModeSymlink != 0:
				f.isLink = true
				f.link, _ = os.Readlink(p)
			case d.IsDir():
				f.isDir = true
			case d.Type().IsRegular():
				if f.data, err = os.ReadFile(p); err != nil {
					return nil
				}
			default:
				return nil
			}
			out = append(out, f)
			return nil
		})
	}
	return out
}

const osRelease = `NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.21.3
PRETTY_NAME="Alpine Linux v3.21"
HOME_URL="https://alpinelinux.org/"
BUG_REPORT_URL="https://gitlab.alpinelinux.org/alpine/aports/-/issues"
`

// populate lays out a new guest tree (we are inside it now).
func populate(cfg Config, img imageConfig, hostFiles []hostFile) error {
	for _, d := range []struct {
		path string
		mode fs.FileMode
	}{
		{"/etc", 0o755}, {"/root", 0o700}, {"/home", 0o755}, {"/workspace", 0o755},
		{"/var", 0o755}, {"/var/tmp", 0o1777}, {"/var/log", 0o755}, {"/var/cache", 0o755},
		{"/opt", 0o755}, {"/mnt", 0o755}, {"/srv", 0o755}, {"/media", 0o755}, {"/sys", 0o555},
		{"/usr/local/bin", 0o755}, {"/usr/local/sbin", 0o755}, {"/usr/local/lib", 0o755},
		{"/usr/local/share", 0o755}, {"/usr/local/etc", 0o755}, {"/usr/local/include", 0o755},
	} {
		if err := os.MkdirAll(d.path, d.mode); err != nil {
			return err
		}
		os.Chmod(d.path, d.mode)
	}
	for _, f := range hostFiles {
		var err error
		switch {
		case f.isDir:
			err = os.MkdirAll(f.path, 0o755)
		case f.isLink:
			os.MkdirAll(filepath.Dir(f.path), 0o755)
			err = os.Symlink(f.link, f.path)
		default:
			os.MkdirAll(filepath.Dir(f.path), 0o755)
			err = os.WriteFile(f.path, f.data, f.mode)
		}
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	files := map[string]string{
		"/etc/os-release":     osRelease,
		"/etc/alpine-release": "3.21.3\n",
		"/etc/passwd":         "root:x:0:0:root:/root:/bin/sh\n",
		"/etc/group":          "root:x:0:root\n",
		"/etc/hostname":       cfg.Name + "\n",
		"/etc/hosts":          "127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\t" + cfg.Name + "\n",
	}
	for p, s := range files {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			return err
		}
	}
	if _, err := os.Stat(guestImage); err == nil {
		copyImage(guestImage)
		if err := unix.Unmount(guestImage, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount image: %w", err)
		}
	}
	return makeUserHome(img.User)
}

// makeUserHome gives a non-root image user its home directory, as useradd
// -m would: image trees made by test harnesses are usually owned by root.
func makeUserHome(name string) error {
	if name == "" || name == "root" || name == "0" {
		return nil
	}
	u, err := lookupUser(name)
	if err != nil || u.uid == 0 || u.home == "" || u.home == "/" {
		return nil
	}
	if err := os.MkdirAll(u.home, 0o755); err != nil {
		return nil
	}
	var st unix.Stat_t
	if unix.Lstat(u.home, &st) == nil && st.Uid == 0 && st.Mode&unix.S_IFMT == unix.S_IFDIR {
		os.Lchown(u.home, u.uid, u.gid)
	}
	return nil
}

// copyImage lays the image tree over the guest. Paths that land on the
// read-only host system directories are skipped (logged).
func copyImage(src string) {
	filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == src {
			return nil
		}
		dst := "/" + strings.TrimPrefix(p, src+"/")
		info, err := d.Info()
		if err != nil {
			return nil
		}
		st, _ := info.Sys().(*syscall.Stat_t)
		switch {
		case d.IsDir():
			if fi, err := os.Lstat(dst); err != nil || !fi.IsDir() {
				os.Remove(dst)
				err = os.Mkdir(dst, info.Mode().Perm())
				if err != nil {
					fmt.Fprintf(os.Stderr, "agent: image: %v\n", err)
					return fs.SkipDir
				}
			}
			os.Chmod(dst, info.Mode().Perm()|info.Mode()&fs.ModeSticky)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return nil
			}
			os.Remove(dst)
			if err := os.Symlink(target, dst); err != nil {
				fmt.Fprintf(os.Stderr, "agent: image: %v\n", err)
			}
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			os.Remove(dst)
			if err := os.WriteFile(dst, data, info.Mode().Perm()); err != nil {
				fmt.Fprintf(os.Stderr, "agent: image: %v\n", err)
				return nil
			}
			os.Chmod(dst, info.Mode().Perm())
		default:
			return nil
		}
		if st != nil {
			os.Lchown(dst, int(st.Uid), int(st.Gid))
		}
		return nil
	})
}

// keptCaps are what guest processes may still hold (a container runtime's
// usual default set): enough for root to own, chmod and chown files in its
// tree and to switch users, but no mount, mknod, ptrace, module, raw I/O or
// namespace administration.
var keptCaps = map[int]bool{
	unix.CAP_CHOWN: true, unix.CAP_DAC_OVERRIDE: true, unix.CAP_FOWNER: true,
	unix.CAP_FSETID: true, unix.CAP_KILL: true, unix.CAP_SETGID: true,
	unix.CAP_SETUID: true, unix.CAP_SETPCAP: true, unix.CAP_NET_BIND_SERVICE: true,
	unix.CAP_NET_RAW: true, unix.CAP_SYS_CHROOT: true, unix.CAP_AUDIT_WRITE: true,
	unix.CAP_SETFCAP: true,
}

// dropBoundingSet shrinks the capability bounding set of the calling
// thread. The bounding set is per thread, and a child inherits the one of
// the thread that forked it; so this runs on the spawner's locked thread,
// the only thread that forks guest processes.
func dropBoundingSet() error {
	last := unix.CAP_LAST_CAP
	if raw, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil {
			last = n
		}
	}
	for c := 0; c <= last; c++ {
		if keptCaps[c] {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("drop capability %d: %w", c, err)
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

// ---- process reaping ----

// reaper is the only caller of wait4 in the agent: as PID 1 it must reap
// orphans, so it reaps everything and hands exit statuses to the exec that
// spawned each process.
type reaper struct {
	mu      sync.Mutex
	waiters map[int]chan unix.WaitStatus
	spawns  chan spawnReq
}

func (r *reaper) loop() {
	ch := make(chan os.Signal, 64)
	signal.Notify(ch, syscall.SIGCHLD)
	r.reap()
	for range ch {
		r.reap()
	}
}

func (r *reaper) reap() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
		if c, ok := r.waiters[pid]; ok {
			c <- ws
			delete(r.waiters, pid)
		}
	}
}

type spawnReq struct {
	argv0 string
	argv  []string
	attr  *syscall.ProcAttr
	wait  bool
	reply chan spawnResult
}

type spawnResult struct {
	pid    int
	exited <-chan unix.WaitStatus
	err    error
}

// spawner forks every guest process from one locked OS thread whose
// bounding set is reduced. It never returns, so the thread is never reused.
func (r *reaper) spawner(errc chan<- error) {
	runtime.LockOSThread()
	if err := dropBoundingSet(); err != nil {
		errc <- err
		return
	}
	errc <- nil
	for q := range r.spawns {
		var res spawnResult
		res.pid, res.exited, res.err = r.forkExec(q.argv0, q.argv, q.attr, q.wait)
		q.reply <- res
	}
}

// spawn starts a process (on the spawner thread) and, if wait, registers
// for its exit status.
func (r *reaper) spawn(argv0 string, argv []string, attr *syscall.ProcAttr, wait bool) (int, <-chan unix.WaitStatus, error) {
	q := spawnReq{argv0, argv, attr, wait, make(chan spawnResult, 1)}
	r.spawns <- q
	res := <-q.reply
	return res.pid, res.exited, res.err
}

// forkExec holds mu across ForkExec so the reaper cannot steal a failed
// child that ForkExec reaps itself.
func (r *reaper) forkExec(argv0 string, argv []string, attr *syscall.ProcAttr, wait bool) (int, <-chan unix.WaitStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := syscall.ForkExec(argv0, argv, attr)
	if err != nil {
		return 0, nil, err
	}
	if !wait {
		return pid, nil, nil
	}
	c := make(chan unix.WaitStatus, 1)
	r.waiters[pid] = c
	return pid, c, nil
}
