//go:build linux

package guest

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// The bare guest's userland: what smolvm's bare VM has (docs/smolvm.md,
// "the bare guest"): the Alpine 3.19 minirootfs, i.e. a static busybox and
// its applets, plus the Alpine packages jq, e2fsprogs, e2fsprogs-extra,
// crun, util-linux, libcap and seatd. Nothing else of the host is visible.

// busyboxPackage is the Debian package that provides a static busybox.
const busyboxPackage = "busybox-static"

// busyboxCandidates are where a static busybox is looked for on the host.
var busyboxCandidates = []string{"/bin/busybox", "/usr/bin/busybox", "/usr/sbin/busybox", "/sbin/busybox"}

// How a command of the table reaches the guest.
const (
	fromHost = "host binary" // the host's binary and its shared libraries, bound read-only
	fromFake = "fake"        // the fake's own implementation (a shim that runs the fake binary)
)

// guestCommand is one command of an Alpine package in the bare guest.
type guestCommand struct {
	pkg  string // Alpine package that installs it
	path string // its path in an Alpine guest
	from string // fromHost or fromFake
	host string // fromHost: the host binary's name, looked up in hostBinDirs ("" = base of path)
}

// guestCommands is THE table of the bare guest's commands beyond busybox:
// which Alpine package installs each one, where, and how the fake provides
// it. A command whose host binary is missing is simply absent from the
// guest (as it would be without its package); docs/fake-differences.md
// ("Guest userland and images") lists the consequences. Alpine splits
// util-linux into one subpackage per command (runuser, setpriv, findmnt,
// ...) plus util-linux-misc, each installed automatically with util-linux
// (install_if), so they are all here, where util-linux installs them
// (prefix /usr).
var guestCommands = []guestCommand{
	{pkg: "jq", path: "/usr/bin/jq", from: fromHost},

	{pkg: "e2fsprogs", path: "/sbin/mke2fs", from: fromHost},
	{pkg: "e2fsprogs", path: "/sbin/mkfs.ext2", from: fromHost},
	{pkg: "e2fsprogs", path: "/sbin/mkfs.ext3", from: fromHost},
	{pkg: "e2fsprogs", path: "/sbin/mkfs.ext4", from: fromHost},
	{pkg: "e2fsprogs", path: "/sbin/e2fsck", from: fromHost},
	{pkg: "e2fsprogs", path: "/sbin/fsck.ext2", from: fromHost},
	{pkg: "e2fsprogs", path: "/sbin/fsck.ext3", from: fromHost},
	{pkg: "e2fsprogs", path: "/sbin/fsck.ext4", from: fromHost},
	{pkg: "e2fsprogs", path: "/sbin/tune2fs", from: fromHost},
	{pkg: "e2fsprogs", path: "/sbin/e2label", from: fromHost},
	{pkg: "e2fsprogs-extra", path: "/sbin/resize2fs", from: fromHost},
	{pkg: "e2fsprogs-extra", path: "/sbin/dumpe2fs", from: fromHost},
	{pkg: "e2fsprogs-extra", path: "/sbin/debugfs", from: fromHost},
	{pkg: "e2fsprogs-extra", path: "/sbin/e2freefrag", from: fromHost},
	{pkg: "e2fsprogs-extra", path: "/usr/sbin/filefrag", from: fromHost},
	{pkg: "e2fsprogs-extra", path: "/usr/bin/chattr", from: fromHost},
	{pkg: "e2fsprogs-extra", path: "/usr/bin/lsattr", from: fromHost},

	{pkg: "crun", path: "/usr/bin/crun", from: fromHost},

	{pkg: "util-linux (runuser)", path: "/usr/sbin/runuser", from: fromFake},
	{pkg: "util-linux (setpriv)", path: "/usr/bin/setpriv", from: fromHost},
	{pkg: "util-linux (findmnt)", path: "/usr/bin/findmnt", from: fromHost},
	{pkg: "util-linux (lsblk)", path: "/usr/bin/lsblk", from: fromHost},
	{pkg: "util-linux (blkid)", path: "/usr/sbin/blkid", from: fromHost},
	{pkg: "util-linux (losetup)", path: "/usr/sbin/losetup", from: fromHost},
	{pkg: "util-linux (flock)", path: "/usr/bin/flock", from: fromHost},
	{pkg: "util-linux (hexdump)", path: "/usr/bin/hexdump", from: fromHost},
	{pkg: "util-linux (logger)", path: "/usr/bin/logger", from: fromHost},
	{pkg: "util-linux (mcookie)", path: "/usr/bin/mcookie", from: fromHost},
	{pkg: "util-linux (wipefs)", path: "/usr/sbin/wipefs", from: fromHost},
	{pkg: "util-linux (sfdisk)", path: "/usr/sbin/sfdisk", from: fromHost},
	{pkg: "util-linux (fstrim)", path: "/usr/sbin/fstrim", from: fromHost},
	{pkg: "util-linux (uuidgen)", path: "/usr/bin/uuidgen", from: fromHost},
	{pkg: "util-linux (setarch)", path: "/usr/bin/setarch", from: fromHost},
	{pkg: "util-linux-misc", path: "/usr/bin/unshare", from: fromHost},
	{pkg: "util-linux-misc", path: "/usr/bin/nsenter", from: fromHost},
	{pkg: "util-linux-misc", path: "/usr/bin/lscpu", from: fromHost},
	{pkg: "util-linux-misc", path: "/usr/bin/lsns", from: fromHost},

	{pkg: "libcap", path: "/usr/sbin/capsh", from: fromHost},
	{pkg: "libcap", path: "/usr/sbin/getcap", from: fromHost},
	{pkg: "libcap", path: "/usr/sbin/setcap", from: fromHost},
	{pkg: "libcap", path: "/usr/sbin/getpcaps", from: fromHost},

	{pkg: "seatd", path: "/usr/bin/seatd", from: fromHost},
}

