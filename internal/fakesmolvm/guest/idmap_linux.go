//go:build linux

package guest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The guest's ids, both sides: which host ids the guest's user namespace
// maps to, the data dir's guest-owned directories, the mounts the client
// hands a remapped agent, and the agent becoming the guest's root.

// guestIDs is how many ids a guest has when the host can give it a range.
const guestIDs = 65536

// idShift is the host id of the guest's root when the fake runs as root:
// guest ids 0-65535 are host ids 100000-165535 (the range Docker's
// userns-remap and rootless containers use by convention), so no guest id
// is a host id that owns anything, and a file the guest creates in its tree
// or a volume belongs to that range on the host.
const idShift = 100000

// shiftEnv tells the agent its guest ids are shifted by idShift: it starts
// as host root (an id its user namespace does not map) and becomes the
// guest's root once it holds everything it needs of the host.
const shiftEnv = "FAKE_SMOLVM_AGENT_SHIFT"

// idMap is a guest's user namespace, decided by the host.
type idMap struct {
	uids, gids []syscall.SysProcIDMap
	setgroups  bool
	shift      int // host id of guest id 0 when the guest has 65536 ids, else 0
}

// guestIDMap decides the guest's user namespace:
//   - as root, with host ids idShift.. in our own user namespace: guest ids
//     0-65535 are host idShift-idShift+65535 (remapped);
//   - as root of a user namespace that lacks that range but has ids 0-65535
//     (a rootless container's root, itself an unprivileged host user):
//     guest ids 0-65535 are this namespace's 0-65535;
//   - otherwise the caller is the guest's root and its only id.
func guestIDMap() idMap {
	if os.Geteuid() == 0 {
		for _, base := range []int{idShift, 0} {
			if mapsRange("/proc/self/uid_map", base) && mapsRange("/proc/self/gid_map", base) {
				m := []syscall.SysProcIDMap{{ContainerID: 0, HostID: base, Size: guestIDs}}
				return idMap{uids: m, gids: m, setgroups: true, shift: base}
			}
		}
	}
	return idMap{
		uids: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
		gids: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}},
	}
}

func idShiftHere() int { return guestIDMap().shift }

// fullRange reports whether the guest gets 65536 ids.
func (m idMap) fullRange() bool { return m.uids[0].Size == guestIDs }

// remapped reports whether the guest's ids are shifted away from ours.
func (m idMap) remapped() bool { return m.shift != 0 }

// mapsRange reports whether an id map has ids base..base+guestIDs-1 in one
// extent.
func mapsRange(p string, base int) bool {
	raw, err := os.ReadFile(p)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		in, err1 := strconv.ParseUint(f[0], 10, 64)
		n, err2 := strconv.ParseUint(f[2], 10, 64)
		if err1 == nil && err2 == nil && in <= uint64(base) && uint64(base)+guestIDs <= in+n {
			return true
		}
	}
	return false
}

// Directories of the data dir the guest's tree lives in: made by the
// client, which can give them to the guest's root; the agent only uses
// them (and, remapped, could not create them in a data dir owned by
// host root).
var (
	guestOwnedDirs = []string{dirRootfs, dirUpper, dirWork, dirUsrLocal}
	agentOnlyDirs  = []string{dirLower, dirMerged}
)

