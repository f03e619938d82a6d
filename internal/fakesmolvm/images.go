package fakesmolvm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/smolbottle/smolbottle/internal/fakesmolvm/guest"
)

// Images, as smolvm classifies an --image value (docs/smolvm.md, "create:
// images"):
//
//   - "-" is a `docker save` archive read from stdin;
//   - a value starting with "/", "./" or "../", or ending in ".tar",
//     ".tar.gz" or ".tgz", is local: an existing directory is a ready-made
//     root filesystem (recorded as "local-dir:<canonical path>"), anything
//     else a `docker save` archive (content-hashed and staged under
//     <cache dir>/smolvm-image-archives/<sha256>/archive.tar, recorded as
//     "local:<sha256>");
//   - anything else is a registry reference. The fake has no registry: it
//     looks the name up, in order, in each directory of $FAKE_SMOLVM_IMAGES
//     (colon-separated) and then in the store under the state dir
//     (<local data dir>/smolvm/fake/images). A name may contain "/" and a
//     ":tag"; a name without a tag also matches NAME:latest, and NAME:latest
//     matches NAME. An entry is an image directory (IMAGE/rootfs/ and an
//     optional IMAGE/config.json) or a `docker save` archive NAME.tar,
//     NAME.tar.gz or NAME.tgz. A name not found fails create, with smolvm's
//     no-network message when the machine has no network, else with a
//     message that the fake cannot pull.
//
// Archives are flattened once (layers applied in order, whiteouts
// included) into <sha256>/rootfs beside the staged archive, with the image
// config in <sha256>/config.json; every machine of the image then runs on
// that tree through its own overlay (package guest), so no start copies it.

const (
	localArchivePrefix = "local:"
	localDirPrefix     = "local-dir:"
	archiveFile        = "archive.tar"
	defaultMaxImage    = 8 << 30
)

var archiveSuffixes = []string{".tar", ".tar.gz", ".tgz"}

func (c *cli) imageStore() string { return filepath.Join(c.paths.stateDir(), "images") }

// archiveCache is smolvm's staging area for local archives.
func (c *cli) archiveCache() string {
	return filepath.Join(filepath.Dir(c.paths.cache), "smolvm-image-archives")
}

// localDirCache holds, per rootfs directory, the image directory the guest
// package reads (rootfs is a link to the directory).
func (c *cli) localDirCache() string { return filepath.Join(c.paths.cache, "fake-local-dirs") }

// imageError is smolvm's --image config error.
func imageError(format string, a ...any) error {
	return errorf("config operation failed: --image: "+format, a...)
}

// looksLocal is smolvm's test for a local image source.
func looksLocal(image string) bool {
	if strings.HasPrefix(image, "/") || strings.HasPrefix(image, "./") || strings.HasPrefix(image, "../") {
		return true
	}
	for _, s := range archiveSuffixes {
		if strings.HasSuffix(image, s) {
			return true
		}
	}
	return false
}

// resolveImageArg classifies create's (or run's) --image value. It returns
// the reference to record ("local:<sha>", "local-dir:<path>" or the
// registry name) and the image directory ("" when a registry name is not in
// the fake's store). A local source that cannot be used is an error.
func (c *cli) resolveImageArg(image string) (ref, dir string, err error) {
	switch {
	case image == "-":
		hash, err := c.stageStdin()
		if err != nil {
			return "", "", err
		}
		dir, err := c.flattenStaged(hash)
		return localArchivePrefix + hash, dir, err
	case looksLocal(image):
		p := image
		if !filepath.IsAbs(p) {
			p = filepath.Join(c.cwd, p)
		}
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			canon, err := filepath.EvalSymlinks(p)
			if err != nil {
				return "", "", imageError("cannot use rootfs directory %s: %s", image, guest.OSError(err))
			}
			dir, err := c.localDirImage(canon)
			return localDirPrefix + canon, dir, err
		}
		hash, err := c.stageFile(image, p)
		if err != nil {
			return "", "", err
		}
		dir, err := c.flattenStaged(hash)
		return localArchivePrefix + hash, dir, err
	default:
		dir, err := c.resolveImage(image)
		return image, dir, err
	}
}

