//go:build linux

package guest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// The first start: the guest's /etc, the image laid over the tree.

type hostFile struct {
	path   string // its path in the guest (under /etc, or a host command's)
	mode   fs.FileMode
	data   []byte
	src    *os.File // instead of data: the open host file, size bytes
	size   int64
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

// readHostEtc reads what a host-userland guest takes from the host /etc.
func readHostEtc() []hostFile { return readHostFiles(hostEtc) }

// bareHostEtc lists what a busybox guest takes from the host /etc: what an
// Alpine minirootfs has too (TLS roots, the time zone), and the resolver
// configuration when the machine has a network.
func bareHostEtc(cfg Config) []string {
	l := []string{"ssl/certs/ca-certificates.crt", "localtime"}
	if cfg.Network {
		l = append(l, "resolv.conf")
	}
	return l
}

// readHostFiles reads host files under /etc before pivot_root; they are
// written into the guest afterwards.
func readHostFiles(rels []string) []hostFile {
	var out []hostFile
	for _, rel := range rels {
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
VERSION_ID=3.19.0
PRETTY_NAME="Alpine Linux v3.19"
HOME_URL="https://alpinelinux.org/"
BUG_REPORT_URL="https://gitlab.alpinelinux.org/alpine/aports/-/issues"
`

// populate lays out a new guest tree (we are inside it now). A bare guest
// gets the Alpine layout and /etc (root the only user); an image guest
// keeps the image's /etc and gets only what smolvm's agent writes into a
// container (hostname, hosts).
func populate(cfg Config, img ImageConfig, t *guestTree) error {
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
		if _, err := os.Lstat(d.path); err == nil {
			continue // the image's own, or made by an earlier entry
		}
		if err := os.MkdirAll(d.path, d.mode); err != nil {
			return err
		}
		os.Chmod(d.path, d.mode)
	}
	if t.kind == userlandBusybox {
		if err := populateBusybox(t.applets, t.commands); err != nil {
			return err
		}
	}
	for _, f := range t.hostFiles {
		var err error
		switch {
		case f.isDir:
			err = os.MkdirAll(f.path, 0o755)
		case f.isLink:
			os.MkdirAll(filepath.Dir(f.path), 0o755)
			err = os.Symlink(f.link, f.path)
		default:
			os.MkdirAll(filepath.Dir(f.path), 0o755)
			os.Remove(f.path)
			err = os.WriteFile(f.path, f.data, f.mode)
		}
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	host := hostnameFor(cfg.Name)
	files := map[string]string{
		"/etc/hostname": host + "\n",
		"/etc/hosts":    "127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\t" + host + "\n",
	}
	if t.kind != userlandImage {
		files["/etc/os-release"] = osRelease
		files["/etc/alpine-release"] = "3.19.0\n"
		files["/etc/passwd"] = "root:x:0:0:root:/root:/bin/sh\n"
		files["/etc/group"] = "root:x:0:root\n"
	}
	for p, s := range files {
		os.Remove(p) // a symlink the image shipped is replaced, not followed
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			return err
		}
	}
	return makeUserHome(img.User)
}

// hostnameFor is the guest's UTS hostname, as smolvm's agent derives a
// container's (docs/smolvm.md, "machine names"): the machine name when it
// is a lowercase DNS label (at most 63 bytes of a-z, 0-9 and '-', no edge
// hyphen), else "container". Every name smolvm accepts (up to 128
// characters) therefore starts.
func hostnameFor(name string) string {
	ok := name != "" && len(name) <= 63 && name[0] != '-' && name[len(name)-1] != '-'
	for i := 0; ok && i < len(name); i++ {
		b := name[i]
		ok = b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-'
	}
	if !ok {
		return "container"
	}
	return name
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
