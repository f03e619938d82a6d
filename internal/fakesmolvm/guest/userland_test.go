//go:build linux

package guest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBareUserland: a bare guest is Alpine-like, a static busybox and the
// table's commands, and nothing else of the host.
func TestBareUserland(t *testing.T) {
	d := startMachine(t, Config{})
	tests := []struct {
		name, reason, script, want string
	}{
		{"sh is busybox", "/bin/sh is busybox ash, a link to /bin/busybox",
			"readlink /bin/sh; test -f /bin/busybox && echo file; sh -c 'echo $0'", "/bin/busybox\nfile\nsh\n"},
		{"os-release", "Alpine 3.19", "grep -E '^(ID|VERSION_ID)=' /etc/os-release; cat /etc/alpine-release", "ID=alpine\nVERSION_ID=3.19.0\n3.19.0\n"},
		{"no host tools", "none of the host's userland beyond the table",
			"for c in bash python3 python perl git curl gcc cc make dash apt-get; do command -v $c; done; echo end", "end\n"},
		{"bash not found", "bash is not found, with busybox's message", "bash -c true 2>&1; echo $?", "sh: bash: not found\n127\n"},
		{"applets", "busybox applets are on PATH", "for c in awk sed grep stat find tar wget; do command -v $c >/dev/null || echo missing $c; done; echo ok", "ok\n"},
		{"apk offline", "apk add fails as apk-tools does without a reachable repository",
			"apk add jq 2>&1; echo $?",
			"fetch https://dl-cdn.alpinelinux.org/alpine/v3.19/main/" + arch() + "/APKINDEX.tar.gz\n" +
				"WARNING: updating and opening https://dl-cdn.alpinelinux.org/alpine/v3.19/main: temporary error (try again later)\n" +
				"fetch https://dl-cdn.alpinelinux.org/alpine/v3.19/community/" + arch() + "/APKINDEX.tar.gz\n" +
				"WARNING: updating and opening https://dl-cdn.alpinelinux.org/alpine/v3.19/community: temporary error (try again later)\n" +
				"ERROR: unable to select packages:\n  jq (no such package):\n    required by: world[jq]\n1\n"},
		{"runuser", "util-linux's runuser is at Alpine's path", "command -v runuser", "/usr/sbin/runuser\n"},
		{"passwd", "root is the only user", "cat /etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if r := sh(t, d, tc.script); r.stdout != tc.want || r.err != nil {
				t.Errorf("%s: got %+v, want stdout %q", tc.reason, r, tc.want)
			}
		})
	}
	// Every command of the table whose host binary exists runs in the guest,
	// at its Alpine path; libraries it needs are there with it. (By name,
	// sh may run busybox's applet of the same name: Debian's static
	// busybox prefers its applets.)
	for _, b := range hostCommandBinds() {
		if strings.Contains(b.guest, "/lib") {
			continue
		}
		name := filepath.Base(b.guest)
		t.Run("table/"+name, func(t *testing.T) {
			r := sh(t, d, "test -x "+b.guest+" || echo missing; "+b.guest+" --version 2>&1 </dev/null | grep -E 'error while loading|not found|Exec format|Permission denied'; echo done")
			if r.stdout != "done\n" {
				t.Errorf("%s from %s: %+v", name, b.host, r)
			}
		})
	}
	if _, err := os.Stat("/usr/bin/jq"); err == nil {
		if r := sh(t, d, `echo '{"a":[1,2]}' | jq -c .a`); r.stdout != "[1,2]\n" {
			t.Errorf("jq from the host: %+v", r)
		}
	}
}

func arch() string {
	raw, _ := os.ReadFile("/proc/sys/kernel/arch")
	if a := strings.TrimSpace(string(raw)); a != "" {
		return a
	}
	return "x86_64"
}

// TestHostUserland: the opt-in keeps the host's userland for bare guests.
func TestHostUserland(t *testing.T) {
	d := startMachine(t, Config{HostUserland: true})
	r := sh(t, d, `test -x /usr/bin/env && echo env; test "$(readlink -f /bin/sh)" != /bin/busybox && echo host-sh; command -v runuser; grep ^ID= /etc/os-release`)
	if r.stdout != "env\nhost-sh\n/usr/local/sbin/runuser\nID=alpine\n" {
		t.Errorf("host userland: %+v", r)
	}
	if rep := Doctor(true); !strings.Contains(strings.Join(rep.Lines, "\n"), "bare guest userland: the host's ("+HostUserlandEnv+"=1)") {
		t.Errorf("doctor does not say the host userland is in use: %q", rep.Lines)
	}
	if rep := Doctor(false); !strings.Contains(strings.Join(rep.Lines, "\n"), "bare guest userland: Alpine-like, static busybox") {
		t.Errorf("doctor does not say the busybox userland is in use: %q", rep.Lines)
	}
}

// TestNoBusybox: without a static busybox, a bare start fails with one
// line naming the package, and nothing runs.
func TestNoBusybox(t *testing.T) {
	saved := busyboxCandidates
	t.Cleanup(func() { busyboxCandidates = saved })
	busyboxCandidates = []string{filepath.Join(t.TempDir(), "none")}
	d := filepath.Join(t.TempDir(), "vm")
	t.Cleanup(func() { StopAllUnder(d) })
	_, err := Start(Config{Name: "nobb", DataDir: d})
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "busybox-static") {
		t.Fatalf("Start without busybox: %v", err)
	}
	if _, ok := Alive(d); ok {
		t.Error("an agent runs")
	}
}

// TestLongName: a name smolvm accepts (128 characters, mixed case) always
// starts; the hostname follows smolvm's rule.
func TestLongName(t *testing.T) {
	for _, tc := range []struct{ name, host string }{
		{strings.Repeat("a", 63), strings.Repeat("a", 63)},
		{strings.Repeat("a", 64), "container"},
		{strings.Repeat("b", 100), "container"},
		{"A" + strings.Repeat("b", 127), "container"},
		{"my_vm", "container"},
		{"web-1", "web-1"},
	} {
		d := startMachine(t, Config{Name: tc.name})
		if r := sh(t, d, "hostname; cat /etc/hostname"); r.stdout != tc.host+"\n"+tc.host+"\n" {
			t.Errorf("name %q: %+v, want hostname %q", tc.name, r, tc.host)
		}
	}
}
