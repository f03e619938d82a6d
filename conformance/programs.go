package conformance

import (
	"io/fs"
	"os"
	"path/filepath"

	"embed"

	"github.com/smolbottle/smolbottle/internal/bottlecli"
	"github.com/smolbottle/smolbottle/internal/fakesmolvm"
)

// fakeImageName is the image the suite ships for the fake's image model:
// a guest whose default exec user is node (uid 1000, HOME /home/node).
const fakeImageName = "conformance-node"

//go:embed all:images
var images embed.FS

func programs(fake bool) map[string]func() {
	p := map[string]func(){
		"bottle": func() { os.Exit(bottlecli.Main()) },
	}
	if fake {
		p["smolvm"] = func() { os.Exit(fakesmolvm.Main()) }
		p["fake-smolvm"] = func() { os.Exit(fakesmolvm.Main()) }
	}
	return p
}

// writeImages writes the fake image store the suite ships to dir.
func writeImages(dir string) error {
	return fs.WalkDir(images, "images", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel("images", path)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := images.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
}
