//go:build linux

package guest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// needRemap skips a test unless guests started here get shifted ids (the
// fake runs as root with the range in its user namespace).
func needRemap(t *testing.T) idMap {
	t.Helper()
	ids := guestIDMap()
	if !ids.remapped() {
		t.Skip("guest ids are shifted only when the fake runs as root")
	}
	if ids.shift != idShift {
		t.Fatalf("shift = %d, want %d", ids.shift, idShift)
	}
	return ids
}

func owner(t *testing.T, p string) string {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d:%d", st.Uid, st.Gid)
}

// procStatus reads the named fields of /proc/PID/status on the host.
func procStatus(t *testing.T, pid int, fields ...string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		k, v, ok := strings.Cut(line, ":")
		for _, f := range fields {
			if ok && k == f {
				out[k] = strings.Join(strings.Fields(v), " ")
			}
		}
	}
	return out
}

// TestGuestIDsShifted: as root, guest root is host uid 100000 and every
// guest id is shifted by as much: the files the guest creates in its tree
// are the range's on the host, the agent itself runs as guest root, and a
// host directory only host root may write or read stays so.
func TestGuestIDsShifted(t *testing.T) {
	needRemap(t)
	hostOnly := t.TempDir()
	write(t, filepath.Join(hostOnly, "key"), "host-key\n")
	os.Chmod(filepath.Join(hostOnly, "key"), 0o600)
	d := startMachine(t, Config{Mounts: []Mount{{Host: hostOnly, Guest: "/h"}}})

	if r := sh(t, d, "cat /proc/self/uid_map /proc/self/gid_map"); strings.Fields(r.stdout) == nil ||
		strings.Join(strings.Fields(r.stdout), " ") != "0 100000 65536 0 100000 65536" {
		t.Errorf("guest id maps: %+v", r)
	}
	r := sh(t, d, `echo 'dev:x:1000:1000::/:/bin/sh' >> /etc/passwd; echo 'dev:x:1000:' >> /etc/group
		touch /root/by-root; mkdir /workspace/dir; chmod 1777 /workspace; runuser -u dev -- touch /workspace/by-dev`)
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	// cp's owners are guest ids too.
	local := filepath.Join(t.TempDir(), "f")
	write(t, local, "x")
	if err := Copy(d, CopyRequest{Upload: true, LocalPath: local, GuestPath: "/workspace/copied", UID: u32(1000), GID: u32(1001)}, nil); err != nil {
		t.Fatal(err)
	}
	if err := Copy(d, CopyRequest{Upload: true, LocalPath: local, GuestPath: "/workspace/copied-root"}, nil); err != nil {
		t.Fatal(err)
	}
	if r := sh(t, d, "stat -c %u:%g /workspace/copied /workspace/copied-root"); r.stdout != "1000:1001\n0:0\n" {
		t.Errorf("uploaded owners in the guest: %+v", r)
	}
	for p, want := range map[string]string{
		"rootfs/workspace/copied":      "101000:101001",
		"rootfs/workspace/copied-root": "100000:100000",
		"rootfs/root/by-root":          "100000:100000",
		"rootfs/workspace/dir":         "100000:100000",
		"rootfs/workspace/by-dev":      "101000:101000",
		"rootfs/etc/passwd":            "100000:100000",
		"rootfs":                       "100000:100000",
	} {
		if got := owner(t, filepath.Join(d, p)); got != want {
			t.Errorf("host owner of %s = %s, want %s", p, got, want)
		}
	}

	// The agent is the guest's root on the host, and after its own exec
	// it handed no capability to the processes it spawns.
	pid, _ := Alive(d)
	if st := procStatus(t, pid, "Uid", "Gid", "Groups"); st["Uid"] != "100000 100000 100000 100000" ||
		st["Gid"] != "100000 100000 100000 100000" || st["Groups"] != "" {
		t.Errorf("agent credentials on the host: %v", st)
	}
	for _, user := range []string{"root", "dev"} {
		r := sh(t, d, "runuser -u "+user+" -- grep -E '^Cap(Inh|Amb|Prm|Eff)' /proc/self/status")
		caps := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			k, v, _ := strings.Cut(line, ":")
			caps[k] = strings.TrimSpace(v)
		}
		const none = "0000000000000000"
		if caps["CapInh"] != none || caps["CapAmb"] != none {
			t.Errorf("%s inherits capabilities: %+v", user, r)
		}
		if user == "dev" && (caps["CapPrm"] != none || caps["CapEff"] != none) {
			t.Errorf("a non-root guest user holds capabilities: %+v", r)
		}
		if user == "root" && caps["CapEff"] == none {
			t.Errorf("guest root holds no capability in its namespace: %+v", r)
		}
	}

	// A volume only host root may write: guest root cannot, nor read its
	// 0600 file; host root's files show as nobody.
	r = sh(t, d, "echo x > /h/planted; cat /h/key; stat -c %u:%g /h /h/key")
	if !strings.Contains(r.stderr, "/h/planted: Permission denied") || !strings.Contains(r.stderr, "/h/key': Permission denied") ||
		r.stdout != "65534:65534\n65534:65534\n" {
		t.Errorf("guest root in host root's volume: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(hostOnly, "planted")); err == nil {
		t.Error("guest root wrote host root's directory")
	}
}

