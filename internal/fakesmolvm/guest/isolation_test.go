//go:build linux

package guest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hostSecret places a file on the host outside every machine tree and
// returns its directory and path.
func hostSecret(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "secret")
	if err := os.WriteFile(p, []byte("host-secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, p
}

// imageWithUser makes an image directory whose user is a non-root "app".
func imageWithUser(t *testing.T) string {
	t.Helper()
	img := t.TempDir()
	write(t, filepath.Join(img, "config.json"), `{"env":["IMG=1"],"workdir":"/home/app","user":"app"}`)
	write(t, filepath.Join(img, "rootfs/etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n")
	write(t, filepath.Join(img, "rootfs/etc/group"), "root:x:0:root\napp:x:1000:\n")
	if err := os.MkdirAll(filepath.Join(img, "rootfs/home/app"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := AddBusybox(filepath.Join(img, "rootfs")); err != nil {
		t.Fatal(err)
	}
	os.Chown(filepath.Join(img, "rootfs/home/app"), 1000, 1000)
	return img
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestIsolation runs every escape attempt as the guest's root and as a
// non-root guest user; none may create, change or read a host file.
func TestIsolation(t *testing.T) {
	for _, who := range []string{"root", "app"} {
		t.Run(who, func(t *testing.T) {
			secretDir, secret := hostSecret(t)
			cfg := Config{}
			if who == "app" {
				cfg.ImageDir = imageWithUser(t)
			}
			d := startMachine(t, cfg)
			marker := "smolvm-isolation-" + filepath.Base(secretDir)
			attempts := []struct{ name, script string }{
				{"write /etc", "echo x > /etc/" + marker},
				{"write /usr", "echo x > /usr/" + marker},
				{"write /usr/bin", "echo x > /usr/bin/" + marker},
				{"write /bin", "echo x > /bin/" + marker},
				{"remount fake binary rw", "mount -o remount,rw /dev/.smolvm/smolvm && echo x >> /dev/.smolvm/smolvm"},
				{"mount tmpfs", "mount -t tmpfs t /mnt"},
				{"mknod", "mknod /root/sda b 8 0 && cat /root/sda"},
				{"read host file", "cat " + secret},
				{"dotdot", "cat /../../../../" + secret},
				{"cd dotdot", "cd /; cd ../../../..; cat ." + secret},
				{"symlink to host dir", "ln -sfn " + secretDir + " /root/l; cat /root/l/secret"},
				{"symlink dotdot", "ln -sfn ../../../../../../.. /root/up; cat /root/up" + secret},
				{"proc root", "cat /proc/1/root" + secret},
				{"proc fd of agent", "ls /proc/1/fd/ && for f in /proc/1/fd/*; do cat $f/../../" + secret + "; cat $f/" + secret + "; done"},
				{"proc cwd", "cat /proc/1/cwd" + secret},
				{"write fake binary", "echo x >> /dev/.smolvm/smolvm"},
				// No-op changes (same mode, owner, time): if one succeeded,
				// the guest could change the host inode, and the test
				// fails without breaking the host.
				{"chmod fake binary", "chmod $(stat -c %a /dev/.smolvm/smolvm) /dev/.smolvm/smolvm"},
				{"chmod host device", "chmod 666 /dev/null"},
				{"chown host device", "chown 0:0 /dev/zero"},
				{"touch host device", "touch -c -r /dev/full /dev/full"},
				{"chmod alternatives", "chmod $(stat -c %a /etc/alternatives) /etc/alternatives"},
				{"sysrq", "echo h > /proc/sysrq-trigger"},
				{"unshare mount escape", "unshare -rm sh -c 'mount -o remount,rw /dev/.smolvm/smolvm && echo x >> /dev/.smolvm/smolvm'"},
			}
			for _, a := range attempts {
				r := sh(t, d, a.script+" 2>/dev/null")
				if strings.Contains(r.stdout, "host-secret") {
					t.Errorf("%s: read the host file: %q", a.name, r.stdout)
				}
				// The guest's own tree (an Alpine or image root) takes
				// root's writes, as a VM's disk does.
				own := map[string]bool{"write /etc": true, "write /usr": true, "write /usr/bin": true, "write /bin": true}
				if !(own[a.name] && who == "root") && r.code == 0 {
					t.Errorf("%s: succeeded in the guest (stdout %q)", a.name, r.stdout)
				}
			}
			for _, p := range []string{"/etc/", "/usr/", "/usr/bin/", "/bin/"} {
				if _, err := os.Lstat(p + marker); err == nil {
					os.Remove(p + marker)
					t.Errorf("guest created host %s%s", p, marker)
				}
			}
			if who == "root" {
				// The guest's own /etc took the write.
				if r := sh(t, d, "cat /etc/"+marker); r.stdout != "x\n" {
					t.Errorf("guest /etc write did not land in the guest: %+v", r)
				}
			}
			if b, _ := os.ReadFile(secret); string(b) != "host-secret\n" {
				t.Errorf("host file changed: %q", b)
			}
			exe, _ := os.Executable()
			if st, _ := os.Stat(exe); st != nil {
				if b, _ := os.ReadFile(exe); bytes.HasSuffix(b, []byte("x\n")) {
					t.Error("guest appended to the fake binary")
				}
			}

			// cp: through a symlink to a host dir, through "..", downloads.
			local := filepath.Join(t.TempDir(), "up")
			write(t, local, "payload\n")
			if r := sh(t, d, "ln -sfn "+secretDir+" /root/l; ln -sfn / /root/rootlink"); r.code != 0 && who == "root" {
				t.Fatalf("%+v", r)
			}
			for _, gp := range []string{"/root/l/planted", "root/l/planted", "/root/rootlink" + secretDir + "/planted"} {
				Copy(d, CopyRequest{Upload: true, LocalPath: local, GuestPath: gp}, nil)
			}
			if _, err := os.Lstat(filepath.Join(secretDir, "planted")); err == nil {
				t.Error("cp upload through a symlink wrote a host file")
			}
			err := Copy(d, CopyRequest{Upload: true, LocalPath: local, GuestPath: "/root/../../" + secretDir + "/planted2"}, nil)
			if err == nil || !strings.Contains(err.Error(), "parent traversal is not allowed") {
				t.Errorf("cp with ..: %v", err)
			}
			for _, gp := range []string{"/root/l/secret", secret, "/proc/1/root" + secret, "/proc/self/cwd" + secret} {
				out := filepath.Join(t.TempDir(), "down")
				if err := Copy(d, CopyRequest{LocalPath: out, GuestPath: gp}, nil); err == nil {
					b, _ := os.ReadFile(out)
					t.Errorf("cp download of %s succeeded: %q", gp, b)
				}
			}
			for _, fd := range []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"} {
				out := filepath.Join(t.TempDir(), "down")
				if err := Copy(d, CopyRequest{LocalPath: out, GuestPath: "/proc/self/fd/" + fd + "/../../" + secret}, nil); err == nil {
					t.Errorf("cp download through agent fd %s succeeded", fd)
				}
				Copy(d, CopyRequest{Upload: true, LocalPath: local, GuestPath: "/proc/1/fd/" + fd + "/planted"}, nil)
			}
			if ents, _ := os.ReadDir(secretDir); len(ents) != 1 {
				t.Errorf("host dir gained files: %v", ents)
			}
			if _, err := os.Lstat(filepath.Join(d, "planted")); err == nil {
				t.Error("cp wrote into the host data dir")
			}
		})
	}
}

// TestGuestCapabilities checks the bounding set of many guest processes:
// it is a per-thread attribute, so every spawn must get the reduced one.
func TestGuestCapabilities(t *testing.T) {
	d := startMachine(t, Config{})
	want := uint64(0)
	for c := range keptCaps {
		want |= 1 << c
	}
	for i := range 30 {
		r := sh(t, d, "grep CapBnd /proc/self/status")
		var got uint64
		if _, err := fmt.Sscanf(r.stdout, "CapBnd:\t%x", &got); err != nil || got != want {
			t.Fatalf("exec %d: %q, want CapBnd %016x", i, r.stdout, want)
		}
	}
}

// TestVolumes: -v directories appear at their guest paths, read-only ones
// stay read-only, and a guest symlink on the way cannot move a mount
// point onto the host.
func TestVolumes(t *testing.T) {
	rw, ro := t.TempDir(), t.TempDir()
	write(t, filepath.Join(ro, "in"), "from host\n")
	guestWritable(t, rw)
	d := startMachine(t, Config{Mounts: []Mount{{Host: rw, Guest: "/data"}, {Host: ro, Guest: "/ro", ReadOnly: true}}})
	r := sh(t, d, "echo hi > /data/out; cat /ro/in; echo x > /ro/new 2>/dev/null || echo ro-refused; mount -o remount,rw /ro 2>/dev/null || echo remount-refused")
	if r.stdout != "from host\nro-refused\nremount-refused\n" {
		t.Errorf("volumes: %+v", r)
	}
	if b, _ := os.ReadFile(filepath.Join(rw, "out")); string(b) != "hi\n" {
		t.Errorf("rw volume write did not reach the host: %q", b)
	}
	if _, err := os.Stat(filepath.Join(ro, "new")); err == nil {
		t.Error("wrote through a read-only volume")
	}

	// The guest points /link at a host path; a volume at /link/sub must not
	// create anything there.
	escape := t.TempDir()
	if r := sh(t, d, "ln -s "+escape+" /link"); r.code != 0 {
		t.Fatalf("%+v", r)
	}
	Stop(d)
	_, err := Start(Config{Name: "testvm", DataDir: d, Mounts: []Mount{{Host: rw, Guest: "/link/sub"}}})
	if err == nil || errors.Is(err, ErrUnsupported) || !strings.HasPrefix(err.Error(), "mount operation failed: mount volume: mount point /link/sub: ") {
		t.Errorf("volume under a dangling guest symlink: %v", err)
	}
	if _, err := os.Stat(filepath.Join(escape, "sub")); err == nil {
		t.Error("a volume mount point was created on the host through a guest symlink")
	}
	if _, ok := Alive(d); ok {
		t.Error("agent runs after a failed start")
	}
}