// prepareDataDir makes the guest's directories in dataDir. Remapped, the
// writable ones belong to the guest's root; a tree made before (owned by
// host root) is shifted once, so its files keep their guest owners.
func prepareDataDir(dataDir string, m idMap) error {
	for _, d := range append(append([]string{}, agentOnlyDirs...), guestOwnedDirs...) {
		if err := os.Mkdir(filepath.Join(dataDir, d), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	if !m.remapped() {
		return nil
	}
	// The guest's tree is uid 100000's on the host, setuid files an image
	// brings or guest root copies up included: no other host user may
	// reach it. Host root owns the data dir, and only the guest's root
	// group may search it besides (the agent, once guest root, names
	// everything relative to it).
	if err := os.Chown(dataDir, 0, m.shift); err != nil {
		return err
	}
	if err := os.Chmod(dataDir, 0o710); err != nil {
		return err
	}
	for _, d := range guestOwnedDirs {
		p := filepath.Join(dataDir, d)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		// Only a directory of an unshifted id (new, or made before) is
		// shifted: the guest may chown its own root to any guest id, but
		// never to one below the range.
		if st.Uid >= guestIDs {
			continue
		}
		if err := shiftTree(p, m.shift); err != nil {
			return fmt.Errorf("give %s to the guest: %w", d, err)
		}
	}
	return nil
}

// shiftID moves a guest id (below guestIDs) up by shift; other ids stay.
func shiftID(id uint32, shift int) int {
	if id < guestIDs {
		return int(id) + shift
	}
	return int(id)
}

// shiftTree moves every owner id below guestIDs in the tree at root up by
// shift (symlinks themselves, never followed).
func shiftTree(root string, shift int) error {
	return filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		uid, gid := shiftID(st.Uid, shift), shiftID(st.Gid, shift)
		return unix.Lchown(p, uid, gid)
	})
}

// reachableByAgent checks that a remapped agent, which starts as host
// root but without root's override of permissions (its capabilities hold
// in its own namespace only), can walk down to p, and execute p when exe:
// every directory on the way must be searchable by host root as its
// owner, through one of our groups, or as anybody. Its error names the
// first directory that is not.
func reachableByAgent(p string, exe bool) error {
	groups, _ := os.Getgroups()
	groups = append(groups, os.Getegid())
	allowed := func(st *unix.Stat_t, bit uint32) bool {
		switch {
		case st.Uid == 0:
			return st.Mode&(bit<<6) != 0
		case slices.Contains(groups, int(st.Gid)):
			return st.Mode&(bit<<3) != 0
		default:
			return st.Mode&bit != 0
		}
	}
	p = filepath.Clean(p)
	dirs := []string{}
	for d := filepath.Dir(p); ; d = filepath.Dir(d) {
		dirs = append(dirs, d)
		if d == "/" || d == "." {
			break
		}
	}
	if !exe {
		dirs = append([]string{p}, dirs...)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		var st unix.Stat_t
		if err := unix.Stat(dirs[i], &st); err != nil {
			return err
		}
		if !allowed(&st, 1) {
			return fmt.Errorf("%s (owner %d, group %d, mode %04o) cannot be searched by a guest's agent, which starts as host root without root's override of permissions (guest ids are shifted: smolvm fake doctor); let others search it (chmod o+x) or use a data dir elsewhere (SMOLVM_DATA_DIR)", dirs[i], st.Uid, st.Gid, st.Mode&0o7777)
		}
	}
	if exe {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			return err
		}
		if !allowed(&st, 1) {
			return fmt.Errorf("%s (owner %d, group %d, mode %04o) cannot be executed by a guest's agent, which starts as host root without root's override of permissions (guest ids are shifted: smolvm fake doctor); let others execute it (chmod o+x)", p, st.Uid, st.Gid, st.Mode&0o7777)
		}
	}
	return nil
}

// hostMounts is what the client hands a remapped agent on fdMounts: the
// mounts that need host privilege to make, as detached mount descriptors.
type hostMounts struct {
	Lower   bool `json:"lower"`   // first descriptor: the image's rootfs, id-mapped and read-only
	Volumes int  `json:"volumes"` // then one per Config.Mounts entry, in order
}