// resolveImage finds the image directory of a recorded reference: a local
// archive (flattened again if its tree is gone), a local rootfs directory,
// or a name in the fake's store. "" means not found.
func (c *cli) resolveImage(name string) (string, error) {
	if hash, ok := strings.CutPrefix(name, localArchivePrefix); ok {
		if !c.isStaged(hash) {
			return "", nil
		}
		return c.flattenStaged(hash)
	}
	if p, ok := strings.CutPrefix(name, localDirPrefix); ok {
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			return "", nil
		}
		return c.localDirImage(p)
	}
	if filepath.IsAbs(name) {
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
			p := filepath.Join(root, filepath.FromSlash(cand))
			if isImageDir(p) {
				return p, nil
			}
			for _, s := range archiveSuffixes {
				if fi, err := os.Stat(p + s); err == nil && fi.Mode().IsRegular() {
					hash, err := c.stageFile(p+s, p+s)
					if err != nil {
						return "", err
					}
					return c.flattenStaged(hash)
				}
			}
		}
	}
	return "", nil
}

func isImageDir(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, "rootfs"))
	return err == nil && fi.IsDir()
}

// localDirImage gives a rootfs directory the image-directory shape the
// guest reads: DIR/rootfs is a link to it, and there is no config.
func (c *cli) localDirImage(canon string) (string, error) {
	sum := sha256.Sum256([]byte(canon))
	dir := filepath.Join(c.localDirCache(), hex.EncodeToString(sum[:16]))
	link := filepath.Join(dir, "rootfs")
	if t, err := os.Readlink(link); err == nil && t == canon {
		return dir, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", errorf("io operation failed: %v", err)
	}
	tmp := link + ".tmp" + strconv.Itoa(os.Getpid())
	os.Remove(tmp)
	if err := os.Symlink(canon, tmp); err != nil {
		return "", errorf("io operation failed: %v", err)
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return "", errorf("io operation failed: %v", err)
	}
	return dir, nil
}

// maxImageBytes is SMOLVM_MAX_IMAGE_BYTES, else 8 GiB.
func (c *cli) maxImageBytes() int64 {
	if n, err := strconv.ParseInt(strings.TrimSpace(c.getenv("SMOLVM_MAX_IMAGE_BYTES")), 10, 64); err == nil && n > 0 {
		return n
	}
	return defaultMaxImage
}

func (c *cli) tooLarge(n int64) error {
	return imageError("image archive is %d bytes, over the %d-byte limit. Raise it with --max-image-size (e.g. --max-image-size 16GiB) or the SMOLVM_MAX_IMAGE_BYTES env var if this is a legitimate large image.", n, c.maxImageBytes())
}

// stageFile checks an archive path as smolvm does and stages it under its
// content hash (a hard link, else a copy).
func (c *cli) stageFile(shown, p string) (string, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return "", imageError("cannot read archive %s: %s", shown, guest.OSError(err))
	}
	if !fi.Mode().IsRegular() {
		return "", imageError("%s is not a file", shown)
	}
	if looksLikeDockerfile(p) {
		return "", imageError("%s looks like a Dockerfile, not an image.\nsmolvm boots images, it does not build them — build first, then pass the result:\n  docker build -t myapp . && docker save myapp | smolvm machine run --image - -- ...", shown)
	}
	if fi.Size() > c.maxImageBytes() {
		return "", c.tooLarge(fi.Size())
	}
	// A store archive is staged on every create and start: its hash is
	// remembered for as long as the file is unchanged.
	memo := c.stageMemo(p)
	if hash, ok := readStageMemo(memo, fi); ok && c.isStaged(hash) {
		return hash, nil
	}
	f, err := os.Open(p)
	if err != nil {
		return "", imageError("cannot read archive %s: %s", shown, guest.OSError(err))
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", imageError("cannot read archive %s: %s", shown, guest.OSError(err))
	}
	hash := hex.EncodeToString(h.Sum(nil))
	err = c.placeStaged(hash, func(staged string) error {
		if err := os.Link(p, staged); err == nil || errors.Is(err, fs.ErrExist) {
			return nil
		}
		tmp, err := os.CreateTemp(filepath.Dir(staged), "stage-*")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			tmp.Close()
			return err
		}
		if _, err := io.Copy(tmp, f); err != nil {
			tmp.Close()
			return err
		}
		if err := tmp.Close(); err != nil {
			return err
		}
		return os.Rename(tmp.Name(), staged)
	})
	if err != nil {
		return "", err
	}
	writeStageMemo(memo, fi, hash)
	return hash, nil
}

