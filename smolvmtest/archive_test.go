package smolvmtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
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

func TestFlattenArchive(t *testing.T) {
	archive := appArchive(t)
	// The same archive gzip-compressed reads the same.
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
	for _, src := range []string{archive, gz} {
		t.Run(filepath.Base(src), func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "rootfs")
			cfg, err := flattenArchive(src, dst)
			if err != nil {
				t.Fatal(err)
			}
			want := imageConfig{User: "app", Env: []string{"GREETING=hi"}, Workdir: "/srv"}
			if d := cmp.Diff(want, cfg); d != "" {
				t.Errorf("config (-want +got):\n%s", d)
			}
			for file, body := range map[string]string{"srv/a.txt": "two\n", "srv/hard": "two\n", "srv/link": "two\n"} {
				if b, err := os.ReadFile(filepath.Join(dst, file)); err != nil || string(b) != body {
					t.Errorf("%s: %q, %v; want %q", file, b, err, body)
				}
			}
			for _, gone := range []string{"srv/gone.txt", "srv/.wh.gone.txt", "dev/null"} {
				if _, err := os.Lstat(filepath.Join(dst, gone)); err == nil {
					t.Errorf("%s exists", gone)
				}
			}
			if l, err := os.Readlink(filepath.Join(dst, "srv/link")); err != nil || l != "a.txt" {
				t.Errorf("srv/link -> %q, %v", l, err)
			}
			for file, mode := range map[string]os.FileMode{"srv/a.txt": 0o600, "usr/local/bin/tool": 0o755, "home/app": 0o750 | os.ModeDir} {
				if fi, err := os.Stat(filepath.Join(dst, file)); err != nil || fi.Mode()&(os.ModePerm|os.ModeDir) != mode {
					t.Errorf("%s: mode %v, %v; want %v", file, fi.Mode(), err, mode)
				}
			}
			if os.Geteuid() == 0 {
				if fi, err := os.Stat(filepath.Join(dst, "home/app")); err != nil || fileUID(fi) != 1000 {
					t.Errorf("home/app not owned by 1000: %v", err)
				}
			}
		})
	}
}

// TestExtractStaysInside: whatever the flattened tar says, extract writes
// nothing outside the root filesystem: ".." is cleaned away, and a symlink
// or hard link to outside is never written through.
func TestExtractStaysInside(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		entries []entry
		wantErr bool
	}{
		{"dotdot", []entry{{name: "../../../../../../" + outside + "/x", body: "escaped"}}, false},
		{"through a symlink", []entry{{name: "evil", typ: tar.TypeSymlink, link: outside}, {name: "evil/x", body: "escaped"}}, true},
		{"over a symlink", []entry{{name: "evil", typ: tar.TypeSymlink, link: secret}, {name: "evil", body: "escaped"}}, false},
		{"hard link out", []entry{{name: "hard", typ: tar.TypeLink, link: "../../../../../../../" + secret}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for _, e := range tc.entries {
				h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o644, Size: int64(len(e.body))}
				if h.Typeflag == 0 {
					h.Typeflag = tar.TypeReg
				} else {
					h.Size = 0
				}
				tw.WriteHeader(h)
				if h.Size > 0 {
					io.WriteString(tw, e.body)
				}
			}
			tw.Close()
			dst := t.TempDir()
			root, err := os.OpenRoot(dst)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			err = extract(root, tar.NewReader(&buf))
			if (err != nil) != tc.wantErr {
				t.Errorf("extract: %v, want an error: %v", err, tc.wantErr)
			}
			if _, serr := os.Lstat(filepath.Join(outside, "x")); serr == nil {
				os.Remove(filepath.Join(outside, "x"))
				t.Errorf("extract wrote outside the root filesystem")
			}
			if b, _ := os.ReadFile(secret); string(b) != "host\n" {
				os.WriteFile(secret, []byte("host\n"), 0o644)
				t.Errorf("extract wrote through a link to a host file: %q", b)
			}
			if fi, err := os.Lstat(secret); err == nil && fileNlink(fi) != 1 {
				t.Errorf("the host file got a hard link")
			}
		})
	}
}

// TestAddImageArchive: an image added from an archive is found by name,
// and its files (after the layers' changes) are the guest's.
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
	// A failed add leaves no half image behind.
	if ents, _ := os.ReadDir(f.imagesDir()); len(ents) != 1 {
		t.Errorf("image store after failed adds: %v", ents)
	}
}