// TestImageIDMapped: an image's files keep the owners the image gives
// them, as guest ids, although the flattened tree on the host is owned by
// host ids; a change copies the file up into the machine's layer, owned
// there by the shifted id, and leaves the image alone.
func TestImageIDMapped(t *testing.T) {
	needRemap(t)
	img := imageWithUser(t)
	write(t, filepath.Join(img, "rootfs/home/app/notes"), "image\n")
	os.Chown(filepath.Join(img, "rootfs/home/app/notes"), 1000, 1000)
	d := startMachine(t, Config{ImageDir: img})
	r := sh(t, d, "stat -c %u:%g /home/app/notes /etc/passwd; echo guest >> /home/app/notes; touch /home/app/new; id -u")
	if r.stdout != "1000:1000\n0:0\n1000\n" || r.code != 0 {
		t.Fatalf("image owners in the guest: %+v", r)
	}
	if got := owner(t, filepath.Join(d, "upper/home/app/notes")); got != "101000:101000" {
		t.Errorf("copied-up file on the host: %s, want 101000:101000", got)
	}
	if got := owner(t, filepath.Join(d, "upper/home/app/new")); got != "101000:101000" {
		t.Errorf("new file on the host: %s, want 101000:101000", got)
	}
	if _, err := os.Lstat(filepath.Join(d, dirImageCopy)); err == nil {
		t.Error("the image was copied, not id-mapped")
	}
	if b, _ := os.ReadFile(filepath.Join(img, "rootfs/home/app/notes")); string(b) != "image\n" {
		t.Errorf("the image changed: %q", b)
	}
	if got := owner(t, filepath.Join(img, "rootfs/home/app/notes")); got != "1000:1000" {
		t.Errorf("the image's owner changed: %s", got)
	}
}

