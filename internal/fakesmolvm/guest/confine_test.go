//go:build linux

package guest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCgroupEscape: guest root can neither create a user or cgroup
// namespace (its way back to CAP_SYS_ADMIN) nor mount a cgroup hierarchy,
// and the guest's cgroup view is its own root.
func TestCgroupEscape(t *testing.T) {
	d := startMachine(t, Config{})
	marker := "smolvm-escape-" + filepath.Base(d)
	host := filepath.Join("/sys/fs/cgroup", marker)
	t.Cleanup(func() { os.Remove(host) })
	tests := []struct{ name, script, want string }{
		{"cgroup view", "grep -v ':/$' /proc/self/cgroup; grep -c '^0::/$' /proc/self/cgroup", "1\n"},
		{"nested user namespace", "unshare -U true 2>/dev/null; echo $?", "1\n"},
		{"nested user namespace, util-linux", "/usr/bin/unshare -U true 2>/dev/null || echo refused", "refused\n"},
		{"cgroup namespace", "unshare -C true 2>/dev/null; echo $?", "1\n"},
		{"limits stay", "echo 100 > /proc/sys/user/max_user_namespaces 2>/dev/null; cat /proc/sys/user/max_user_namespaces", "0\n"},
		{"mount cgroup2", "mkdir -p /mnt/cg; mount -t cgroup2 none /mnt/cg 2>/dev/null; echo $?", "1\n"},
		{"mount via nested namespace", "unshare -Urm sh -c 'mount -t cgroup2 none /mnt/cg && mkdir /mnt/cg/" + marker + "' 2>/dev/null; echo $?", "1\n"},
	}
	if _, err := os.Stat("/usr/bin/unshare"); err != nil {
		tests = append(tests[:2], tests[3:]...)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if r := sh(t, d, tc.script); r.stdout != tc.want {
				t.Errorf("got %+v, want %q", r, tc.want)
			}
		})
	}
	if _, err := os.Stat(host); err == nil {
		t.Errorf("the guest made %s on the host", host)
	}
}

// TestSetuidFile: a setuid file guest root tries to leave in a volume does
// not make a host user root: the bit cannot be set. Host setuid binaries
// shown in the guest lose their bit there (nosuid).
func TestSetuidFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the file as another host user")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("no setpriv on the host")
	}
	vol := t.TempDir()
	// The unprivileged host user must reach the volume.
	for p := vol; p != "/" && strings.HasPrefix(p, os.TempDir()) && p != os.TempDir(); p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
	guestWritable(t, vol)
	d := startMachine(t, Config{Mounts: []Mount{{Host: vol, Guest: "/workspace"}}})
	r := sh(t, d, "cp /bin/busybox /workspace/id; chmod 4755 /workspace/id 2>&1; chmod u+s,g+s /workspace/id 2>&1; stat -c %a /workspace/id")
	if r.stdout != "chmod: /workspace/id: Operation not permitted\nchmod: /workspace/id: Operation not permitted\n755\n" {
		t.Errorf("guest root set a setuid bit: %+v", r)
	}
	for _, f := range []string{"id"} {
		p := filepath.Join(vol, f)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 {
			t.Errorf("%s is %v on the host", p, fi.Mode())
		}
		out, err := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", p, "-u").CombinedOutput()
		if err != nil || string(out) != "65534\n" {
			t.Errorf("nobody running %s: %q %v, want uid 65534", p, out, err)
		}
	}
	// Every bind of a host tree in the guest, the fake binary and the
	// volumes, is nosuid and nodev.
	r = sh(t, d, `awk '$5=="/dev/.smolvm/smolvm" || $5=="/workspace" {print $5, $6}' /proc/self/mountinfo`)
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if !strings.Contains(line, "nosuid") || !strings.Contains(line, "nodev") {
			t.Errorf("bind without nosuid,nodev: %q", line)
		}
	}
	if !strings.Contains(r.stdout, "/dev/.smolvm/smolvm ") || !strings.Contains(r.stdout, "/workspace ") {
		t.Errorf("no bind of the fake binary or the volume in mountinfo: %+v", r)
	}
	h := startMachine(t, Config{Name: "hostuser", HostUserland: true})
	r = sh(t, h, `awk '$5=="/usr" {print $6}' /proc/self/mountinfo`)
	if !strings.Contains(r.stdout, "nosuid") || !strings.Contains(r.stdout, "nodev") {
		t.Errorf("host /usr in the guest: %+v, want nosuid,nodev", r)
	}
}

// TestMountinfoPaths: the guest's mountinfo names no host path of its
// machine (data dir, image), for a bare and an image guest.
func TestMountinfoPaths(t *testing.T) {
	img := imageWithUser(t)
	for _, cfg := range []Config{{}, {ImageDir: img}} {
		d := startMachine(t, cfg)
		r := sh(t, d, "cat /proc/self/mountinfo")
		for _, host := range []string{d, img, filepath.Dir(d)} {
			if strings.Contains(r.stdout, host) {
				t.Errorf("image %q: mountinfo shows %s:\n%s", cfg.ImageDir, host, r.stdout)
			}
		}
		if !strings.Contains(r.stdout, " / / ") {
			t.Errorf("no root mount in %q", r.stdout)
		}
	}
}
