//go:build linux

package guest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The first start: the guest's /etc, the image laid over the tree.

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
