package fakesmolvm

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"

	"github.com/smolbottle/smolbottle/internal/fakesmolvm/guest"
)

// flattenStaged returns the image directory of a staged archive, flattening
// it the first time: <hash>/rootfs and <hash>/config.json. The tree is
// built beside it and renamed into place, so a concurrent or interrupted
// flatten never leaves a half tree that a machine would use.
func (c *cli) flattenStaged(hash string) (string, error) {
	dir := filepath.Join(c.archiveCache(), hash)
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil && isImageDir(dir) {
		return dir, nil
	}
	archive := filepath.Join(dir, archiveFile)
	img, err := openArchive(archive)
	if err != nil {
		return "", imageError("cannot read archive %s: %v", archive, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", imageError("cannot read archive %s: image config: %v", archive, err)
	}
	// An image's setuid files keep their bits and owners (host root's,
	// say): only their owner may reach them, as on a VM's disk.
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", errorf("io operation failed: %v", err)
	}
	tmp, err := os.MkdirTemp(dir, "flatten-")
	if err != nil {
		return "", errorf("io operation failed: %v", err)
	}
	defer os.RemoveAll(tmp)
	rootfs := filepath.Join(tmp, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return "", errorf("io operation failed: %v", err)
	}
	rc := mutate.Extract(img)
	err = untar(rc, rootfs)
	rc.Close()
	if err != nil {
		return "", imageError("cannot read archive %s: %v", archive, err)
	}
	cfg := guest.ImageConfig{
		Env:        cf.Config.Env,
		Workdir:    cf.Config.WorkingDir,
		User:       cf.Config.User,
		Entrypoint: cf.Config.Entrypoint,
		Cmd:        cf.Config.Cmd,
	}
	raw, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(tmp, "config.json"), raw, 0o644); err != nil {
		return "", errorf("io operation failed: %v", err)
	}
	// rootfs first, config.json last: config.json marks a complete tree.
	if err := os.Rename(rootfs, filepath.Join(dir, "rootfs")); err != nil {
		if !isImageDir(dir) {
			return "", errorf("io operation failed: %v", err)
		}
	}
	if err := os.Rename(filepath.Join(tmp, "config.json"), filepath.Join(dir, "config.json")); err != nil {
		return "", errorf("io operation failed: %v", err)
	}
	return dir, nil
}

// openArchive reads a `docker save` archive, plain or gzip-compressed (a
// compressed one is decompressed once, next to it).
func openArchive(p string) (v1.Image, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	magic := make([]byte, 2)
	n, _ := io.ReadFull(f, magic)
	if n == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		plain := p + ".plain"
		if _, err := os.Stat(plain); err != nil {
			f.Seek(0, io.SeekStart)
			zr, err := gzip.NewReader(bufio.NewReader(f))
			if err != nil {
				f.Close()
				return nil, err
			}
			tmp, err := os.CreateTemp(filepath.Dir(p), "gunzip-*")
			if err != nil {
				f.Close()
				return nil, err
			}
			_, err = io.Copy(tmp, zr)
			tmp.Close()
			if err == nil {
				err = os.Rename(tmp.Name(), plain)
			}
			if err != nil {
				os.Remove(tmp.Name())
				f.Close()
				return nil, err
			}
		}
		p = plain
	}
	f.Close()
	return tarball.ImageFromPath(p, nil)
}

// untar writes a flattened filesystem tar into root. No entry is written
// through a symlink or outside root: every parent is checked to be a real
// directory under root before anything is created in it.
func untar(r io.Reader, root string) error {
	tr := tar.NewReader(r)
	type dirTime struct {
		path string
		hdr  *tar.Header
	}
	var dirs []dirTime
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		name := path.Clean("/" + hdr.Name)
		if name == "/" {
			continue
		}
		dst := filepath.Join(root, filepath.FromSlash(name))
		if err := realParents(root, dst); err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
		if fi, err := os.Lstat(dst); err == nil && !(fi.IsDir() && hdr.Typeflag == tar.TypeDir) {
			if err := os.RemoveAll(dst); err != nil {
				return err
			}
		}
		mode := uint32(hdr.Mode & 0o7777)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.Mkdir(dst, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			dirs = append(dirs, dirTime{dst, hdr})
		case tar.TypeReg, tar.TypeRegA:
			f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY|unix.O_NOFOLLOW, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.Symlink(hdr.Linkname, dst); err != nil {
				return err
			}
		case tar.TypeLink:
			target := filepath.Join(root, filepath.FromSlash(path.Clean("/"+hdr.Linkname)))
			if err := realParents(root, target); err != nil {
				return fmt.Errorf("%s: %w", hdr.Name, err)
			}
			if fi, err := os.Lstat(target); err != nil || !fi.Mode().IsRegular() {
				return fmt.Errorf("%s: hard link to %s: not a file in the image", hdr.Name, hdr.Linkname)
			}
			if err := os.Link(target, dst); err != nil {
				return err
			}
			continue
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			kind := uint32(unix.S_IFIFO)
			switch hdr.Typeflag {
			case tar.TypeChar:
				kind = unix.S_IFCHR
			case tar.TypeBlock:
				kind = unix.S_IFBLK
			}
			dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
			if err := unix.Mknod(dst, kind|0o600, int(dev)); err != nil {
				continue // a device the host will not make: the guest's /dev has its own
			}
		default:
			continue
		}
		os.Lchown(dst, hdr.Uid, hdr.Gid)
		if hdr.Typeflag != tar.TypeSymlink {
			if err := unix.Fchmodat(unix.AT_FDCWD, dst, mode, 0); err != nil {
				return err
			}
			if hdr.Typeflag != tar.TypeDir {
				os.Chtimes(dst, hdr.ModTime, hdr.ModTime)
			}
		}
	}
	// Directory times last: writing into a directory changes its mtime.
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Chtimes(dirs[i].path, dirs[i].hdr.ModTime, dirs[i].hdr.ModTime)
	}
	return nil
}

// realParents checks that every directory between root and p is a real
// directory (not a symlink), creating missing ones.
func realParents(root, p string) error {
	rel, err := filepath.Rel(root, filepath.Dir(p))
	if err != nil || strings.HasPrefix(rel, "..") {
		return errors.New("path outside the image")
	}
	if rel == "." {
		return nil
	}
	cur := root
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(cur)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := os.Mkdir(cur, 0o755); err != nil {
				return err
			}
		case err != nil:
			return err
		case !fi.IsDir():
			return fmt.Errorf("%s is not a directory in the image", strings.TrimPrefix(cur, root))
		}
	}
	return nil
}
