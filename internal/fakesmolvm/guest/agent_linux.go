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
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Files in a machine's data dir.
const (
	fileSock    = "agent.sock"
	filePid     = "agent.pid"
	fileConsole = "agent-console.log"
	fileConfig  = "agent.json"
	fileReady   = "guest.ready" // the guest tree has been populated (first start done)
	dirRootfs   = "rootfs"      // the guest's own tree: /etc, /root, /home, /workspace, /var...
	dirUsrLocal = "usrlocal"    // the guest's /usr/local, mounted over the read-only host /usr
)

// Paths inside the guest that the agent sets up.
const (
	guestExeDir  = "/dev/.smolvm"          // tmpfs, recreated each start
	guestExe     = guestExeDir + "/smolvm" // the fake binary, bind-mounted read-only
	guestImage   = guestExeDir + "/image"  // image rootfs, mounted during the first start only
	guestRunuser = "/usr/local/sbin/runuser"
	guestPATH    = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// imageConfig is ImageDir/config.json.
type imageConfig struct {
	Env     []string `json:"env"`
	Workdir string   `json:"workdir"`
	User    string   `json:"user"`
}

// agent is the state of a running machine agent (PID 1 of the guest).
type agent struct {
	cfg     Config
	image   imageConfig
	hostPID int
	ln      *net.UnixListener
	watch   *os.File // agent.pid, open: its link count drops to 0 when the data dir is removed
	reaper  reaper
}

func agentMain(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: __agent DATADIR")
		return 2
	}
	// fd 3 is the readiness pipe from Start, fd 4 maybe the owner's pidfd.
	// Neither may reach a guest process, and nor may anything the CLI
	// inherited from whoever ran it (a pipe of the host's shell...).
	unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	ready := os.NewFile(3, "ready")
	if os.Getenv(ownerFDEnv) == "4" {
		go watchOwner(4)
	}
	a, err := setupAgent(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "agent: %v\n", err)
		if ready != nil {
			var ve volumeError
			if errors.As(err, &ve) {
				fmt.Fprintf(ready, "fail: %v\n", err)
			} else {
				fmt.Fprintf(ready, "error: %v\n", err)
			}
		}
		return 1
	}
	if ready != nil {
		fmt.Fprintf(ready, "ok %d\n", a.hostPID)
		ready.Close()
	}
	a.serve()
	return 0
}

