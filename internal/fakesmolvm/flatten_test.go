package fakesmolvm

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUntarStaysInside: a flattened image is hostile input; no entry may
// write through a symlink it planted, or outside the root.
func TestUntarStaysInside(t *testing.T) {
	outside := t.TempDir()
	tests := []struct {
		name, reason string
		entries      []tar.Header
		wantErr      string
	}{
		{"symlink parent", "a file under a symlink to a host dir is refused",
			[]tar.Header{{Name: "etc", Typeflag: tar.TypeSymlink, Linkname: outside}, {Name: "etc/planted", Typeflag: tar.TypeReg, Mode: 0o644}},
			"not a directory in the image"},
		{"relative symlink parent", "the same through a relative link",
			[]tar.Header{{Name: "up", Typeflag: tar.TypeSymlink, Linkname: "../../../../../../../../../.." + outside}, {Name: "up/planted", Typeflag: tar.TypeReg, Mode: 0o644}},
			"not a directory in the image"},
		{"dotdot", "a name with .. stays under the root",
			[]tar.Header{{Name: "../../../../../../../../.." + outside + "/planted", Typeflag: tar.TypeReg, Mode: 0o644}},
			""},
		{"symlink leaf", "a file replacing a symlink replaces the link, not its target",
			[]tar.Header{{Name: "leaf", Typeflag: tar.TypeSymlink, Linkname: outside + "/planted"}, {Name: "leaf", Typeflag: tar.TypeReg, Mode: 0o644}},
			""},
		{"hard link out", "a hard link must name a file of the image",
			[]tar.Header{{Name: "h", Typeflag: tar.TypeLink, Linkname: "../../../../../../../../etc/passwd"}},
			"not a file in the image"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for _, h := range tc.entries {
				if err := tw.WriteHeader(&h); err != nil {
					t.Fatal(err)
				}
			}
			tw.Close()
			err := untar(&buf, root)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("%s: err %v, want %q", tc.reason, err, tc.wantErr)
			}
			if ents, _ := os.ReadDir(outside); len(ents) != 0 {
				t.Errorf("%s: wrote outside the root: %v", tc.reason, ents)
				for _, e := range ents {
					os.Remove(filepath.Join(outside, e.Name()))
				}
			}
		})
	}
}

// TestUntarModes: owners, modes (setuid kept: the image is the host's
// choice) and symlinks come through.
func TestUntarModes(t *testing.T) {
	root := t.TempDir()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []tar.Header{
		{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "bin/tool", Typeflag: tar.TypeReg, Mode: 0o4711, Uid: 1000, Gid: 1001, Size: 2},
		{Name: "bin/link", Typeflag: tar.TypeSymlink, Linkname: "tool"},
	} {
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("hi"))
		}
	}
	tw.Close()
	if err := untar(&buf, root); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(root, "bin/tool"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o711 || fi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("mode %v", fi.Mode())
	}
	if os.Geteuid() == 0 {
		if st := statOwner(fi); st != [2]uint32{1000, 1001} {
			t.Errorf("owner %v", st)
		}
	}
	if l, _ := os.Readlink(filepath.Join(root, "bin/link")); l != "tool" {
		t.Errorf("link %q", l)
	}
}
