package smolvmtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// entry is one tar entry of a test layer.
type entry struct {
	name, body, link string
	typ              byte
	mode             int64
	uid              int
}

func layer(t *testing.T, entries ...entry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, Size: int64(len(e.body)), Uid: e.uid, Gid: e.uid}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			io.WriteString(tw, e.body)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// writeArchive writes a `docker save` archive of an image made of layers.
func writeArchive(t *testing.T, cfg v1.Config, layers ...v1.Layer) string {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.Config(img, cfg); err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag("example/app:1.0")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "app.tar")
	if err := tarball.WriteToFile(p, tag, img); err != nil {
		t.Fatal(err)
	}
	return p
}

// appArchive is an image of two layers: the second overwrites a file,
// deletes one (a whiteout) and adds a hard link.
func appArchive(t *testing.T) string {
	return writeArchive(t, v1.Config{User: "app", Env: []string{"GREETING=hi"}, WorkingDir: "/srv"},
		layer(t,
			entry{name: "etc/", typ: tar.TypeDir, mode: 0o755},
			entry{name: "etc/passwd", body: "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"},
			entry{name: "home/app/", typ: tar.TypeDir, mode: 0o750, uid: 1000},
			entry{name: "srv/", typ: tar.TypeDir, mode: 0o755},
			entry{name: "srv/a.txt", body: "one\n"},
			entry{name: "srv/gone.txt", body: "deleted by the next layer\n"},
			entry{name: "srv/link", typ: tar.TypeSymlink, link: "a.txt"},
			entry{name: "usr/local/bin/tool", body: "#!/bin/sh\necho tool\n", mode: 0o755},
			entry{name: "dev/null", typ: tar.TypeChar},
		),
		layer(t,
			entry{name: "srv/a.txt", body: "two\n", mode: 0o600},
			entry{name: "srv/.wh.gone.txt"},
			entry{name: "srv/hard", typ: tar.TypeLink, link: "srv/a.txt"},
		),
	)
}

// TestAddImageArchiveAsSmolvmReadsIt: an added archive, plain or
// gzip-compressed, is the image the fake makes of `--image ./app.tar`:
// later layers win, whiteouts delete, hard links and symlinks are kept.
func TestAddImageArchiveAsSmolvmReadsIt(t *testing.T) {
	archive := appArchive(t)
	gz := filepath.Join(t.TempDir(), "app.tar.gz")
	raw, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	var zbuf bytes.Buffer
	zw := gzip.NewWriter(&zbuf)
	zw.Write(raw)
	zw.Close()
	if err := os.WriteFile(gz, zbuf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	f := New(t)
	for i, src := range []string{archive, gz} {
		img, vm := fmt.Sprintf("app%d", i), fmt.Sprintf("vm%d", i)
		if err := f.AddImage(img, Image{Archive: src}); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"machine", "create", "--name", vm, "--image", img},
			{"machine", "start", "--name", vm},
		} {
			if b, err := f.Command(args...).CombinedOutput(); err != nil {
				t.Fatalf("%v: %v: %s", args, err, b)
			}
		}
		for _, file := range []string{"a.txt", "hard", "link"} {
			out := filepath.Join(t.TempDir(), file)
			if b, err := f.Command("machine", "cp", vm+":/srv/"+file, out).CombinedOutput(); err != nil {
				t.Errorf("%s: cp /srv/%s: %v: %s", filepath.Base(src), file, err, b)
			} else if b, err := os.ReadFile(out); err != nil || string(b) != "two\n" {
				t.Errorf("%s: /srv/%s: %q, %v; want the second layer's", filepath.Base(src), file, b, err)
			}
		}
		if b, err := f.Command("machine", "cp", vm+":/srv/gone.txt", filepath.Join(t.TempDir(), "gone")).CombinedOutput(); err == nil {
			t.Errorf("%s: /srv/gone.txt, deleted by a whiteout, was copied out: %s", filepath.Base(src), b)
		}
	}
	// The flattened trees keep the hard link and the symlink as such, and
	// their config is the archive's.
	flat, _ := filepath.Glob(filepath.Join(f.dataDir(), ".cache", "smolvm-image-archives", "*", "rootfs"))
	if len(flat) != 2 {
		t.Fatalf("flattened images: %v, want one per archive", flat)
	}
	for _, root := range flat {
		a, errA := os.Stat(filepath.Join(root, "srv/a.txt"))
		h, errH := os.Stat(filepath.Join(root, "srv/hard"))
		if errA != nil || errH != nil || !os.SameFile(a, h) {
			t.Errorf("%s: srv/hard is not a hard link of srv/a.txt: %v %v", root, errA, errH)
		}
		if l, err := os.Readlink(filepath.Join(root, "srv/link")); err != nil || l != "a.txt" {
			t.Errorf("%s: srv/link: %q %v, want a symlink to a.txt", root, l, err)
		}
		raw, err := os.ReadFile(filepath.Join(filepath.Dir(root), "config.json"))
		var cfg struct {
			Env     []string `json:"env"`
			Workdir string   `json:"workdir"`
			User    string   `json:"user"`
		}
		if err != nil || json.Unmarshal(raw, &cfg) != nil || cfg.User != "app" || cfg.Workdir != "/srv" || !slices.Contains(cfg.Env, "GREETING=hi") {
			t.Errorf("%s: config %s %v, want the archive's user, workdir and env", root, raw, err)
		}
	}
	if err := f.AddImage("cfg", Image{Archive: archive, User: "root"}); err == nil {
		t.Error("AddImage of an archive with a User override succeeded; the archive's config is its own")
	}
	notImage := filepath.Join(t.TempDir(), "x.tar")
	if err := os.WriteFile(notImage, []byte("not a tar"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.AddImage("junk", Image{Archive: notImage}); err == nil {
		t.Error("AddImage of a file that is no image archive succeeded")
	}
}

func TestAddImageArchive(t *testing.T) {
	f := New(t)
	if err := f.AddImage("example/arc:1.0", Image{Archive: appArchive(t)}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "a.txt")
	for _, args := range [][]string{
		{"machine", "create", "--name", "arc", "--image", "example/arc:1.0"},
		{"machine", "start", "--name", "arc"},
		{"machine", "cp", "arc:/srv/a.txt", out},
	} {
		if b, err := f.Command(args...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, b)
		}
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != "two\n" {
		t.Errorf("/srv/a.txt from the guest: %q, %v", b, err)
	}
	if err := f.AddImage("bad", Image{Archive: filepath.Join(t.TempDir(), "missing.tar")}); err == nil {
		t.Error("AddImage of a missing archive succeeded")
	}
	if err := f.AddImage("both", Image{Archive: appArchive(t), Rootfs: t.TempDir()}); err == nil {
		t.Error("AddImage with both Rootfs and Archive succeeded")
	}
	// A failed add leaves no half image behind: a rootfs whose copy fails
	// midway (a fifo, after a file was copied) leaves nothing.
	half := t.TempDir()
	if err := os.WriteFile(filepath.Join(half, "a"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(half, "z-fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.AddImage("half", Image{Rootfs: half}); err == nil {
		t.Error("AddImage of a rootfs holding a fifo succeeded")
	}
	if left, _ := filepath.Glob(filepath.Join(f.dir, ".image-*")); len(left) != 0 {
		t.Errorf("a failed add left %v", left)
	}
	if ents, _ := os.ReadDir(f.imagesDir()); len(ents) != 1 {
		t.Errorf("image store after failed adds: %v", ents)
	}
}
