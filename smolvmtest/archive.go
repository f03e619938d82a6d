package smolvmtest

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// addArchive puts a `docker save` archive into the store as NAME.tar (or
// NAME.tar.gz when it is gzip-compressed). The fake itself flattens it the
// first time a machine is created from it, exactly as it flattens
// `--image ./app.tar`, so an image added here behaves as the same archive
// given to smolvm: its layers, whiteouts and config (user, environment,
// working directory, entrypoint and command) come from the archive alone.
// The archive is read once here, so that a file that is no image fails
// AddImage rather than a later create.
func (f *Fake) addArchive(archive, dir string) error {
	gz, err := checkArchive(archive)
	if err != nil {
		return err
	}
	dst := dir + ".tar"
	if gz {
		dst = dir + ".tar.gz"
	}
	src, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer src.Close()
	// Written beside the store and renamed in, so a failed copy leaves no
	// half archive the fake could find.
	tmp, err := os.CreateTemp(f.dir, ".archive-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, src)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// checkArchive reads an archive's manifest and config, and says whether
// it is gzip-compressed.
func checkArchive(archive string) (gz bool, err error) {
	opener := func() (io.ReadCloser, error) {
		rc, z, err := openMaybeGzip(archive)
		gz = z
		return rc, err
	}
	img, err := tarball.Image(opener, nil)
	if err != nil {
		return false, fmt.Errorf("archive %s: %w", archive, err)
	}
	if _, err := img.ConfigFile(); err != nil {
		return false, fmt.Errorf("archive %s: config: %w", archive, err)
	}
	return gz, nil
}

// openMaybeGzip opens a file, decompressing it when it is gzip.
func openMaybeGzip(name string) (io.ReadCloser, bool, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, false, err
	}
	br := bufio.NewReader(f)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, true, err
		}
		return struct {
			io.Reader
			io.Closer
		}{zr, f}, true, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{br, f}, false, nil
}
