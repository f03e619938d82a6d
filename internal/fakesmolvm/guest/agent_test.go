//go:build linux

package guest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAgentSurvivesSignals: guest root sends its PID 1 every signal, one at
// a time; the agent must neither die nor dump a Go crash, and keep serving.
func TestAgentSurvivesSignals(t *testing.T) {
	d := startMachine(t, Config{})
	pid, ok := Alive(d)
	if !ok {
		t.Fatal("agent not answering")
	}
	for sig := 1; sig <= 64; sig++ {
		name := strconv.Itoa(sig)
		if s := syscall.Signal(sig).String(); !strings.HasPrefix(s, "signal ") {
			name += " " + s
		}
		r := sh(t, d, fmt.Sprintf("kill -%d 1; echo $?", sig))
		if r.err != nil || r.stdout != "0\n" {
			// KILL and STOP from inside the namespace are discarded by
			// the kernel, but kill(2) itself still succeeds.
			t.Fatalf("signal %s: guest kill failed: %+v", name, r)
		}
		if got, ok := Alive(d); !ok || got != pid {
			t.Fatalf("signal %s: the agent died", name)
		}
	}
	console, _ := os.ReadFile(filepath.Join(d, fileConsole))
	if bytes.Contains(console, []byte("goroutine ")) || bytes.Contains(console, []byte("panic")) {
		t.Fatalf("agent console shows a crash:\n%s", console)
	}
}

// TestAgentClosesInheritedFDs: a descriptor the starting process inherited
// (a shell's pipe, a host directory) is closed in the agent, so no guest
// process reaches it and a reader of the pipe is not held open for the
// machine's life.
func TestAgentClosesInheritedFDs(t *testing.T) {
	hostDir, _ := hostSecret(t)
	dirFD, err := syscall.Open(hostDir, syscall.O_RDONLY|syscall.O_DIRECTORY, 0) // inheritable
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(dirFD)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := syscall.Dup3(int(w.Fd()), 201, 0); err != nil {
		t.Fatal(err)
	}
	d := startMachine(t, Config{})
	syscall.Close(201)
	w.Close()

	// The pipe's only writer left was the agent: the read must see EOF.
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(r); err != nil {
		t.Fatalf("the agent keeps the inherited pipe open: %v", err)
	}
	pid, _ := Alive(d)
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name())); strings.HasPrefix(l, hostDir) {
			t.Errorf("agent holds fd %s -> %s", e.Name(), l)
		}
	}
	res := sh(t, d, fmt.Sprintf("ls /proc/self/fd/%d /proc/1/fd/%d 2>&1; cat /proc/self/fd/%d/secret /proc/1/fd/%d/secret 2>&1", dirFD, dirFD, dirFD, dirFD))
	if strings.Contains(res.stdout, "host-secret") {
		t.Fatalf("guest reached the inherited directory: %q", res.stdout)
	}
}

// TestAgentEnvironment: the agent keeps nothing of its starter's
// environment, so a guest symlink to /proc/1/environ, downloaded with cp,
// carries no host secret; and its command line shows no host path.
func TestAgentEnvironment(t *testing.T) {
	t.Setenv("SMOLVM_TEST_SECRET", "s3cr3t-host-value")
	d := startMachine(t, Config{})
	if r := sh(t, d, "ln -s /proc/1/environ /root/env && ln -s /proc/1/cmdline /root/cmd"); r.code != 0 {
		t.Fatalf("symlink: %+v", r)
	}
	for _, g := range []string{"/root/env", "/proc/1/environ"} {
		local := filepath.Join(t.TempDir(), "env")
		if err := Copy(d, CopyRequest{LocalPath: local, GuestPath: g}, nil); err != nil {
			t.Logf("cp %s: %v", g, err)
			continue
		}
		b, _ := os.ReadFile(local)
		if bytes.Contains(b, []byte("s3cr3t")) || bytes.Contains(b, []byte(d)) {
			t.Fatalf("cp of %s hands over the host environment: %q", g, b)
		}
	}
	r := sh(t, d, "tr '\\0' ' ' < /proc/1/cmdline; echo; cat /root/cmd")
	if r.code != 0 || !strings.Contains(r.stdout, "__agent") {
		t.Fatalf("cmdline: %+v", r)
	}
	if strings.Contains(r.stdout, "/") {
		t.Fatalf("the guest's /proc/1/cmdline shows a host path: %q", r.stdout)
	}
}

