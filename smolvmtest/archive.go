package smolvmtest

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// flattenArchive reads a `docker save` (or `podman save`) archive of one
// image, plain or gzip-compressed, writes its flattened root filesystem to
// dst (a new directory) and returns its config. Entries are written
// through an os.Root, so no path or link in the archive reaches outside
// dst; devices and pipes are skipped (an image store cannot hold them).
func flattenArchive(archive, dst string) (imageConfig, error) {
	opener := func() (io.ReadCloser, error) { return openMaybeGzip(archive) }
	img, err := tarball.Image(opener, nil)
	if err != nil {
		return imageConfig{}, fmt.Errorf("archive %s: %w", archive, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return imageConfig{}, fmt.Errorf("archive %s: config: %w", archive, err)
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		return imageConfig{}, err
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		return imageConfig{}, err
	}
	defer root.Close()
	rc := mutate.Extract(img)
	defer rc.Close()
	if err := extract(root, tar.NewReader(rc)); err != nil {
		return imageConfig{}, fmt.Errorf("archive %s: %w", archive, err)
	}
	return imageConfig{Env: cf.Config.Env, Workdir: cf.Config.WorkingDir, User: cf.Config.User}, nil
}

// openMaybeGzip opens a file, decompressing it when it is gzip.
func openMaybeGzip(name string) (io.ReadCloser, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(f)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, err
		}
		return struct {
			io.Reader
			io.Closer
		}{zr, f}, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{br, f}, nil
}

// extract writes a flattened image tar into root. Ownership is kept when
// this process may set it (root); directory modes are set last, so that a
// read-only directory can still be filled.
func extract(root *os.Root, tr *tar.Reader) error {
	type dirMode struct {
		name string
		perm fs.FileMode
	}
	var dirs []dirMode
	chown := os.Geteuid() == 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		name, ok := localName(h.Name)
		if !ok {
			return fmt.Errorf("entry %q leaves the root filesystem", h.Name)
		}
		if name == "." {
			continue
		}
		if dir := path.Dir(name); dir != "." {
			if err := root.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
		perm := fs.FileMode(h.Mode).Perm()
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.Mkdir(name, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			dirs = append(dirs, dirMode{name, perm})
		case tar.TypeReg:
			_ = root.Remove(name)
			f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
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
			if err := root.Chmod(name, perm); err != nil { // past the umask
				return err
			}
		case tar.TypeSymlink:
			_ = root.Remove(name)
			if err := root.Symlink(h.Linkname, name); err != nil {
				return err
			}
		case tar.TypeLink:
			target, ok := localName(h.Linkname)
			if !ok {
				return fmt.Errorf("hard link %q to %q leaves the root filesystem", h.Name, h.Linkname)
			}
			_ = root.Remove(name)
			if err := root.Link(target, name); err != nil {
				return err
			}
		default:
			continue // devices, pipes
		}
		if chown {
			if err := root.Lchown(name, h.Uid, h.Gid); err != nil {
				return err
			}
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := root.Chmod(dirs[i].name, dirs[i].perm); err != nil {
			return err
		}
	}
	return nil
}

// localName cleans a tar entry name into a slash-separated path inside the
// root ("." for the root itself); ok is false when it would leave it.
func localName(name string) (string, bool) {
	name = path.Clean("/" + strings.TrimPrefix(name, "./"))
	name = strings.TrimPrefix(name, "/")
	if name == "" {
		return ".", true
	}
	return name, filepath.IsLocal(name)
}
