package bottle

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// stage makes a colon-free name for the host file src: a hard link when src
// is a regular file on the same file system, else a copy. cleanup removes
// the staging directory.
func stage(src string) (staged string, cleanup func(), err error) {
	fi, err := os.Stat(src)
	if err != nil {
		return "", nil, err
	}
	if !fi.Mode().IsRegular() {
		return "", nil, fmt.Errorf("stage %s: not a regular file (smolvm copies regular files only)", src)
	}
	dir, err := os.MkdirTemp("", "bottle-cp-")
	if err != nil {
		return "", nil, fmt.Errorf("stage %s: %w", src, err)
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	if strings.Contains(dir, ":") {
		cleanup()
		return "", nil, fmt.Errorf("stage %s: temporary directory %s contains ':' too; set TMPDIR", src, dir)
	}
	staged = filepath.Join(dir, "file")
	// Link only a regular file itself: a hard link to a symlink would keep
	// a relative target that means something else in the staging dir.
	if lfi, lerr := os.Lstat(src); lerr == nil && lfi.Mode().IsRegular() && os.Link(src, staged) == nil {
		return staged, cleanup, nil
	}
	if err := copyFile(src, staged, fi.Mode().Perm()); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("stage %s: %w", src, err)
	}
	return staged, cleanup, nil
}

func copyFile(src, dst string, perm os.FileMode) error {
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
	return out.Close()
}