// hostBinDirs are searched, in order, for a fromHost command's binary.
var hostBinDirs = []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// hostLibDirs are where the host's dynamic linker finds libraries without
// its cache (the guest has none).
var hostLibDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
	"/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}

// findBusybox returns the host's static busybox, or an error naming the
// package to install.
func findBusybox() (string, error) {
	for _, p := range busyboxCandidates {
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if static, err := isStatic(p); err == nil && static {
			return p, nil
		}
	}
	return "", fmt.Errorf("no static busybox for the bare guest: install Debian's %s package (apt-get install %s), or set %s=1 to give bare guests the host's userland", busyboxPackage, busyboxPackage, HostUserlandEnv)
}

// isStatic reports whether an ELF executable needs no dynamic linker.
func isStatic(p string) (bool, error) {
	f, err := elf.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}

// hostBind is a host file and the guest path it is copied to.
type hostBind struct {
	host, guest string
}

// hostCommandBinds resolves the table's fromHost commands to the host files
// the guest needs: each binary at its Alpine path, and every shared library
// and dynamic linker they load at the path the linker looks in (the guest
// has no linker cache).
func hostCommandBinds() []hostBind {
	var out []hostBind
	libs := map[string]string{} // guest path -> host path
	for _, c := range guestCommands {
		if c.from != fromHost {
			continue
		}
		name := c.host
		if name == "" {
			name = filepath.Base(c.path)
		}
		var bin string
		for _, d := range hostBinDirs {
			p := filepath.Join(d, name)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				bin = p
				break
			}
		}
		if bin == "" {
			continue
		}
		if err := elfDeps(bin, libs); err != nil {
			continue // not an ELF executable this host can load: leave it out
		}
		out = append(out, hostBind{host: bin, guest: c.path})
	}
	paths := make([]string, 0, len(libs))
	for g := range libs {
		paths = append(paths, g)
	}
	sort.Strings(paths)
	for _, g := range paths {
		out = append(out, hostBind{host: libs[g], guest: g})
	}
	return out
}

// elfDeps adds the dynamic linker and the shared libraries (recursively)
// that bin loads to libs.
func elfDeps(bin string, libs map[string]string) error {
	f, err := elf.Open(bin)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type != elf.PT_INTERP {
			continue
		}
		raw := make([]byte, prog.Filesz)
		if _, err := prog.ReadAt(raw, 0); err != nil {
			return err
		}
		interp := strings.TrimRight(string(raw), "\x00")
		if _, err := os.Stat(interp); err != nil {
			return err
		}
		libs[interp] = interp
	}
	needed, err := f.ImportedLibraries()
	if err != nil {
		return err
	}
	for _, n := range needed {
		found := false
		for _, d := range hostLibDirs {
			p := filepath.Join(d, n)
			if _, err := os.Stat(p); err != nil {
				continue
			}
			found = true
			if _, ok := libs[p]; !ok {
				libs[p] = p
				if err := elfDeps(p, libs); err != nil {
					return err
				}
			}
			break
		}
		if !found {
			return fmt.Errorf("%s: library %s not found", bin, n)
		}
	}
	return nil
}

