package conformance

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"embed"

	"github.com/smolbottle/smolbottle/internal/bottlecli"
	"github.com/smolbottle/smolbottle/internal/fakesmolvm"
	"github.com/smolbottle/smolbottle/internal/fakesmolvm/guest"
	"github.com/smolbottle/smolbottle/smolvmtest"
)

// The images the suite ships for the fake (written out by writeImages):
// both have a user "node" (uid 1000, HOME /home/node) and stub agents
// "claude" and "codex" in /usr/local/bin; they differ in the user smolvm
// exec runs as by default, which is what the two guest models are about.
const (
	fakeNodeImage = "conformance-node" // exec runs as node (the image model)
	fakeRootImage = "conformance-root" // exec runs as root (the original's guest, for the bare model's agent runs)
)

var imageConfigs = map[string]string{
	fakeNodeImage: `{"env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "workdir": "", "user": "node"}`,
	fakeRootImage: `{"env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "workdir": ""}`,
}

//go:embed all:images
var images embed.FS

// Programs returns the programs the suite needs registered in the test
// binary: the bottle CLI always, and fake-smolvm as `smolvm` when fake is
// true. Pass it to Main.
func Programs(fake bool) map[string]func() {
	p := map[string]func(){
		"bottle": func() { os.Exit(bottlecli.Main()) },
	}
	if fake {
		// smolvmtest registers the fake as "smolvm", and with it Go
		// tests of the same binary can have a private fake each.
		p["fake-smolvm"] = func() { os.Exit(fakesmolvm.Main()) }
		return smolvmtest.Commands(p)
	}
	return p
}

// writeImages writes the fake image store the suite ships to dir: each
// image is the one embedded rootfs plus its config.json.
func writeImages(dir string) error {
	for name, config := range imageConfigs {
		img := filepath.Join(dir, name)
		if err := os.MkdirAll(img, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(img, "config.json"), []byte(config+"\n"), 0o644); err != nil {
			return err
		}
		err := fs.WalkDir(images, "images/rootfs", func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel("images", path)
			if err != nil {
				return err
			}
			dst := filepath.Join(img, rel)
			if d.IsDir() {
				return os.MkdirAll(dst, 0o755)
			}
			data, err := images.ReadFile(path)
			if err != nil {
				return err
			}
			// embed keeps no modes: what lives in a bin directory runs.
			mode := os.FileMode(0o644)
			if strings.HasSuffix(filepath.Dir(path), "bin") {
				mode = 0o755
			}
			return os.WriteFile(dst, data, mode)
		})
		if err != nil {
			return err
		}
		// The skeleton carries no binaries: its userland is the host's
		// static busybox, as an image carries its own.
		if err := guest.AddBusybox(filepath.Join(img, "rootfs")); err != nil {
			return err
		}
	}
	return nil
}