// TestStartHeld: an agent started by a client that dies before keep ends
// by itself; after keep it outlives the client.
func TestStartHeld(t *testing.T) {
	exe, _ := os.Executable()
	for _, keep := range []bool{false, true} {
		t.Run("keep="+strconv.FormatBool(keep), func(t *testing.T) {
			d := filepath.Join(t.TempDir(), "vm")
			t.Cleanup(func() { StopAllUnder(d) })
			cmd := exec.Command(exe, "__start_held", d, strconv.FormatBool(keep))
			cmd.Env = append(os.Environ(), OwnerPIDEnv+"="+strconv.Itoa(os.Getpid()))
			out, err := cmd.Output()
			pid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
			if err == nil || pid == 0 {
				t.Fatalf("client: %v, output %q", err, out)
			}
			if !keep {
				waitFor(t, "the unkept agent to end", func() bool { return syscall.Kill(pid, 0) == syscall.ESRCH })
				return
			}
			time.Sleep(300 * time.Millisecond)
			if got, ok := Alive(d); !ok || got != pid {
				t.Fatalf("kept agent %d gone after its client died", pid)
			}
		})
	}
}

// freePort returns a TCP port free on the host's loopback right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// echoThrough connects to the host port and returns what the guest's echo
// server sends back for msg ("" when the connection ends without data).
func echoThrough(port int, msg string) (string, error) {
	return echoAt("127.0.0.1", port, msg)
}

func echoAt(host string, port int, msg string) (string, error) {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(port)), 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		return "", err
	}
	c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	return string(b), err
}

// TestPublishedPorts: a connection to -p's host port reaches a server on
// the guest's port, with and without the host network, and nothing listens
// on the host port once the machine is stopped.
func TestPublishedPorts(t *testing.T) {
	if _, err := exec.LookPath("busybox"); err != nil {
		t.Skip("the guest's TCP server is busybox nc: install busybox-static")
	}
	for _, network := range []bool{false, true} {
		t.Run("net="+strconv.FormatBool(network), func(t *testing.T) {
			host := freePort(t)
			guestPort := 7000
			if network {
				guestPort = freePort(t) // the guest shares the host's ports
			}
			d := startMachine(t, Config{Network: network, Ports: []Port{{Host: uint16(host), Guest: uint16(guestPort)}}})
			srv := fmt.Sprintf("busybox nc -ll -p %d -e /bin/cat", guestPort)
			if r := run(t, d, ExecRequest{Argv: []string{"sh", "-c", srv}, Mode: Detach}, nil); r.err != nil {
				t.Fatalf("guest server: %+v", r)
			}
			var got string
			waitFor(t, "the guest server through the host port", func() bool {
				got, _ = echoThrough(host, "ping\n")
				return got != ""
			})
			if got != "ping\n" {
				t.Fatalf("through host port %d: got %q, want the guest's echo", host, got)
			}
			// Also on the IPv6 loopback, where the host has one.
			if ln, err := net.Listen("tcp6", "[::1]:0"); err == nil {
				ln.Close()
				if got, err := echoAt("::1", host, "ping6\n"); got != "ping6\n" {
					t.Fatalf("through [::1]:%d: got %q (%v), want the guest's echo", host, got, err)
				}
			}
			if err := Stop(d); err != nil {
				t.Fatal(err)
			}
			if _, err := net.DialTimeout("tcp4", "127.0.0.1:"+strconv.Itoa(host), time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("host port %d after stop: %v, want connection refused", host, err)
			}
		})
	}
}

// TestPublishedPortInUse: a host port something else listens on fails the
// start with one line, and no agent is left.
func TestPublishedPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	d := filepath.Join(t.TempDir(), "vm")
	t.Cleanup(func() { StopAllUnder(d) })
	_, err = Start(Config{Name: "p", DataDir: d, Ports: []Port{{Host: uint16(port), Guest: 80}}})
	want := fmt.Sprintf("agent operation failed: start: publish host port %d: bind: address already in use", port)
	if err == nil || err.Error() != want {
		t.Fatalf("Start with a busy host port: %v, want %q", err, want)
	}
	if _, ok := Alive(d); ok {
		t.Fatal("an agent runs after the failed start")
	}
}