// sendHostMounts makes the remapped agent's mounts and sends them: the
// image's rootfs id-mapped through the agent's user namespace (its files
// keep the owners the image gives them, as guest ids) and each volume as
// a detached clone (volumeMount). Volumes are not id-mapped: the
// guest sees and writes them with its shifted ids, so a file guest root
// creates in one belongs to the shifted range, and a host directory only
// host root may write stays unwritable to the guest.
func sendHostMounts(sock *os.File, agentPID int, cfg Config) error {
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	msg := hostMounts{Volumes: len(cfg.Mounts)}
	if cfg.ImageDir != "" {
		fd, err := imageMount(agentPID, cfg)
		if err != nil {
			return err
		}
		fds = append(fds, fd)
		msg.Lower = true
	}
	for _, v := range cfg.Mounts {
		fd, err := volumeMount(v)
		if err != nil {
			return fmt.Errorf("mount operation failed: mount volume: %w", err)
		}
		fds = append(fds, fd)
	}
	raw, _ := json.Marshal(msg)
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if err := unix.Sendmsg(int(sock.Fd()), raw, oob, nil, 0); err != nil {
		return fmt.Errorf("agent operation failed: start: hand mounts to the agent: %w", err)
	}
	return nil
}

// imageMount makes a remapped guest's lower layer: the image's rootfs
// id-mapped through the agent's user namespace, or, where its filesystem
// cannot be id-mapped (overlayfs, as a container's root is; network and
// FUSE filesystems), the machine's own copy of it with shifted owners
// (DATADIR/image, made on the first start and kept until delete).
func imageMount(agentPID int, cfg Config) (int, error) {
	rootfs := filepath.Join(cfg.ImageDir, "rootfs")
	ns, err := os.Open("/proc/" + strconv.Itoa(agentPID) + "/ns/user")
	if err != nil {
		return -1, fmt.Errorf("%w: guest setup failed: user namespace: %v", ErrUnsupported, err)
	}
	defer ns.Close()
	fd, err := detachedMount(rootfs, &unix.MountAttr{
		Attr_set:  unix.MOUNT_ATTR_IDMAP | unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NODEV,
		Userns_fd: uint64(ns.Fd()),
	})
	if err == nil {
		return fd, nil
	}
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EOPNOTSUPP) {
		return -1, fmt.Errorf("%w: guest setup failed: image mount: %v", ErrUnsupported, err)
	}
	copied := filepath.Join(cfg.DataDir, dirImageCopy)
	if _, err := os.Lstat(copied); err != nil {
		tmp := copied + ".tmp"
		os.RemoveAll(tmp)
		if err := copyShifted(rootfs, tmp, idShift); err != nil {
			os.RemoveAll(tmp)
			return -1, fmt.Errorf("agent operation failed: start: copy the image for shifted ids: %w", err)
		}
		if err := os.Rename(tmp, copied); err != nil {
			return -1, fmt.Errorf("agent operation failed: start: %w", err)
		}
	}
	fd, err = detachedMount(copied, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NODEV})
	if err != nil {
		return -1, fmt.Errorf("%w: guest setup failed: image mount: %v", ErrUnsupported, err)
	}
	return fd, nil
}

// copyShifted copies the tree at src to dst (which must not exist) with
// every owner id below guestIDs shifted by shift: files, directories,
// symlinks, hard links (kept as links), fifos; modes, setuid and setgid
// bits and modification times kept. Device nodes are left out (the
// guest's tree is nodev).
func copyShifted(src, dst string, shift int) error {
	type inode struct{ dev, ino uint64 }
	links := map[inode]string{}
	var dirs []string
	var dirTimes []unix.Timespec
	err := filepath.WalkDir(src, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		uid, gid := shiftID(st.Uid, shift), shiftID(st.Gid, shift)
		mode := st.Mode & 0o7777
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			if err := os.Mkdir(out, 0o700); err != nil {
				return err
			}
			dirs = append(dirs, out)
			dirTimes = append(dirTimes, st.Mtim)
		case unix.S_IFREG:
			if st.Nlink > 1 {
				key := inode{st.Dev, st.Ino}
				if first, ok := links[key]; ok {
					return os.Link(first, out)
				}
				links[key] = out
			}
			if err := copyRegular(p, out); err != nil {
				return err
			}
		case unix.S_IFLNK:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, out); err != nil {
				return err
			}
			return unix.Lchown(out, uid, gid)
		case unix.S_IFIFO:
			if err := unix.Mkfifo(out, 0o600); err != nil {
				return err
			}
		default:
			return nil
		}
		if err := unix.Lchown(out, uid, gid); err != nil {
			return err
		}
		// chmod after chown, which clears setuid and setgid.
		if err := unix.Chmod(out, mode); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return unix.UtimesNanoAt(unix.AT_FDCWD, out, []unix.Timespec{st.Atim, st.Mtim}, unix.AT_SYMLINK_NOFOLLOW)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Directory times last: filling a directory changes its mtime.
	for i := len(dirs) - 1; i >= 0; i-- {
		unix.UtimesNanoAt(unix.AT_FDCWD, dirs[i], []unix.Timespec{dirTimes[i], dirTimes[i]}, unix.AT_SYMLINK_NOFOLLOW)
	}
	return nil
}

