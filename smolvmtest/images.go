package smolvmtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/smolbottle/smolbottle/internal/fakesmolvm/guest"
)

// An Image is an image to add to a fake's store, as if it had been pulled:
// `smolvm machine create --image NAME` then finds it without a network.
type Image struct {
	// Rootfs is a directory holding the image's root filesystem. It is
	// copied when the image is added (regular files, directories and
	// symlinks, with their modes), so later changes to it do not reach the
	// fake.
	Rootfs string
	// Archive, instead of Rootfs, is a `docker save` (or `podman save`)
	// archive of one image, plain or gzip-compressed. It is copied into
	// the store, and the fake flattens it when a machine is first created
	// from it, as it does for `--image ./app.tar`: its config (user,
	// environment, working directory, entrypoint and command) is the
	// image's, and the fields below must be left empty.
	Archive string
	// The image config of a Rootfs image: the user exec runs as by default
	// ("" for root), environment ("K=V") and working directory of commands
	// in the guest.
	User    string
	Env     []string
	Workdir string
}

// AddImage adds img to the fake's store under name (e.g. "node:22" or
// "org/app:1.0"; a name without a tag also answers NAME:latest). Adding a
// name twice is an error.
func (f *Fake) AddImage(name string, img Image) error {
	if err := checkImageName(name); err != nil {
		return fmt.Errorf("smolvmtest: image %q: %w", name, err)
	}
	switch {
	case img.Rootfs == "" && img.Archive == "":
		return fmt.Errorf("smolvmtest: image %q: neither Rootfs nor Archive", name)
	case img.Rootfs != "" && img.Archive != "":
		return fmt.Errorf("smolvmtest: image %q: both Rootfs and Archive", name)
	case img.Archive != "" && (img.User != "" || img.Env != nil || img.Workdir != ""):
		return fmt.Errorf("smolvmtest: image %q: User, Env and Workdir are for Rootfs images; an archive's config is its own", name)
	case img.Rootfs != "":
		fi, err := os.Stat(img.Rootfs)
		if err != nil {
			return fmt.Errorf("smolvmtest: image %q: %w", name, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("smolvmtest: image %q: Rootfs %s is not a directory", name, img.Rootfs)
		}
	}
	dir := filepath.Join(f.imagesDir(), filepath.FromSlash(name))
	for _, p := range []string{dir, dir + ".tar", dir + ".tar.gz", dir + ".tgz"} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("smolvmtest: image %q: already added", name)
		}
	}
	if img.Archive != "" {
		if err := f.addArchive(img.Archive, dir); err != nil {
			return fmt.Errorf("smolvmtest: image %q: %w", name, err)
		}
		return nil
	}
	// Built beside the store and renamed in, so a failed copy leaves no
	// half image the fake could find.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("smolvmtest: image %q: %w", name, err)
	}
	tmp, err := os.MkdirTemp(f.dir, ".image-*")
	if err != nil {
		return fmt.Errorf("smolvmtest: image %q: %w", name, err)
	}
	defer os.RemoveAll(tmp)
	if err := copyTree(img.Rootfs, filepath.Join(tmp, "rootfs")); err != nil {
		return fmt.Errorf("smolvmtest: image %q: %w", name, err)
	}
	cfg := guest.ImageConfig{User: img.User, Env: img.Env, Workdir: img.Workdir}
	b, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("smolvmtest: image %q: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "config.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("smolvmtest: image %q: %w", name, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("smolvmtest: image %q: %w", name, err)
	}
	return nil
}

// checkImageName accepts what the fake's store can hold: relative
// slash-separated names without empty, "." or ".." parts.
func checkImageName(name string) error {
	if name == "" {
		return errors.New("empty name")
	}
	for _, part := range strings.Split(name, "/") {
		if part == "" || part == "." || part == ".." {
			return errors.New("a name is slash-separated parts, none empty, . or ..")
		}
	}
	return nil
}

// copyTree copies the directory src to dst: directories, regular files and
// symlinks (as links, never followed), keeping permission bits. Anything
// else (devices, sockets, pipes) is an error: an image cannot carry it.
func copyTree(src, dst string) error {
	// Directories get their modes last: a read-only one must still be
	// filled.
	type dirMode struct {
		path string
		perm fs.FileMode
	}
	var dirs []dirMode
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch mode := info.Mode(); {
		case mode.IsDir():
			dirs = append(dirs, dirMode{target, mode.Perm()})
			return os.Mkdir(target, 0o755)
		case mode&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case mode.IsRegular():
			return copyFile(path, target, mode.Perm())
		default:
			return fmt.Errorf("%s: cannot copy a %v into an image", path, mode.Type())
		}
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chmod(dirs[i].path, dirs[i].perm); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, perm) // the umask may have cut perm
}