// placeStaged puts an archive of the given hash into the cache through
// place (which gets the staged path), unless it is there already.
func (c *cli) placeStaged(hash string, place func(staged string) error) error {
	if c.isStaged(hash) {
		return nil
	}
	staged := filepath.Join(c.archiveCache(), hash, archiveFile)
	if err := os.MkdirAll(filepath.Dir(staged), 0o755); err != nil {
		return errorf("io operation failed: %v", err)
	}
	if err := place(staged); err != nil {
		return errorf("io operation failed: %v", err)
	}
	return nil
}

func (c *cli) isStaged(hash string) bool {
	_, err := os.Stat(filepath.Join(c.archiveCache(), hash, archiveFile))
	return err == nil
}

// stageMemo is where the hash of the archive file p is remembered.
func (c *cli) stageMemo(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		abs = p
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(c.archiveCache(), "by-path", hex.EncodeToString(sum[:16]))
}

// readStageMemo returns the remembered hash while the file is the one it
// was remembered for (fileKey: identity, size, change and modification
// times).
func readStageMemo(memo string, fi fs.FileInfo) (string, bool) {
	raw, err := os.ReadFile(memo)
	if err != nil {
		return "", false
	}
	key, hash, ok := strings.Cut(strings.TrimSpace(string(raw)), "\n")
	if !ok || key == "" || key != fileKey(fi) || len(hash) != 64 {
		return "", false
	}
	return hash, true
}

func writeStageMemo(memo string, fi fs.FileInfo, hash string) {
	if fileKey(fi) == "" || os.MkdirAll(filepath.Dir(memo), 0o755) != nil {
		return
	}
	tmp := memo + ".tmp" + strconv.Itoa(os.Getpid())
	if os.WriteFile(tmp, []byte(fileKey(fi)+"\n"+hash+"\n"), 0o644) == nil {
		os.Rename(tmp, memo)
	}
	os.Remove(tmp)
}

// stageStdin reads an archive from stdin, hashing it on the way.
func (c *cli) stageStdin() (string, error) {
	if err := os.MkdirAll(c.archiveCache(), 0o755); err != nil {
		return "", errorf("io operation failed: %v", err)
	}
	tmp, err := os.CreateTemp(c.archiveCache(), "stdin-*")
	if err != nil {
		return "", errorf("io operation failed: %v", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	var in io.Reader = c.stdin
	if c.stdin == nil {
		in = strings.NewReader("")
	}
	// As smolvm: 1 MiB reads, the limit checked after each (the error
	// names the bytes read so far).
	limit := c.maxImageBytes()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		k, err := in.Read(buf)
		if k > 0 {
			n += int64(k)
			c.stdinBytes.Add(int64(k))
			if n > limit {
				return "", c.tooLarge(n)
			}
			h.Write(buf[:k])
			if _, err := tmp.Write(buf[:k]); err != nil {
				return "", errorf("io operation failed: %v", err)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", errorf("io operation failed: %v", err)
		}
	}
	if err := tmp.Close(); err != nil {
		return "", errorf("io operation failed: %v", err)
	}
	hash := hex.EncodeToString(h.Sum(nil))
	if err := c.placeStaged(hash, func(staged string) error { return os.Rename(tmp.Name(), staged) }); err != nil {
		return "", err
	}
	return hash, nil
}

// looksLikeDockerfile is smolvm's check: the name, or a first meaningful
// line starting with FROM or ARG.
func looksLikeDockerfile(p string) bool {
	lower := strings.ToLower(filepath.Base(p))
	if lower == "dockerfile" || lower == "containerfile" || strings.HasSuffix(lower, ".dockerfile") || strings.HasSuffix(lower, ".containerfile") {
		return true
	}
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 4096)
	n, _ := io.ReadFull(f, head)
	text := string(head[:n])
	if !utf8.ValidString(text) {
		return false
	}
	for i, line := range strings.Split(text, "\n") {
		if i >= 50 {
			break
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		w := strings.Fields(line)[0]
		return strings.EqualFold(w, "FROM") || strings.EqualFold(w, "ARG")
	}
	return false
}

// imageStartCommand is what an image runs at start when the machine has no
// command of its own: its entrypoint followed by its cmd.
func imageStartCommand(dir string) []string {
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil
	}
	var cfg guest.ImageConfig
	if json.Unmarshal(raw, &cfg) != nil {
		return nil
	}
	return append(append([]string{}, cfg.Entrypoint...), cfg.Cmd...)
}

// isLocalImage reports whether a recorded image is a local source, which
// smolvm never pulls.
func isLocalImage(ref string) bool {
	return strings.HasPrefix(ref, localArchivePrefix) || strings.HasPrefix(ref, localDirPrefix)
}