func copyRegular(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	return writeFrom(dst, 0o600, in, fi.Size())
}

// detachedMount clones the tree at p (submounts included) as a detached
// mount with attr applied.
func detachedMount(p string, attr *unix.MountAttr) (int, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, p, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return -1, fmt.Errorf("open_tree: %w", err)
	}
	if attr.Attr_set != 0 {
		if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("mount_setattr: %w", err)
		}
	}
	return fd, nil
}

// receiveHostMounts is the agent's side of sendHostMounts: the image's
// rootfs (-1 when none) and the volumes, detached.
func receiveHostMounts(fd int, cfg Config) (lower int, vols []volume, err error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*(len(cfg.Mounts)+1)))
	n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
	unix.Close(fd)
	if err != nil {
		return -1, nil, fmt.Errorf("receive mounts: %w", err)
	}
	var fds []int
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return -1, nil, fmt.Errorf("receive mounts: %w", err)
		}
		for _, m := range msgs {
			got, err := unix.ParseUnixRights(&m)
			if err != nil {
				return -1, nil, fmt.Errorf("receive mounts: %w", err)
			}
			fds = append(fds, got...)
		}
	}
	var msg hostMounts
	want := -1
	if n > 0 && json.Unmarshal(buf[:n], &msg) == nil && msg.Volumes == len(cfg.Mounts) {
		want = msg.Volumes
		if msg.Lower {
			want++
		}
	}
	if want != len(fds) || (msg.Lower != (cfg.ImageDir != "")) {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return -1, nil, fmt.Errorf("receive mounts: got %d descriptors and %q", len(fds), buf[:n])
	}
	lower = -1
	if msg.Lower {
		lower, fds = fds[0], fds[1:]
	}
	for i, m := range cfg.Mounts {
		vols = append(vols, volume{m, fds[i]})
	}
	return lower, vols, nil
}

// becomeGuestRoot makes every thread of a remapped agent the guest's root
// (host id idShift). Until now it ran as host root, an id its user
// namespace does not map, to reach what the client left it in the data
// dir; from now on it reaches the host only through what it holds open,
// and everything it creates in the guest's tree is the guest root's. Its
// capabilities (held in the user namespace only) stay: root of the
// namespace keeps its permitted set.
func becomeGuestRoot() error {
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("become guest root: setgroups: %w", err)
	}
	if err := syscall.Setresgid(0, 0, 0); err != nil {
		return fmt.Errorf("become guest root: setresgid: %w", err)
	}
	if err := syscall.Setresuid(0, 0, 0); err != nil {
		return fmt.Errorf("become guest root: setresuid: %w", err)
	}
	return nil
}

// allCaps lists every capability this kernel has: a remapped agent starts
// as an id its user namespace does not map, so it keeps its capabilities
// across exec only as ambient ones.
func allCaps() []uintptr {
	last := lastCap()
	caps := make([]uintptr, 0, last+1)
	for c := 0; c <= last; c++ {
		caps = append(caps, uintptr(c))
	}
	return caps
}

// clearInheritedCaps empties the calling thread's ambient and inheritable
// capability sets (the spawner's: a remapped agent got all of them to
// survive its own exec, and a guest process must not inherit them: an
// ambient capability survives exec for any user).
func clearInheritedCaps() error {
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && err != unix.EINVAL {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("clear inheritable capabilities: %w", err)
	}
	return nil
}
