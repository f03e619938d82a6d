//go:build linux

package guest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// startTimeout bounds how long Start waits for the agent to report ready.
const startTimeout = 20 * time.Second

// unsupported checks what makes isolation impossible before anything runs.
func unsupported() error {
	if v, err := readInt("/proc/sys/user/max_user_namespaces"); err == nil && v == 0 {
		return fmt.Errorf("%w: user namespaces are disabled (user.max_user_namespaces=0); enable them with: sysctl -w user.max_user_namespaces=15000", ErrUnsupported)
	}
	if os.Geteuid() != 0 {
		if v, err := readInt("/proc/sys/kernel/unprivileged_userns_clone"); err == nil && v == 0 {
			return fmt.Errorf("%w: unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0); enable them with: sysctl -w kernel.unprivileged_userns_clone=1, or run as root", ErrUnsupported)
		}
		if v, err := readInt("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"); err == nil && v == 1 {
			return fmt.Errorf("%w: AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1); allow them with: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or run as root", ErrUnsupported)
		}
	}
	return nil
}

func readInt(p string) (int, error) {
	raw, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(raw)))
}

func startAgent(cfg Config) (int, func(), error) {
	nop := func() {}
	if err := unsupported(); err != nil {
		return 0, nil, err
	}
	if userlandOf(cfg) == userlandBusybox {
		if _, err := findBusybox(); err != nil {
			return 0, nil, err
		}
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return 0, nil, err
	}
	cfg.DataDir = dataDir
	if pid, ok := aliveAgent(dataDir); ok {
		return pid, nop, nil
	}
	if err := stopAgent(dataDir); err != nil {
		return 0, nil, err
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return 0, nil, fmt.Errorf("agent operation failed: start: %w", err)
	}
	// The agent is executed by path, not through /proc/self/exe: a binary
	// reached through our own exe link lives on a mount of the host's
	// namespace, which the agent could not bind into the guest. argv[0]
	// keeps our own base name, which is how testscript and the CLI
	// dispatch a re-executed binary; the data dir is the agent's working
	// directory, so its command line shows no host path.
	exe, err := os.Executable()
	if err != nil {
		exe = "/proc/self/exe"
	}
	ids := guestIDMap()
	if ids.remapped() {
		for _, c := range []struct {
			p   string
			exe bool
		}{{dataDir, false}, {exe, true}} {
			if err := reachableByAgent(c.p, c.exe); err != nil {
				return 0, nil, fmt.Errorf("agent operation failed: start: %w", err)
			}
		}
	}
	if err := prepareDataDir(dataDir, ids); err != nil {
		return 0, nil, fmt.Errorf("agent operation failed: start: %w", err)
	}
	raw, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dataDir, fileConfig), raw, 0o644); err != nil {
		return 0, nil, fmt.Errorf("agent operation failed: start: %w", err)
	}
	// The image's config goes beside it: the agent reads its data dir
	// only, and a remapped one could not reach an image below a
	// directory only its owner may search.
	imgCfg := filepath.Join(dataDir, fileImageConfig)
	os.Remove(imgCfg)
	if cfg.ImageDir != "" {
		raw, err := os.ReadFile(filepath.Join(cfg.ImageDir, "config.json"))
		if err == nil {
			err = os.WriteFile(imgCfg, raw, 0o644)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, nil, fmt.Errorf("agent operation failed: start: image config: %w", err)
		}
	}
	console, err := os.OpenFile(filepath.Join(dataDir, fileConsole), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, nil, fmt.Errorf("agent operation failed: start: %w", err)
	}
	defer console.Close()
	rd, wr, err := os.Pipe()
	if err != nil {
		return 0, nil, err
	}
	defer rd.Close()
	defer wr.Close()
	keepR, keepW, err := os.Pipe()
	if err != nil {
		return 0, nil, err
	}
	defer keepR.Close()
	// keepW outlives a start that succeeds (keep and fail own it then).
	started := false
	defer func() {
		if !started {
			keepW.Close()
		}
	}()

	// The agent's descriptors (see fdReady...): readiness, keep, the
	// owner's pidfd (or /dev/null), the host mounts' socket, the published
	// ports' listeners.
	env := agentEnv()
	if ids.remapped() {
		env = append(env, shiftEnv+"="+strconv.Itoa(ids.shift))
	}
	owner, err := os.Open(os.DevNull)
	if err != nil {
		return 0, nil, err
	}
	if pid, err := strconv.Atoi(os.Getenv(OwnerPIDEnv)); err == nil && pid > 0 {
		if fd, err := unix.PidfdOpen(pid, 0); err == nil {
			owner.Close()
			owner = os.NewFile(uintptr(fd), "owner")
			env = append(env, ownerFDEnv+"="+strconv.Itoa(fdOwner))
		}
	}
	defer owner.Close()
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, nil, err
	}
	mountsW, mountsR := os.NewFile(uintptr(sp[0]), "mounts"), os.NewFile(uintptr(sp[1]), "mounts")
	defer mountsW.Close()
	defer mountsR.Close()
	extra := []*os.File{wr, keepR, owner, mountsR}
	listeners, guestPorts, err := listenPorts(cfg)
	if err != nil {
		return 0, nil, err
	}
	for _, l := range listeners {
		defer l.Close()
		extra = append(extra, l)
	}
	env = append(env, agentFDsEnv+"="+strconv.Itoa(len(extra)))
	if len(guestPorts) > 0 {
		ps := make([]string, len(guestPorts))
		for i, g := range guestPorts {
			ps[i] = strconv.Itoa(int(g))
		}
		env = append(env, agentPortsEnv+"="+strings.Join(ps, ","))
	}

	flags := uintptr(syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWCGROUP)
	if !cfg.Network {
		flags |= syscall.CLONE_NEWNET
	}
	cmd := &exec.Cmd{
		Path:       exe,
		Args:       []string{filepath.Base(os.Args[0]), "__agent"},
		Dir:        dataDir,
		Env:        env,
		Stdout:     console,
		Stderr:     console,
		ExtraFiles: extra,
		SysProcAttr: &syscall.SysProcAttr{
			Setsid:                     true,
			Cloneflags:                 flags,
			UidMappings:                ids.uids,
			GidMappings:                ids.gids,
			GidMappingsEnableSetgroups: ids.setgroups,
		},
	}
	if ids.remapped() {
		// Host root is not an id of the agent's namespace: only ambient
		// capabilities survive its exec. It drops them for guest
		// processes (clearInheritedCaps).
		cmd.SysProcAttr.AmbientCaps = allCaps()
	}
	err = cmd.Start()
	mountsR.Close()
	wr.Close()
	keepR.Close()
	if err != nil {
		return 0, nil, fmt.Errorf("%w: cannot create the guest's namespaces: %v; allow user, mount and PID namespaces (sysctl user.max_user_namespaces, or run outside a restricted container)", ErrUnsupported, err)
	}
	started = true
	// Reap the agent if this process outlives it (tests); a CLI exits first.
	waited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(waited)
	}()
	var once sync.Once
	keep := func() {
		once.Do(func() {
			keepW.Write([]byte("go"))
			keepW.Close()
		})
	}
	// fail ends an agent that did not come up, and returns once it and
	// its guest are gone: a failed start leaves nothing running.
	fail := func() {
		once.Do(func() { keepW.Close() })
		cmd.Process.Kill()
		select {
		case <-waited:
		case <-time.After(10 * time.Second):
		}
	}

	if ids.remapped() {
		if err := sendHostMounts(mountsW, cmd.Process.Pid, cfg); err != nil {
			fail()
			return 0, nil, err
		}
	}
	mountsW.Close()

	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(rd).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	var status string
	select {
	case status = <-line:
	case <-time.After(startTimeout):
		status = "error: agent did not become ready"
	}
	if msg, ok := strings.CutPrefix(status, "fail: "); ok {
		fail()
		return 0, nil, fmt.Errorf("mount operation failed: mount volume: %s", msg)
	}
	if msg, ok := strings.CutPrefix(status, "ports: "); ok {
		fail()
		return 0, nil, fmt.Errorf("agent operation failed: start: %s", msg)
	}
	if !strings.HasPrefix(status, "ok ") {
		fail()
		msg := strings.TrimPrefix(status, "error: ")
		if status == "" {
			msg = "agent exited during setup (see " + filepath.Join(dataDir, fileConsole) + ")"
		}
		return 0, nil, fmt.Errorf("%w: guest setup failed: %s (the host must allow mounts inside user namespaces)", ErrUnsupported, msg)
	}
	os.WriteFile(filepath.Join(dataDir, fileReady), nil, 0o644)
	return cmd.Process.Pid, keep, nil
}

