package scripttest

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/smolbottle/smolbottle/internal/fakesmolvm/guest"
)

// BuildExamples copies the repository's examples to dst and completes each
// image skeleton under examples/images/*/rootfs with the host's static
// busybox, as the image would carry its own userland: the repository keeps
// no binaries, and an image guest sees nothing of the host.
func BuildExamples(src, dst string) error {
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(out, info.Mode().Perm()|0o700)
		case d.Type()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(t, out)
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(out, data, info.Mode().Perm())
		}
	})
	if err != nil {
		return fmt.Errorf("copy examples: %w", err)
	}
	roots, _ := filepath.Glob(filepath.Join(dst, "images", "*", "rootfs"))
	for _, r := range roots {
		if err := guest.AddBusybox(r); err != nil {
			return fmt.Errorf("image %s: %w", r, err)
		}
	}
	return nil
}

// busybox ROOTFS... completes image skeletons made by a script with the
// host's static busybox (/bin/busybox and its applet links).
func busybox(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: busybox ROOTFS...")
	}
	for _, a := range args {
		if err := guest.AddBusybox(ts.MkAbs(a)); err != nil {
			ts.Fatalf("busybox: %v", err)
		}
	}
}

// mkarchive OUT CONFIG LAYERDIR... writes a `docker save` archive (with
// go-containerregistry's tarball writer) whose layers are the given
// directories, in order (a file named .wh.NAME is a whiteout, as in any
// layer), and whose image config is the JSON file CONFIG ({"User": ...,
// "Env": [...], "WorkingDir": ..., "Entrypoint": [...], "Cmd": [...]}).
// OUT ending in .gz or .tgz is gzip-compressed.
func mkarchive(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: mkarchive OUT CONFIG LAYERDIR...")
	}
	if err := WriteArchive(ts.MkAbs(args[0]), ts.MkAbs(args[1]), mkAbsAll(ts, args[2:])...); err != nil {
		ts.Fatalf("mkarchive: %v", err)
	}
}

func mkAbsAll(ts *testscript.TestScript, ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = ts.MkAbs(p)
	}
	return out
}
