//go:build linux

package guest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestImage(t *testing.T) {
	img := imageWithUser(t)
	write(t, filepath.Join(img, "rootfs/usr/local/bin/hello"), "#!/bin/sh\necho hello from image\n")
	os.Chmod(filepath.Join(img, "rootfs/usr/local/bin/hello"), 0o755)
	d := startMachine(t, Config{ImageDir: img, Env: []string{"REC=r"}})
	tests := []struct {
		name, reason, script, want string
		req                        ExecRequest
	}{
		{name: "user", reason: "exec runs as the image's user by default",
			script: "id -un; id -u; id -g; echo $HOME", want: "app\n1000\n1000\n/home/app\n"},
		{name: "workdir", reason: "the image workdir is the default cwd", script: "pwd", want: "/home/app\n"},
		{name: "env", reason: "image env then record env", script: "echo $IMG$REC", want: "1r\n"},
		{name: "usr local", reason: "the image can install into /usr/local", script: "hello", want: "hello from image\n"},
		{name: "image files only", reason: "an image guest has the image's root filesystem only: no os-release, runuser or host tool it lacks",
			script: "for f in /etc/os-release /usr/bin/bash /usr/bin/python3 /bin/dash; do test -e $f && echo $f; done; runuser -u root -- id; echo $?", want: "127\n"},
		{name: "hostname", reason: "/etc/hostname and /etc/hosts are written for the container", script: "cat /etc/hostname; hostname", want: "testvm\ntestvm\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if r := sh(t, d, tc.script); r.stdout != tc.want || r.err != nil {
				t.Errorf("%s: got %+v, want stdout %q", tc.reason, r, tc.want)
			}
		})
	}
}

func TestRunuser(t *testing.T) {
	d := startMachine(t, Config{})
	if r := sh(t, d, `echo 'app:x:1000:1000:app:/home/app:/bin/sh' >> /etc/passwd; echo 'app:x:1000:' >> /etc/group; echo 'wheel:x:10:app' >> /etc/group`); r.code != 0 {
		t.Fatalf("%+v", r)
	}
	tests := []struct {
		name, reason, script, want string
	}{
		{"switch", "runuser runs CMD as USER from the guest passwd, HOME/USER untouched",
			`USER=root runuser -u app -- sh -c 'id -un; id -u; id -G; echo $HOME $USER'`, "app\n1000\n1000 10\n/root root\n"},
		{"no dashdash", "the -- is optional", "runuser -u app id -un", "app\n"},
		{"unknown user", "an unknown user is refused",
			"runuser -u nobody2 -- id 2>&1; echo $?", "runuser: user nobody2 does not exist\n1\n"},
		{"exit code", "CMD's status passes through", "runuser -u app -- sh -c 'exit 7'; echo $?", "7\n"},
		{"missing cmd", "a missing CMD is 127", "runuser -u app -- nope 2>&1; echo $?", "runuser: failed to execute nope: No such file or directory\n127\n"},
		{"cannot write root files", "the switched user is not root",
			"runuser -u app -- sh -c 'echo x > /etc/passwd' 2>/dev/null; echo $?", "1\n"},
		{"nested refused", "a runuser'd user cannot runuser back",
			"runuser -u app -- runuser -u root -- id 2>&1", "runuser: may not be used by non-root users\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if r := sh(t, d, tc.script); r.stdout != tc.want {
				t.Errorf("%s: got %+v, want stdout %q", tc.reason, r, tc.want)
			}
		})
	}
}

func TestDoctor(t *testing.T) {
	r := Doctor(false)
	if !r.Supported {
		t.Fatalf("Doctor says unsupported on a host where every other test starts guests: %q", r.Lines)
	}
	if len(r.Lines) == 0 || r.Lines[0] != "creating user, mount, pid, uts, ipc, cgroup and net namespaces: ok" {
		t.Errorf("Doctor lines %q", r.Lines)
	}
	// It says how guest ids map, which decides what a volume needs.
	want := "running as uid "
	switch ids := guestIDMap(); {
	case ids.remapped():
		want = "running as root: guest uids/gids 0-65535 map to host 100000-165535"
	case ids.fullRange():
		want = "running as root of a user namespace without host ids 100000-165535"
	}
	found := false
	for _, l := range r.Lines {
		found = found || strings.HasPrefix(l, want)
	}
	if !found {
		t.Errorf("Doctor lines %q: none starts %q", r.Lines, want)
	}
}

func TestImageUserForms(t *testing.T) {
	for _, tc := range []struct {
		spec, want, reason string
	}{
		{"", "0 0", "no user: root"},
		{"app", "1000 1000", "a name from the image's passwd"},
		{"1000", "1000 1000", "a uid"},
		{"app:wheel", "1000 10", "name:group-name"},
		{"1000:10", "1000 10", "uid:gid"},
		{"4242", "4242 4242", "a uid without a passwd entry"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			img := imageWithUser(t)
			write(t, filepath.Join(img, "rootfs/etc/group"), "root:x:0:root\napp:x:1000:\nwheel:x:10:\n")
			write(t, filepath.Join(img, "config.json"), `{"user":"`+tc.spec+`"}`)
			d := startMachine(t, Config{ImageDir: img})
			if r := sh(t, d, "echo $(id -u) $(id -g)"); r.stdout != tc.want+"\n" {
				t.Errorf("%s: got %+v, want %q", tc.reason, r, tc.want)
			}
		})
	}
	img := imageWithUser(t)
	write(t, filepath.Join(img, "config.json"), `{"user":"ghost"}`)
	d := startMachine(t, Config{ImageDir: img})
	if r := sh(t, d, "true"); r.err == nil || r.err.Error() != "agent operation failed: vm exec: failed to spawn command: No such file or directory (os error 2)" {
		t.Errorf("unknown image user: %+v", r)
	}
}
