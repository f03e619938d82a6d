//go:build linux

package guest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	fileSock        = "agent.sock"
	filePid         = "agent.pid"
	fileConsole     = "agent-console.log"
	fileConfig      = "agent.json"
	fileImageConfig = "image.json"  // the image's config.json, copied there by the client
	fileReady       = "guest.ready" // the guest tree has been populated (first start done)
	dirRootfs       = "rootfs"      // the guest's own tree: /etc, /root, /home, /workspace, /var...
	dirUsrLocal     = "usrlocal"    // a host-userland guest's /usr/local, mounted over the read-only host /usr
	dirUpper        = "upper"       // an image guest's writable layer, over the image
	dirLower        = "lower"       // a bare guest's (empty) lower layer, under dirRootfs
	dirWork         = "work"        // overlayfs's work dir for the writable layer
	dirMerged       = "merged"      // where the guest's overlay is mounted, to pivot into
	dirImageCopy    = "image"       // a remapped image guest's copy of the image with shifted owners, where the image cannot be id-mapped
)

// Paths inside the guest that the agent sets up.
const (
	guestExeDir      = "/dev/.smolvm"            // tmpfs, recreated each start
	guestExe         = guestExeDir + "/smolvm"   // the fake binary, bind-mounted read-only
	guestRunuserHost = "/usr/local/sbin/runuser" // a host-userland guest's runuser (rewritten each start)
	guestPATH        = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// agent is the state of a running machine agent (PID 1 of the guest).
type agent struct {
	cfg     Config
	image   ImageConfig
	hostPID int
	ln      *net.UnixListener
	watch   *os.File // agent.pid, open: its link count drops to 0 when the data dir is removed
	reaper  reaper
}

// Descriptors Start hands the agent; agentFDsEnv says how many there are
// from fd 3 on. Everything else the agent inherited is closed at once.
const (
	fdReady  = 3 // the readiness pipe: "ok PID", or why setup failed
	fdKeep   = 4 // read end of the keep pipe: "go" keeps the agent, EOF ends it
	fdOwner  = 5 // the owner's pidfd (ownerFDEnv) or /dev/null
	fdMounts = 6 // a remapped agent's host mounts (sendHostMounts); unused otherwise
	fdPorts  = 7 // one listening socket per Config.Ports entry, in order
)

// agentFDsEnv holds how many descriptors from fd 3 on Start passed.
const agentFDsEnv = "FAKE_SMOLVM_AGENT_FDS"

func agentMain(args []string) int {
	// Before anything else: the descriptors Start passed are the agent's
	// and every other one goes, so nothing the CLI inherited from whoever
	// ran it (a pipe of the host's shell, an open host directory) stays
	// open in the agent or reaches a guest process.
	n, err := strconv.Atoi(os.Getenv(agentFDsEnv))
	if err != nil || n < fdPorts-fdReady || len(args) != 0 {
		fmt.Fprintln(os.Stderr, "usage: __agent (started by machine start only)")
		return 2
	}
	unix.CloseRange(uint(fdReady+n), ^uint(0), 0)
	unix.CloseRange(fdReady, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	survivePID1Signals()
	ready := os.NewFile(fdReady, "ready")
	go watchKeep(fdKeep)
	if os.Getenv(ownerFDEnv) == strconv.Itoa(fdOwner) {
		go watchOwner(fdOwner)
	} else {
		unix.Close(fdOwner)
	}
	var ports []*os.File
	for i := range n - (fdPorts - fdReady) {
		ports = append(ports, os.NewFile(uintptr(fdPorts+i), "port"))
	}
	// Start runs the agent in the machine's data dir, so that no host path
	// shows in its command line (the guest's /proc/1/cmdline).
	dataDir, err := os.Getwd()
	if err != nil {
		fmt.Fprintf(ready, "error: data dir: %v\n", err)
		return 1
	}
	shift, _ := strconv.Atoi(os.Getenv(shiftEnv))
	a, err := setupAgent(dataDir, shift)
	if err == nil {
		if err := a.publish(ports); err != nil {
			fmt.Fprintf(os.Stderr, "agent: %v\n", err)
			fmt.Fprintf(ready, "ports: %v\n", err)
			return 1
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "agent: %v\n", err)
		var ve volumeError
		if errors.As(err, &ve) {
			fmt.Fprintf(ready, "fail: %v\n", err)
		} else {
			fmt.Fprintf(ready, "error: %v\n", err)
		}
		return 1
	}
	fmt.Fprintf(ready, "ok %d\n", a.hostPID)
	ready.Close()
	a.serve()
	return 0
}

// survivePID1Signals catches every signal, so that none a guest sends its
// PID 1 (SEGV, ABRT, BUS, SYS, TRAP... from kill(2)) ends the agent by a
// default action or a Go crash; the host stops it with SIGKILL, which a
// guest cannot send it. A signal sent by kill(2) is never taken for a fault
// of the agent's own, and a caught one is dropped. Catching rather than
// ignoring keeps guest processes' dispositions default: an ignored signal
// would stay ignored across exec.
func survivePID1Signals() {
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs)
	// SIGURG is the runtime's own preemption signal, sent to itself many
	// times a second; left to the runtime, one from a guest is ignored.
	signal.Reset(syscall.SIGURG)
	go func() {
		for range sigs {
		}
	}()
}

// watchKeep ends the agent when the keep pipe reaches EOF before "go":
// the client that started it died before recording the machine as
// running, and a machine nobody recorded must not run on.
func watchKeep(fd int) {
	f := os.NewFile(uintptr(fd), "keep")
	var b [2]byte
	n, _ := io.ReadFull(f, b[:])
	f.Close()
	if n == 2 && string(b[:]) == "go" {
		return
	}
	fmt.Fprintln(os.Stderr, "agent: the starting client ended before the machine was recorded, shutting down")
	os.Exit(0)
}

// setupAgent builds the guest: mounts, pivot_root, first-start population,
// capability drop. Every write into the guest tree happens after pivot_root,
// so no path the guest controls (a symlink left in its tree) can make the
// agent touch a host file. The data dir is the working directory, and the
// tree's directories are named relative to it: a remapped agent (shift >
// 0) becomes the guest's root before building anything, and from then on
// may not be able to walk the host path down to its data dir.
func setupAgent(dataDir string, shift int) (*agent, error) {
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
		if raw, err := os.ReadFile(filepath.Join(dataDir, fileImageConfig)); err == nil {
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

	first := true
	if _, err := os.Stat(filepath.Join(dataDir, fileReady)); err == nil {
		first = false
	}

	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return nil, fmt.Errorf("make mounts private: %w", err)
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

	// Volumes (-v) are detached mounts until attached after pivot_root,
	// so the guest paths they land on resolve inside the guest. Remapped,
	// the client made them (and the id-mapped image), and the agent now
	// drops host root.
	lower := ""
	var vols []volume
	if shift > 0 {
		img := -1
		if img, vols, err = receiveHostMounts(fdMounts, a.cfg); err != nil {
			return nil, err
		}
		if img >= 0 {
			err := unix.MoveMount(img, "", unix.AT_FDCWD, dirLower, unix.MOVE_MOUNT_F_EMPTY_PATH)
			unix.Close(img)
			if err != nil {
				return nil, fmt.Errorf("attach image: %w", err)
			}
			lower = dirLower
		}
		if err := becomeGuestRoot(); err != nil {
			return nil, err
		}
	} else {
		unix.Close(fdMounts)
		if vols, err = openVolumes(a.cfg.Mounts); err != nil {
			return nil, err
		}
	}

	tree, err := prepareTree(a.cfg, lower, first)
	if err != nil {
		return nil, err
	}
	root := tree.root
	if err := unix.Sethostname([]byte(hostnameFor(a.cfg.Name))); err != nil {
		return nil, fmt.Errorf("sethostname: %w", err)
	}
	if !a.cfg.Network {
		if err := loopbackUp(); err != nil {
			return nil, fmt.Errorf("loopback: %w", err)
		}
	}
	if err := pivot(root); err != nil {
		return nil, err
	}
	if err := tree.finish(a.cfg, a.image); err != nil {
		return nil, err
	}
	if err := attachVolumes(vols); err != nil {
		return nil, err
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

// dataDirPoll is how often the agent checks that its data dir still exists.
const dataDirPoll = 200 * time.Millisecond

// watchDataDir ends the agent, and with it the whole guest, once its data
// dir is gone (a deleted test work dir): a missed stop cannot leak forever.
func (a *agent) watchDataDir() {
	for range time.Tick(dataDirPoll) {
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