// setupAgent builds the guest: mounts, pivot_root, first-start population,
// capability drop. Every write into the guest tree happens after pivot_root,
// so no path the guest controls (a symlink left in its tree) can make the
// agent touch a host file.
func setupAgent(dataDir string) (*agent, error) {
	a := &agent{reaper: reaper{waiters: map[int]chan unix.WaitStatus{}}}
	raw, err := os.ReadFile(filepath.Join(dataDir, fileConfig))
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if err := json.Unmarshal(raw, &a.cfg); err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	a.cfg.DataDir = dataDir
	if a.cfg.ImageDir != "" {
		if raw, err := os.ReadFile(filepath.Join(a.cfg.ImageDir, "config.json")); err == nil {
			if err := json.Unmarshal(raw, &a.image); err != nil {
				return nil, fmt.Errorf("parse image config: %w", err)
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read image config: %w", err)
		}
	}
	// /proc is still the host's: "self" names our host PID.
	self, err := os.Readlink("/proc/self")
	if err != nil {
		return nil, fmt.Errorf("host pid: %w", err)
	}
	a.hostPID, _ = strconv.Atoi(self)

	// Signals a guest may send to its PID 1 must not kill the agent by a
	// default action; the host stops it with SIGKILL. They are caught and
	// dropped rather than ignored: an ignored signal would stay ignored in
	// every guest process across exec.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		for range sigs {
		}
	}()

	first := true
	if _, err := os.Stat(filepath.Join(dataDir, fileReady)); err == nil {
		first = false
	}
	var hostFiles []hostFile
	if first {
		hostFiles = readHostEtc()
	}

	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return nil, fmt.Errorf("make mounts private: %w", err)
	}
	root := filepath.Join(dataDir, dirRootfs)
	usrLocal := filepath.Join(dataDir, dirUsrLocal)
	for _, d := range []string{root, usrLocal} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := mountTree(root, usrLocal, a.cfg, first); err != nil {
		return nil, err
	}
	if err := unix.Sethostname([]byte(a.cfg.Name)); err != nil {
		return nil, fmt.Errorf("sethostname: %w", err)
	}
	if !a.cfg.Network {
		if err := loopbackUp(); err != nil {
			return nil, fmt.Errorf("loopback: %w", err)
		}
	}

	// Host-side files: the socket, and agent.pid kept open as the data
	// dir's liveness probe. Neither is a directory, so /proc/1/fd/N can
	// never be walked into the host tree.
	if a.ln, err = listenIn(dataDir); err != nil {
		return nil, err
	}
	if a.watch, err = writePid(dataDir, a.hostPID); err != nil {
		return nil, err
	}

	// Volumes (-v) are cloned as detached mounts now and attached after
	// pivot_root, so the guest paths they land on resolve inside the guest.
	vols, err := openVolumes(a.cfg.Mounts)
	if err != nil {
		return nil, err
	}
	if err := pivot(root); err != nil {
		return nil, err
	}
	if first {
		if err := populate(a.cfg, a.image, hostFiles); err != nil {
			return nil, fmt.Errorf("populate guest: %w", err)
		}
	}
	if err := attachVolumes(vols); err != nil {
		return nil, err
	}
	if err := os.WriteFile(guestRunuser, []byte("#!/bin/sh\nexec "+guestExe+" __runuser \"$@\"\n"), 0o755); err != nil {
		return nil, fmt.Errorf("install runuser: %w", err)
	}
	if err := a.dropPrivileges(); err != nil {
		return nil, err
	}
	return a, nil
}

// serve runs until the machine is stopped (SIGKILL) or its data dir is
// removed.
func (a *agent) serve() {
	go a.reaper.loop()
	go a.watchDataDir()
	for {
		c, err := a.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				os.Exit(0)
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go a.handle(c)
	}
}

// ownerFDEnv tells the agent that fd 4 is its owner's pidfd.
const ownerFDEnv = "FAKE_SMOLVM_OWNER_FD"

// watchOwner ends the agent once the owner process (OwnerPIDEnv) is gone.
func watchOwner(fd int) {
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, -1)
		if err == unix.EINTR {
			continue
		}
		if n == 1 || err != nil {
			fmt.Fprintln(os.Stderr, "agent: owner process ended, shutting down")
			os.Exit(0)
		}
	}
}

// watchDataDir ends the agent, and with it the whole guest, once its data
// dir is gone (a deleted test work dir): a missed stop cannot leak forever.
func (a *agent) watchDataDir() {
	for range time.Tick(time.Second) {
		var st unix.Stat_t
		if err := unix.Fstat(int(a.watch.Fd()), &st); err != nil || st.Nlink == 0 {
			fmt.Fprintln(os.Stderr, "agent: data dir removed, shutting down")
			os.Exit(0)
		}
	}
}

func (a *agent) handle(c *net.UnixConn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 64<<10)
	fw := &frameWriter{w: c}
	typ, p, err := readFrame(br)
	if err != nil || typ != frameRequest {
		return
	}
	var req request
	if err := json.Unmarshal(p, &req); err != nil {
		fw.writeString(frameError, "agent operation failed: request: "+err.Error())
		return
	}
	switch req.Op {
	case "ping":
		fw.writeString(frameOK, strconv.Itoa(a.hostPID))
	case "exec":
		if req.Exec == nil {
			fw.writeString(frameError, "agent operation failed: request: missing exec")
			return
		}
		a.exec(br, fw, req.Exec)
	case "upload":
		a.upload(br, fw, &req)
	case "download":
		a.download(fw, &req)
	default:
		fw.writeString(frameError, "agent operation failed: request: unknown op "+strconv.Quote(req.Op))
	}
}