// agentEnv is the agent's whole environment: nothing of the caller's
// (which may hold secrets: a guest reaches values only through exec's -e),
// except the Go tooling settings the fake's own tests run under.
func agentEnv() []string {
	var env []string
	for _, k := range []string{"GORACE", "GOCOVERDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// agentPIDs lists the host PIDs of agents whose data dir satisfies match,
// from /proc: the command line names it, so no pid file is needed.
func agentPIDs(match func(dataDir string) bool) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if dir, ok := agentDataDir(pid); ok && match(dir) {
			out = append(out, pid)
		}
	}
	return out
}

// agentDataDir finds an agent's data dir: its command line is
// "PROG __agent", and its stdout is DATADIR/agent-console.log, opened on
// the host before the agent entered its namespaces.
func agentDataDir(pid int) (string, bool) {
	proc := "/proc/" + strconv.Itoa(pid)
	raw, err := os.ReadFile(proc + "/cmdline")
	if err != nil {
		return "", false
	}
	args := strings.Split(strings.TrimSuffix(string(raw), "\x00"), "\x00")
	if len(args) != 2 || args[1] != "__agent" {
		return "", false
	}
	console, err := os.Readlink(proc + "/fd/1")
	if err != nil {
		return "", false
	}
	console = strings.TrimSuffix(console, " (deleted)")
	if filepath.Base(console) != fileConsole {
		return "", false
	}
	return filepath.Dir(console), true
}