// TestPrepareDataDir: the client makes the guest's directories and gives
// the writable ones to the guest's root; a tree from before the shift
// (owned by host ids) is shifted once, symlinks themselves and never
// their targets, and ids beyond the guest's range are kept.
func TestPrepareDataDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	ids := idMap{shift: idShift}
	d := t.TempDir()
	outside := filepath.Join(t.TempDir(), "outside")
	write(t, outside, "x")
	write(t, filepath.Join(d, "rootfs/etc/passwd"), "root:x:0:0\n")
	write(t, filepath.Join(d, "rootfs/home/app/f"), "x")
	os.Chown(filepath.Join(d, "rootfs/home/app/f"), 1000, 1001)
	write(t, filepath.Join(d, "rootfs/far"), "x")
	os.Chown(filepath.Join(d, "rootfs/far"), 70000, 70000)
	if err := os.Symlink(outside, filepath.Join(d, "rootfs/link")); err != nil {
		t.Fatal(err)
	}
	if err := prepareDataDir(d, ids); err != nil {
		t.Fatal(err)
	}
	// Only host root and the guest's root group may search the data
	// dir: the guest's tree (its setuid files too) is out of other host
	// users' reach.
	if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o710 || owner(t, d) != "0:100000" {
		t.Errorf("shifted data dir: %v %v %s, want 0710 0:100000", fi.Mode(), err, owner(t, d))
	}
	for p, want := range map[string]string{
		"rootfs": "100000:100000", "rootfs/etc/passwd": "100000:100000",
		"rootfs/home/app/f": "101000:101001", "rootfs/far": "70000:70000",
		"rootfs/link": "100000:100000", "upper": "100000:100000",
		"work": "100000:100000", "usrlocal": "100000:100000",
		"lower": "0:0", "merged": "0:0",
	} {
		if got := owner(t, filepath.Join(d, p)); got != want {
			t.Errorf("%s: %s, want %s", p, got, want)
		}
	}
	if got := owner(t, outside); got != "0:0" {
		t.Errorf("a symlink's target was shifted: %s", got)
	}
	// Once given, a tree is left alone, also when the guest gave its root
	// to another guest id: a guest file of host uid 100005 stays.
	os.Chown(filepath.Join(d, "rootfs/etc/passwd"), 100005, 100005)
	os.Chown(filepath.Join(d, "rootfs"), 100007, 100007)
	if err := prepareDataDir(d, ids); err != nil {
		t.Fatal(err)
	}
	if got := owner(t, filepath.Join(d, "rootfs/etc/passwd")); got != "100005:100005" {
		t.Errorf("a shifted tree was shifted again: %s", got)
	}
	if got := owner(t, filepath.Join(d, "rootfs")); got != "100007:100007" {
		t.Errorf("the guest's own root was given back: %s", got)
	}
	// Without a shift, the directories are made and nothing is chowned.
	plain := t.TempDir()
	os.Chmod(plain, 0o755)
	if err := prepareDataDir(plain, idMap{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{".", "rootfs", "upper", "work", "usrlocal", "lower", "merged"} {
		if got := owner(t, filepath.Join(plain, p)); got != "0:0" {
			t.Errorf("unshifted %s: %s", p, got)
		}
	}
	if fi, _ := os.Stat(plain); fi.Mode().Perm() != 0o755 {
		t.Errorf("unshifted data dir mode %v", fi.Mode())
	}
}

// TestMapsRange: whether a caller's own user namespace has the ids a
// guest's mapping needs, for each kind of caller.
func TestMapsRange(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, uidMap string
		base         int
		want         bool
	}{
		{"initial namespace", "0 0 4294967295\n", idShift, true},
		{"initial namespace from zero", "0 0 4294967295\n", 0, true},
		{"rootless container: root and a subordinate range", "0 1000 1\n1 100000 65536\n", idShift, false},
		{"rootless container from zero", "0 1000 1\n1 100000 65536\n", 0, false},
		{"container with 0-65535 only", "0 0 65536\n", idShift, false},
		{"container with 0-65535 only, from zero", "0 0 65536\n", 0, true},
		{"range one short", "0 0 165535\n", idShift, false},
		{"range exactly", "100000 5 65536\n", idShift, true},
		{"garbage", "x y z\n", 0, false},
	}
	for i, tc := range tests {
		p := filepath.Join(dir, strconv.Itoa(i))
		write(t, p, tc.uidMap)
		if got := mapsRange(p, tc.base); got != tc.want {
			t.Errorf("%s: mapsRange(%q, %d) = %v, want %v", tc.name, tc.uidMap, tc.base, got, tc.want)
		}
	}
}