// hostCommandNames lists the table's commands this host can provide, by
// name.
func hostCommandNames() []string {
	var out []string
	have := map[string]bool{}
	for _, b := range hostCommandBinds() {
		have[b.guest] = true
	}
	for _, c := range guestCommands {
		if c.from == fromFake || have[c.path] {
			out = append(out, filepath.Base(c.path))
		}
	}
	return out
}

// busyboxApplets lists busybox's applets as install paths ("bin/ash",
// "usr/bin/awk"...), from the binary itself.
func busyboxApplets(busybox string) ([]string, error) {
	out, err := exec.Command(busybox, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list-full: %w", busybox, err)
	}
	var applets []string
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.Contains(l, "..") {
			applets = append(applets, l)
		}
	}
	return applets, nil
}

// readHostCommands reads, before pivot_root, the files a new busybox
// guest gets from the host: busybox as /bin/busybox, and each host command
// of the table with the libraries it loads. They are written into the
// guest's own tree afterwards (populateBusybox): real files there, as on
// a VM's disk, so no start after the first binds or resolves anything.
func readHostCommands(busybox string) ([]hostFile, error) {
	binds := append([]hostBind{{host: busybox, guest: "/bin/busybox"}}, hostCommandBinds()...)
	var out []hostFile
	for _, b := range binds {
		// Opened now, copied by the kernel later (sendfile): the agent
		// does not hold 16 MB of binaries in its memory.
		f, err := os.Open(b.host)
		if err != nil {
			closeHostFiles(out)
			return nil, fmt.Errorf("read %s: %w", b.host, err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			closeHostFiles(out)
			return nil, err
		}
		// No setuid or setgid bit reaches the guest's tree (mount and
		// umount are setuid on Debian).
		out = append(out, hostFile{path: b.guest, mode: fi.Mode().Perm(), src: f, size: fi.Size()})
	}
	return out, nil
}

func closeHostFiles(fs []hostFile) {
	for _, f := range fs {
		if f.src != nil {
			f.src.Close()
		}
	}
}

// writeFrom creates p with mode and fills it from src with sendfile.
func writeFrom(p string, mode fs.FileMode, src *os.File, size int64) error {
	dst, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	var off int64
	for off < size {
		n, err := unix.Sendfile(int(dst.Fd()), int(src.Fd()), &off, int(size-off))
		if err != nil {
			dst.Close()
			return fmt.Errorf("copy %s: %w", p, err)
		}
		if n == 0 {
			break
		}
	}
	if err := dst.Close(); err != nil {
		return err
	}
	return os.Chmod(p, mode)
}

// alpineDirs are the directories of an Alpine 3.19 minirootfs.
var alpineDirs = []struct {
	path string
	mode fs.FileMode
}{
	{"/bin", 0o755}, {"/sbin", 0o755}, {"/lib", 0o755}, {"/usr", 0o755}, {"/usr/bin", 0o755},
	{"/usr/sbin", 0o755}, {"/usr/lib", 0o755}, {"/usr/share", 0o755}, {"/etc/apk", 0o755},
	{"/lib/apk/db", 0o755}, {"/var/cache/apk", 0o755}, {"/var/lib", 0o755}, {"/var/empty", 0o555},
	{"/var/spool", 0o755}, {"/var/opt", 0o755}, {"/var/mail", 0o755}, {"/var/local", 0o755},
}

// apkScript is apk as it behaves when no repository can be reached: the
// fake has no Alpine mirror, so every command that needs the index fails
// the way apk-tools 2.14 does offline (one WARNING per repository, then
// the error), and the commands that read the local database answer from
// it (nothing installed beyond the base).
const apkScript = `#!/bin/sh
# apk-tools 2.14 without a reachable repository.
repos="https://dl-cdn.alpinelinux.org/alpine/v3.19/main https://dl-cdn.alpinelinux.org/alpine/v3.19/community"
arch=$(uname -m)
offline() {
	for r in $repos; do
		echo "fetch $r/$arch/APKINDEX.tar.gz" >&2
		echo "WARNING: updating and opening $r: temporary error (try again later)" >&2
	done
}
cmd=
while [ $# -gt 0 ]; do
	case "$1" in
	--version|-V) cmd=--version; shift; break ;;
	-*) shift ;;
	*) cmd=$1; shift; break ;;
	esac
done
while [ $# -gt 0 ]; do case "$1" in -*) shift ;; *) break ;; esac; done
case "$cmd" in
--version)
	echo "apk-tools 2.14.0, compiled for $arch." ;;
"")
	echo "apk-tools 2.14.0, compiled for $arch."
	echo "usage: apk [<OPTIONS>...] COMMAND [<ARGUMENTS>...]" >&2
	exit 1 ;;
add)
	offline
	echo "ERROR: unable to select packages:" >&2
	for p in "$@"; do
		echo "  $p (no such package):" >&2
		echo "    required by: world[$p]" >&2
	done
	exit 1 ;;
update|upgrade|fetch|search|info|fix|cache|dot|policy|list)
	offline
	echo "ERROR: unable to read database: No such file or directory" >&2
	exit 2 ;;
del)
	for p in "$@"; do echo "WARNING: $p is not installed" >&2; done
	exit 0 ;;
*)
	echo "apk-tools 2.14.0, compiled for $arch."
	echo "ERROR: unknown command: $cmd" >&2
	exit 1 ;;
esac
`

// runuserShim runs the fake's runuser (util-linux's, see guestCommands).
const runuserShim = "#!/bin/sh\nexec " + guestExe + " __runuser \"$@\"\n"

// populateBusybox lays out a new bare guest's Alpine tree (we are inside
// it now): directories, /bin/busybox and busybox's applets as links to it
// (as Alpine's busybox package installs them), the host commands of the
// table with their libraries, apk, and the fake-provided commands.
func populateBusybox(applets []string, files []hostFile) error {
	for _, d := range alpineDirs {
		if err := os.MkdirAll(d.path, d.mode); err != nil {
			return err
		}
	}
	defer closeHostFiles(files)
	for _, f := range files {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			return err
		}
		os.Remove(f.path)
		if err := writeFrom(f.path, f.mode, f.src, f.size); err != nil {
			return err
		}
	}
	own := map[string]bool{"/bin/busybox": true, "/sbin/apk": true}
	for _, c := range guestCommands {
		own[c.path] = true
	}
	made := map[string]bool{}
	for _, a := range applets {
		p := "/" + a
		if own[p] {
			continue
		}
		if d := filepath.Dir(p); !made[d] {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
			made[d] = true
		}
		if err := os.Symlink("/bin/busybox", p); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	scripts := []struct {
		path, data string
		mode       fs.FileMode
	}{
		{"/sbin/apk", apkScript, 0o755},
		{"/etc/apk/repositories", "https://dl-cdn.alpinelinux.org/alpine/v3.19/main\nhttps://dl-cdn.alpinelinux.org/alpine/v3.19/community\n", 0o644},
		{"/etc/apk/world", "alpine-baselayout\nalpine-keys\napk-tools\nbusybox\nbusybox-binsh\ncrun\ne2fsprogs\ne2fsprogs-extra\njq\nlibc-utils\nlibcap\nmusl-utils\nseatd\nutil-linux\n", 0o644},
		{"/etc/shells", "# valid login shells\n/bin/sh\n/bin/ash\n", 0o644},
	}
	for _, c := range guestCommands {
		if c.from == fromFake && filepath.Base(c.path) == "runuser" {
			scripts = append(scripts, struct {
				path, data string
				mode       fs.FileMode
			}{c.path, runuserShim, 0o755})
		}
	}
	for _, f := range scripts {
		os.Remove(f.path)
		if err := os.WriteFile(f.path, []byte(f.data), f.mode); err != nil {
			return err
		}
	}
	return nil
}

func addBusybox(rootfs string) error {
	busybox, err := findBusybox()
	if err != nil {
		return err
	}
	applets, err := busyboxApplets(busybox)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		return err
	}
	bin := filepath.Join(rootfs, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(bin, "busybox"), data, 0o755); err != nil {
		return err
	}
	for _, a := range applets {
		p := filepath.Join(rootfs, a)
		if _, err := os.Lstat(p); err == nil {
			continue // the skeleton's own file wins
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.Symlink("/bin/busybox", p); err != nil {
			return err
		}
	}
	return nil
}
