//go:build linux

package guest

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestUnprivilegedHost runs TestUnprivilegedScenario as an ordinary host
// user (nobody), where the guest's root is that user and the only id.
func TestUnprivilegedHost(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("already unprivileged: every other test covers this case")
	}
	// A world-traversable place for the binary and the data dir.
	base, err := os.MkdirTemp("", "guest-unpriv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { StopAllUnder(base); os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	exe, _ := os.Executable()
	bin := filepath.Join(base, "guest.test")
	copyFile(t, exe, bin, 0o755)
	work := filepath.Join(base, "work")
	os.Mkdir(work, 0o777)
	os.Chmod(work, 0o777)
	write(t, filepath.Join(base, "secret"), "host-secret\n")

	cmd := exec.Command(bin, "-test.run=^TestUnprivilegedScenario$", "-test.v")
	cmd.Env = append(os.Environ(), "GUEST_UNPRIV_WORK="+work, "GUEST_UNPRIV_SECRET="+filepath.Join(base, "secret"))
	cmd.Dir = work
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil || !strings.Contains(string(out), "--- PASS: TestUnprivilegedScenario") {
		t.Fatalf("scenario as nobody failed: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(base, "secret")); string(b) != "host-secret\n" {
		t.Errorf("host file changed: %q", b)
	}
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestUnprivilegedScenario(t *testing.T) {
	work, secret := os.Getenv("GUEST_UNPRIV_WORK"), os.Getenv("GUEST_UNPRIV_SECRET")
	if work == "" {
		t.Skip("run by TestUnprivilegedHost")
	}
	d := filepath.Join(work, "vm")
	t.Cleanup(func() { StopAllUnder(d) })
	pid, err := Start(Config{Name: "unpriv", DataDir: d})
	if err != nil {
		t.Fatalf("Start as uid %d: %v", os.Geteuid(), err)
	}
	rep := Doctor(false)
	if !rep.Supported || !strings.Contains(strings.Join(rep.Lines, "\n"), "runuser to other users fails") {
		t.Errorf("Doctor as non-root: %+v", rep)
	}
	tests := []struct{ name, script, want string }{
		{"guest root", "id -u; cat /etc/os-release | grep -c Alpine; echo x > /etc/x && cat /etc/x", "0\n2\nx\n"},
		{"runuser", "echo 'app:x:1000:1000::/:/bin/sh' >> /etc/passwd; runuser -u app -- id 2>&1; echo $?", "runuser: cannot set groups: Operation not permitted\n1\n"},
		{"host file", "cat " + secret + " /proc/1/root" + secret + " 2>/dev/null; echo $?", "1\n"},
		{"fake binary read-only", "echo x >> /dev/.smolvm/smolvm 2>/dev/null; echo $?", "1\n"},
	}
	for _, tc := range tests {
		if r := sh(t, d, tc.script); r.stdout != tc.want {
			t.Errorf("%s: got %+v, want %q", tc.name, r, tc.want)
		}
	}
	local := filepath.Join(work, "up")
	write(t, local, "payload")
	if err := Copy(d, CopyRequest{Upload: true, LocalPath: local, GuestPath: "/root/up"}, nil); err != nil {
		t.Fatal(err)
	}
	if r := sh(t, d, "cat /root/up"); r.stdout != "payload" {
		t.Errorf("cp as non-root: %+v", r)
	}
	if err := Stop(d); err != nil {
		t.Fatal(err)
	}
	// Stop finds the agent as this user too: it exits (Start's reaper then
	// collects it, so poll for the PID to go).
	waitFor(t, "the stopped agent to be gone", func() bool { return syscall.Kill(pid, 0) == syscall.ESRCH })
}
