//go:build linux

package guest

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

func u32(v uint32) *uint32 { return &v }

func TestCopyUpload(t *testing.T) {
	d := startMachine(t, Config{})
	dir := t.TempDir()
	local := filepath.Join(dir, "f.txt")
	write(t, local, "hello world\n")

	var progress bytes.Buffer
	if err := Copy(d, CopyRequest{Upload: true, LocalPath: local, GuestPath: "workspace/a/b/f.txt"}, &progress); err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^Uploading ` + regexp.QuoteMeta(local) + ` -> workspace/a/b/f.txt: 12 B / 12 B \(100\.0%, [0-9.]+ (B|KB|MB|GB)/s\)\n$`)
	if !re.MatchString(progress.String()) {
		t.Errorf("progress %q, want one line matching %s", progress.String(), re)
	}
	r := sh(t, d, "cat /workspace/a/b/f.txt; stat -c '%a %u:%g' /workspace/a/b/f.txt; ls -A /workspace/a/b")
	if r.stdout != "hello world\n644 0:0\nf.txt\n" {
		t.Errorf("uploaded file: %q (want content, 0644 root:root, no temp file left)", r.stdout)
	}

	// Atomic replace: a new inode, so an open reader keeps the old content.
	sh(t, d, "stat -c %i /workspace/a/b/f.txt > /root/ino")
	write(t, local, "v2\n")
	if err := Copy(d, CopyRequest{Upload: true, LocalPath: local, GuestPath: "/workspace/a/b/f.txt", Mode: u32(0o750), UID: u32(1000), GID: u32(1001)}, nil); err != nil {
		t.Fatal(err)
	}
	r = sh(t, d, "cat /workspace/a/b/f.txt; stat -c '%a %u:%g' /workspace/a/b/f.txt; test $(stat -c %i /workspace/a/b/f.txt) != $(cat /root/ino) && echo new-inode")
	if r.stdout != "v2\n750 1000:1001\nnew-inode\n" {
		t.Errorf("replaced file: %q", r.stdout)
	}

	// Large, binary.
	big := make([]byte, 3<<20+7)
	rand.Read(big)
	bigPath := filepath.Join(dir, "big")
	os.WriteFile(bigPath, big, 0o644)
	progress.Reset()
	if err := Copy(d, CopyRequest{Upload: true, LocalPath: bigPath, GuestPath: "/root/big"}, &progress); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "big.back")
	if err := Copy(d, CopyRequest{LocalPath: out, GuestPath: "/root/big"}, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); !bytes.Equal(b, big) {
		t.Error("3 MiB binary file did not round-trip")
	}
	// Intermediate lines at 2 MiB and, on a slow machine, at 3 MiB (7 bytes
	// short of the total, so not the skipped 100% one) may come 250 ms apart.
	if !regexp.MustCompile(`^\rUploading [^\r]*: 1\.0 MB / 3\.0 MB \(33\.3%, [^\r]*\)(\rUploading [^\r]*: 2\.0 MB / 3\.0 MB \(66\.7%, [^\r]*\))?(\rUploading [^\r]*: 3\.0 MB / 3\.0 MB \(100\.0%, [^\r]*\))?\rUploading [^\r]*: 3\.0 MB / 3\.0 MB \(100\.0%, [^\r]*\)\n$`).MatchString(progress.String()) {
		t.Errorf("large upload progress %q", progress.String())
	}
}

func TestCopyErrors(t *testing.T) {
	d := startMachine(t, Config{})
	dir := t.TempDir()
	local := filepath.Join(dir, "f")
	write(t, local, "x")
	sh(t, d, "mkdir -p /workspace/dir; mkfifo /root/fifo; echo data > /root/file")
	tests := []struct {
		name, reason string
		req          CopyRequest
		want         string
	}{
		{"missing local", "uploading a missing host file",
			CopyRequest{Upload: true, LocalPath: filepath.Join(dir, "nope"), GuestPath: "/x"},
			"agent operation failed: read local file: " + filepath.Join(dir, "nope") + ": No such file or directory (os error 2)"},
		{"local dir", "directories are never copied",
			CopyRequest{Upload: true, LocalPath: dir, GuestPath: "/x"},
			"agent operation failed: read source file: Is a directory (os error 21)"},
		{"dotdot", "parent traversal is rejected",
			CopyRequest{Upload: true, LocalPath: local, GuestPath: "/a/../x"},
			"agent operation failed: write file: invalid guest path /a/../x: parent traversal is not allowed"},
		{"empty", "an empty guest path is rejected",
			CopyRequest{Upload: true, LocalPath: local, GuestPath: ""},
			"agent operation failed: write file: invalid guest path : path is empty"},
		{"onto dir", "a directory destination is not supported",
			CopyRequest{Upload: true, LocalPath: local, GuestPath: "/workspace/dir"},
			"agent operation failed: write file: failed to rename onto /workspace/dir: Is a directory (os error 21)"},
		{"missing guest", "downloading a missing guest file",
			CopyRequest{LocalPath: filepath.Join(dir, "o1"), GuestPath: "/p"},
			"agent operation failed: read file: failed to open /p: No such file or directory (os error 2)"},
		{"guest dir", "a guest directory is not a regular file",
			CopyRequest{LocalPath: filepath.Join(dir, "o2"), GuestPath: "/workspace"},
			"agent operation failed: read file: not a regular file: /workspace"},
		{"guest fifo", "a FIFO is refused without blocking",
			CopyRequest{LocalPath: filepath.Join(dir, "o3"), GuestPath: "/root/fifo"},
			"agent operation failed: read file: not a regular file: /root/fifo"},
		{"local is dir", "a local directory cannot be written",
			CopyRequest{LocalPath: dir, GuestPath: "/root/file"},
			"agent operation failed: write local file: " + dir + ": Is a directory (os error 21)"},
		{"local parent missing", "the local parent must exist",
			CopyRequest{LocalPath: filepath.Join(dir, "no/such"), GuestPath: "/root/file"},
			"agent operation failed: write local file: " + filepath.Join(dir, "no/such") + ": No such file or directory (os error 2)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Copy(d, tc.req, nil)
			if err == nil || err.Error() != tc.want {
				t.Errorf("%s:\ngot  %v\nwant %s", tc.reason, err, tc.want)
			}
		})
	}
	// A failed download deletes a local file that was there before.
	prev := filepath.Join(dir, "prev")
	write(t, prev, "old")
	if err := Copy(d, CopyRequest{LocalPath: prev, GuestPath: "/nope"}, nil); err == nil {
		t.Fatal("download of a missing file succeeded")
	}
	if _, err := os.Stat(prev); err == nil {
		t.Error("failed download left the local file")
	}
}

func TestCopyDownloadProgress(t *testing.T) {
	d := startMachine(t, Config{})
	sh(t, d, "printf 'twelve bytes' > /root/f")
	out := filepath.Join(t.TempDir(), "o")
	var progress bytes.Buffer
	if err := Copy(d, CopyRequest{LocalPath: out, GuestPath: "/root/f"}, &progress); err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^\rDownloading /root/f -> ` + regexp.QuoteMeta(out) + `: 12 B \([0-9.]+ (B|KB|MB)/s\)\rDownloading /root/f -> ` + regexp.QuoteMeta(out) + `: 12 B \([0-9.]+ (B|KB|MB)/s\)\n$`)
	if !re.MatchString(progress.String()) {
		t.Errorf("download progress %q", progress.String())
	}
	if b, _ := os.ReadFile(out); string(b) != "twelve bytes" {
		t.Errorf("downloaded %q", b)
	}
}

func TestFormatBytes(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, "0 B"}, {512, "512 B"}, {1023, "1023 B"}, {1024, "1.0 KB"}, {1536 * 1024, "1.5 MB"}, {3 << 30, "3.0 GB"}} {
		if got := formatBytes(tc.n); got != tc.want {
			t.Errorf("formatBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