// TestVolumeMissing: a volume whose host directory is gone by the start
// fails it with smolvm's mount error, and no agent stays, whichever side
// opens volumes (the client for shifted ids, else the agent).
func TestVolumeMissing(t *testing.T) {
	gone := filepath.Join(t.TempDir(), "gone")
	d := filepath.Join(t.TempDir(), "vm")
	t.Cleanup(func() { StopAllUnder(d) })
	_, err := Start(Config{Name: "testvm", DataDir: d, Mounts: []Mount{{Host: gone, Guest: "/data"}}})
	if err == nil || err.Error() != "mount operation failed: mount volume: "+gone+": no such file or directory" {
		t.Errorf("start with a missing volume: %v", err)
	}
	if _, ok := Alive(d); ok {
		t.Error("agent runs after a failed start")
	}
	if pids := agentPIDs(func(dir string) bool { return dir == d }); len(pids) != 0 {
		t.Errorf("agents left: %v", pids)
	}
}

// TestImageCopyWhereNotIDMappable: an image on a filesystem that cannot
// be id-mapped (overlayfs, as a container's root is) runs from the
// machine's own copy with shifted owners, made once and kept: the guest
// sees the image's owners, modes, links and times as on an id-mapped
// image.
func TestImageCopyWhereNotIDMappable(t *testing.T) {
	needRemap(t)
	img := imageWithUser(t)
	notes := filepath.Join(img, "rootfs/home/app/notes")
	write(t, notes, "image\n")
	os.Chown(notes, 1000, 1000)
	os.Chmod(notes, 0o640)
	if err := os.Link(notes, filepath.Join(img, "rootfs/home/app/notes-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("notes", filepath.Join(img, "rootfs/home/app/notes-sym")); err != nil {
		t.Fatal(err)
	}
	os.Lchown(filepath.Join(img, "rootfs/home/app/notes-sym"), 1000, 1000)
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	os.Chtimes(notes, old, old)

	// The image seen through an overlay mount on the host.
	base := t.TempDir()
	over := filepath.Join(base, "img")
	for _, d := range []string{"img", "upper", "work"} {
		os.Mkdir(filepath.Join(base, d), 0o755)
	}
	if err := unix.Mount("overlay", over, "overlay", 0, "lowerdir="+img+",upperdir="+filepath.Join(base, "upper")+",workdir="+filepath.Join(base, "work")); err != nil {
		t.Skipf("cannot mount an overlay here: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(over, unix.MNT_DETACH) })

	d := startMachine(t, Config{ImageDir: over})
	r := sh(t, d, "stat -c '%u:%g %a %h %Y' /home/app/notes /home/app/notes-link; stat -c %u:%g /etc/passwd /home/app; readlink /home/app/notes-sym; echo guest >> /home/app/notes; id -u")
	want := fmt.Sprintf("1000:1000 640 2 %d\n1000:1000 640 2 %d\n0:0\n1000:1000\nnotes\n1000\n", old.Unix(), old.Unix())
	if r.stdout != want || r.code != 0 {
		t.Fatalf("image copy in the guest: %+v, want stdout %q", r, want)
	}
	copied := filepath.Join(d, dirImageCopy)
	if got := owner(t, filepath.Join(copied, "home/app/notes")); got != "101000:101000" {
		t.Errorf("the copy's owner on the host: %s", got)
	}
	if got := owner(t, filepath.Join(copied, "home/app/notes-sym")); got != "101000:101000" {
		t.Errorf("the copy's symlink owner on the host: %s", got)
	}
	if b, _ := os.ReadFile(notes); string(b) != "image\n" {
		t.Errorf("the image changed: %q", b)
	}
	// A second start keeps the copy (and the guest's change).
	var st1, st2 unix.Stat_t
	unix.Stat(filepath.Join(copied, "home/app/notes"), &st1)
	Stop(d)
	if _, err := Start(Config{Name: "testvm", DataDir: d, ImageDir: over}); err != nil {
		t.Fatal(err)
	}
	unix.Stat(filepath.Join(copied, "home/app/notes"), &st2)
	if st1.Ino != st2.Ino {
		t.Error("the copy was made again")
	}
	if r := sh(t, d, "cat /home/app/notes"); r.stdout != "image\nguest\n" {
		t.Errorf("after a restart: %+v", r)
	}
}

// TestReachableByAgent: what a remapped agent, host root without root's
// override of permissions, can walk to and execute.
func TestReachableByAgent(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	base := t.TempDir()
	mk := func(p string, uid int, mode os.FileMode) string {
		p = filepath.Join(base, p)
		if err := os.Mkdir(p, mode); err != nil {
			t.Fatal(err)
		}
		os.Chown(p, uid, uid)
		os.Chmod(p, mode)
		return p
	}
	rootOnly := mk("root0700", 0, 0o700)
	alice := mk("alice0750", 1234, 0o750)
	aliceOpen := mk("alice0751", 1234, 0o751)
	bin := filepath.Join(aliceOpen, "bin")
	write(t, bin, "x")
	os.Chown(bin, 1234, 1234)
	os.Chmod(bin, 0o750)
	tests := []struct {
		p       string
		exe     bool
		wantErr string
	}{
		{filepath.Join(rootOnly, "vm"), false, ""},
		{rootOnly, false, ""},
		{filepath.Join(alice, "vm"), false, alice + " (owner 1234, group 1234, mode 0750) cannot be searched"},
		{filepath.Join(aliceOpen, "vm"), false, ""},
		{bin, true, bin + " (owner 1234, group 1234, mode 0750) cannot be executed"},
		{filepath.Join(alice, "bin"), true, alice + " (owner 1234, group 1234, mode 0750) cannot be searched"},
	}
	os.Mkdir(filepath.Join(rootOnly, "vm"), 0o755)
	os.Mkdir(filepath.Join(alice, "vm"), 0o755)
	write(t, filepath.Join(alice, "bin"), "x")
	os.Mkdir(filepath.Join(aliceOpen, "vm"), 0o755)
	for _, tc := range tests {
		err := reachableByAgent(tc.p, tc.exe)
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.wantErr)) {
			t.Errorf("reachableByAgent(%s, %v) = %v, want %q", tc.p, tc.exe, err, tc.wantErr)
		}
	}
}

// TestStartUnreachableDataDir: a data dir the remapped agent could not
// reach fails the start with one line that names the directory in the
// way, and no agent runs.
func TestStartUnreachableDataDir(t *testing.T) {
	needRemap(t)
	alice := filepath.Join(t.TempDir(), "alice")
	if err := os.Mkdir(alice, 0o750); err != nil {
		t.Fatal(err)
	}
	os.Chown(alice, 1234, 1234)
	d := filepath.Join(alice, "vm")
	t.Cleanup(func() { StopAllUnder(d) })
	_, err := Start(Config{Name: "testvm", DataDir: d})
	want := "agent operation failed: start: " + alice + " (owner 1234, group 1234, mode 0750) cannot be searched by a guest's agent"
	if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Errorf("start: %v, want %q...", err, want)
	}
	if pids := agentPIDs(func(dir string) bool { return dir == d }); len(pids) != 0 {
		t.Errorf("agents left: %v", pids)
	}
	// Searchable by others, the same directory does for a data dir.
	os.Chmod(alice, 0o751)
	if _, err := Start(Config{Name: "testvm", DataDir: d}); err != nil {
		t.Fatalf("start below a directory others may search: %v", err)
	}
	if r := sh(t, d, "id -u"); r.stdout != "0\n" {
		t.Errorf("exec: %+v", r)
	}
}

// TestImageBelowPrivateDir: a remapped guest runs an image kept below a
// directory only another user may search: the client mounts it and copies
// its config, so the agent never walks there.
func TestImageBelowPrivateDir(t *testing.T) {
	needRemap(t)
	img := imageWithUser(t)
	alice := filepath.Join(t.TempDir(), "alice")
	if err := os.Mkdir(alice, 0o750); err != nil {
		t.Fatal(err)
	}
	os.Chown(alice, 1234, 1234)
	moved := filepath.Join(alice, "img")
	if err := os.Rename(img, moved); err != nil {
		t.Fatal(err)
	}
	d := startMachine(t, Config{ImageDir: moved})
	if r := sh(t, d, "id -un; pwd; echo $IMG"); r.stdout != "app\n/home/app\n1\n" {
		t.Errorf("image config through the client: %+v", r)
	}
}
