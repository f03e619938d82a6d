package fakesmolvm

import (
	"os"
	"path/filepath"
	"strings"
)

// Images are directories (IMAGE/rootfs/ and an optional IMAGE/config.json).
// `create -I NAME` looks NAME up, in order, in each directory listed in
// $FAKE_SMOLVM_IMAGES (colon-separated) and then in the store under the
// state dir (<local data dir>/smolvm/fake/images). NAME may contain "/" (a
// nested directory) and a ":tag"; a NAME without a tag also matches
// NAME:latest, and NAME:latest also matches NAME. An absolute path to an
// image directory is used as is. There is no registry: an image that is not
// in the store fails create, with smolvm's no-network message when the
// machine has no network, else with a message that the fake cannot pull.

func (c *cli) imageStore() string { return filepath.Join(c.paths.stateDir(), "images") }

// resolveImage returns the image directory, or "" when NAME is not in the store.
func (c *cli) resolveImage(name string) (string, error) {
	if filepath.IsAbs(name) {
		if isImageDir(name) {
			return filepath.Clean(name), nil
		}
		return "", nil
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." || part == "." || part == "" {
			return "", nil
		}
	}
	cands := []string{name}
	if strings.HasSuffix(name, ":latest") {
		cands = append(cands, strings.TrimSuffix(name, ":latest"))
	} else if !strings.Contains(name[strings.LastIndex(name, "/")+1:], ":") {
		cands = append(cands, name+":latest")
	}
	var roots []string
	for _, d := range filepath.SplitList(c.getenv("FAKE_SMOLVM_IMAGES")) {
		if d != "" {
			if !filepath.IsAbs(d) {
				d = filepath.Join(c.cwd, d)
			}
			roots = append(roots, d)
		}
	}
	roots = append(roots, c.imageStore())
	for _, root := range roots {
		for _, cand := range cands {
			dir := filepath.Join(root, filepath.FromSlash(cand))
			if isImageDir(dir) {
				return dir, nil
			}
		}
	}
	return "", nil
}

func isImageDir(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, "rootfs"))
	return err == nil && fi.IsDir()
}