func stopAgent(dataDir string) error {
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	var pids []int
	if pid, err := readInt(filepath.Join(dataDir, filePid)); err == nil {
		if d, ok := agentDataDir(pid); ok && d == dataDir {
			pids = []int{pid}
		}
	}
	if pids == nil {
		pids = agentPIDs(func(d string) bool { return d == dataDir })
	}
	if err := killAndWait(pids); err != nil {
		return err
	}
	os.Remove(filepath.Join(dataDir, filePid))
	os.Remove(filepath.Join(dataDir, fileSock))
	return nil
}

func stopAllUnder(dir string) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return
	}
	killAndWait(agentPIDs(func(d string) bool { return d == dir || strings.HasPrefix(d, dir+"/") }))
}

// killAndWait SIGKILLs each agent (PID 1 of its guest, so the kernel ends
// every guest process with it) and waits until it is gone. An exited PID 1
// stays a zombie only after all of its namespace is gone.
func killAndWait(pids []int) error {
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue // already gone
		}
		unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		for {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(fds, int(time.Until(deadline)/time.Millisecond))
			if err == unix.EINTR {
				continue
			}
			if n == 1 || err != nil || time.Now().After(deadline) {
				break
			}
		}
		unix.Close(fd)
		if time.Now().After(deadline) {
			return fmt.Errorf("agent operation failed: stop: agent %d did not exit", pid)
		}
	}
	return nil
}

func aliveAgent(dataDir string) (int, bool) {
	c, err := dial(dataDir)
	if err != nil {
		return 0, false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	fw := &frameWriter{w: c}
	if err := sendRequest(fw, request{Op: "ping"}); err != nil {
		return 0, false
	}
	typ, p, err := readFrame(bufio.NewReader(c))
	if err != nil || typ != frameOK {
		return 0, false
	}
	pid, _ := strconv.Atoi(string(p))
	return pid, true
}

func dial(dataDir string) (*net.UnixConn, error) {
	var c *net.UnixConn
	err := withShortPath(dataDir, fileSock, func(p string) error {
		var err error
		c, err = net.DialUnix("unix", nil, &net.UnixAddr{Name: p, Net: "unix"})
		return err
	})
	return c, err
}

func sendRequest(fw *frameWriter, r request) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return fw.write(frameRequest, raw)
}

// lostMessage is the error when the agent goes away mid-command: smolvm's
// "connection to VM lost", under the operation name of each mode.
func lostMessage(m Mode) string {
	switch m {
	case Interactive, TTY:
		return "agent operation failed: vm exec interactive: connection to VM lost"
	case Stream:
		return "agent operation failed: streaming exec: connection to VM lost"
	case Detach:
		return "agent operation failed: vm exec background: connection to VM lost"
	default:
		return "agent operation failed: vm exec: connection to VM lost"
	}
}

func notRunning() error { return fmt.Errorf("agent operation failed: connect: %w", ErrNotRunning) }
