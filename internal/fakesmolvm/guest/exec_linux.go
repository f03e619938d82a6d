//go:build linux

package guest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// outputCap is smolvm's limit on captured (and streamed) output.
const outputCap = 11 << 20 // 11534336

// drainGrace is how long output is still collected after the command
// exited while something (a background child) keeps its pipes open.
const drainGrace = 100 * time.Millisecond

// spawnPrefix is the message prefix smolvm uses for a failed spawn, per mode.
func spawnPrefix(m Mode) string {
	switch m {
	case Interactive, TTY:
		return "agent operation failed: vm exec interactive: "
	case Stream:
		return "agent operation failed: streaming exec: "
	case Detach:
		return "agent operation failed: vm exec background: failed to spawn background command: "
	default:
		return "agent operation failed: vm exec: failed to spawn command: "
	}
}

// user is a guest /etc/passwd entry.
type user struct {
	name     string
	uid, gid int
	home     string
	groups   []uint32
}

// lookupUser reads the guest's /etc/passwd and /etc/group; name may also be
// a numeric uid.
func lookupUser(name string) (*user, error) {
	raw, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return nil, err
	}
	var u *user
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 7 {
			continue
		}
		if f[0] == name || f[2] == name {
			uid, err1 := strconv.Atoi(f[2])
			gid, err2 := strconv.Atoi(f[3])
			if err1 != nil || err2 != nil {
				continue
			}
			u = &user{name: f[0], uid: uid, gid: gid, home: f[5]}
			break
		}
	}
	if u == nil {
		if uid, err := strconv.Atoi(name); err == nil && uid >= 0 {
			return &user{name: name, uid: uid, gid: uid, home: "/"}, nil
		}
		return nil, errors.New("no such user")
	}
	if raw, err := os.ReadFile("/etc/group"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			f := strings.Split(line, ":")
			if len(f) < 4 {
				continue
			}
			gid, err := strconv.Atoi(f[2])
			if err != nil || gid == u.gid {
				continue
			}
			for _, m := range strings.Split(f[3], ",") {
				if m == u.name {
					u.groups = append(u.groups, uint32(gid))
				}
			}
		}
	}
	return u, nil
}

// mergeEnv layers env lists, later entries winning by key; a key keeps the
// position of its first appearance.
func mergeEnv(layers ...[]string) []string {
	idx := map[string]int{}
	var out []string
	for _, l := range layers {
		for _, kv := range l {
			k, _, _ := strings.Cut(kv, "=")
			if i, ok := idx[k]; ok {
				out[i] = kv
				continue
			}
			idx[k] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

func envGet(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

// lookPath resolves argv[0] on the guest PATH the way execvp does; the
// error is an errno so it formats like smolvm's.
func lookPath(name, path string) (string, error) {
	if name == "" {
		return "", unix.ENOENT
	}
	if strings.Contains(name, "/") {
		return name, nil
	}
	denied := false
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() {
			continue
		}
		if unix.Access(p, unix.X_OK) != nil {
			denied = true
			continue
		}
		return p, nil
	}
	if denied {
		return "", unix.EACCES
	}
	return "", unix.ENOENT
}

// imageUser resolves an image config's user as OCI images give it: NAME,
// UID, or either followed by ":GROUP" (a group name or GID).
func imageUser(spec string) (*user, error) {
	name, group, hasGroup := strings.Cut(spec, ":")
	u := &user{name: "root", home: "/root"}
	if name != "" && name != "root" && name != "0" {
		var err error
		if u, err = lookupUser(name); err != nil {
			return nil, unix.ENOENT
		}
	}
	if hasGroup && group != "" {
		gid, err := lookupGroup(group)
		if err != nil {
			return nil, unix.ENOENT
		}
		u.gid, u.groups = gid, nil
	}
	return u, nil
}

// lookupGroup reads a group name or GID from the guest's /etc/group.
func lookupGroup(g string) (int, error) {
	if gid, err := strconv.Atoi(g); err == nil && gid >= 0 {
		return gid, nil
	}
	raw, err := os.ReadFile("/etc/group")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 3 && f[0] == g {
			return strconv.Atoi(f[2])
		}
	}
	return 0, errors.New("no such group")
}

// execContext works out the user, environment and working directory of a
// guest command: §11.2's base environment, the image's, the record's, then
// exec's -e.
func (a *agent) execContext(req *ExecRequest) (*user, []string, string, error) {
	u, err := imageUser(a.image.User)
	if err != nil {
		return nil, nil, "", err
	}
	home := u.home
	if u.uid == 0 {
		home = "/root"
	}
	env := mergeEnv(
		[]string{"HOME=" + home, "PATH=" + guestPATH, "TERM=xterm-256color"},
		a.image.Env, a.cfg.Env, req.Env,
	)
	dir := req.Workdir
	if dir == "" {
		dir = a.cfg.Workdir
	}
	if dir == "" {
		dir = a.image.Workdir
	}
	if dir == "" {
		dir = "/"
	}
	return u, env, dir, nil
}

func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// exec runs one guest command for one connection.
func (a *agent) exec(br *bufio.Reader, fw *frameWriter, req *ExecRequest) {
	fail := func(err error) { fw.writeString(frameError, spawnPrefix(req.Mode)+osError(err)) }
	if len(req.Argv) == 0 {
		fail(unix.ENOENT)
		return
	}
	u, env, dir, err := a.execContext(req)
	if err != nil {
		fail(err)
		return
	}
	path, err := lookPath(req.Argv[0], envGet(env, "PATH"))
	if err != nil {
		fail(err)
		return
	}
	sys := &syscall.SysProcAttr{Setpgid: true}
	if u.uid != 0 || u.gid != 0 {
		sys.Credential = &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid), Groups: u.groups}
	}
	attr := &syscall.ProcAttr{Dir: dir, Env: env, Sys: sys}

	null, err := os.OpenFile("/dev/null", os.O_RDWR, 0)
	if err != nil {
		fail(err)
		return
	}
	defer null.Close()

	if req.Mode == Detach {
		sys.Setpgid = false
		attr.Files = []uintptr{null.Fd(), null.Fd(), null.Fd()}
		pid, _, err := a.reaper.spawn(path, req.Argv, attr, false)
		if err != nil {
			fail(err)
			return
		}
		fw.writeString(frameStarted, strconv.Itoa(pid))
		fw.writeString(frameExit, "0")
		return
	}

	var (
		stdinW      io.WriteCloser // where stdin frames go
		outs        []*os.File     // read ends we drain
		outTypes    []byte
		closeAfter  []*os.File // child ends, closed once spawned
		ptmx        *os.File
		onStdinEOF  func()
		stdinClosed bool
	)
	switch req.Mode {
	case TTY:
		m, s, err := pty.Open()
		if err != nil {
			fail(err)
			return
		}
		ptmx = m
		defer m.Close()
		pty.Setsize(m, &pty.Winsize{Cols: 80, Rows: 24})
		sys.Setpgid = false
		sys.Setsid, sys.Setctty, sys.Ctty = true, true, 0
		attr.Files = []uintptr{s.Fd(), s.Fd(), s.Fd()}
		closeAfter = append(closeAfter, s)
		stdinW = m
		outs, outTypes = []*os.File{m}, []byte{frameStdout}
		// Two ^D: the first ends a pending partial line, the second is EOF.
		onStdinEOF = func() { m.Write([]byte{4, 4}) }
	default:
		or, ow, err := os.Pipe()
		if err != nil {
			fail(err)
			return
		}
		er, ew, err := os.Pipe()
		if err != nil {
			fail(err)
			return
		}
		defer or.Close()
		defer er.Close()
		closeAfter = append(closeAfter, ow, ew)
		outs, outTypes = []*os.File{or, er}, []byte{frameStdout, frameStderr}
		stdinFd := null.Fd()
		if req.Mode == Interactive || req.Mode == Stream {
			ir, iw, err := os.Pipe()
			if err != nil {
				fail(err)
				return
			}
			defer iw.Close()
			closeAfter = append(closeAfter, ir)
			stdinFd = ir.Fd()
			if req.Mode == Interactive {
				stdinW = iw
				onStdinEOF = func() { iw.Close() }
			}
		}
		attr.Files = []uintptr{stdinFd, ow.Fd(), ew.Fd()}
	}

	pid, exited, err := a.reaper.spawn(path, req.Argv, attr, true)
	for _, f := range closeAfter {
		f.Close()
	}
	if err != nil {
		fail(err)
		return
	}
	killGroup := func() { unix.Kill(-pid, unix.SIGKILL) }
	fw.writeString(frameStarted, strconv.Itoa(pid))
	if req.KillMachine {
		// The machine "dies" under the running command: the whole guest goes.
		os.Exit(137)
	}

	// Client side: stdin, resizes, and hang-up detection.
	clientGone := make(chan struct{})
	go func() {
		defer close(clientGone)
		for {
			typ, p, err := readFrame(br)
			if err != nil {
				return
			}
			switch typ {
			case frameStdin:
				if stdinW != nil && !stdinClosed {
					stdinW.Write(p)
				}
			case frameStdinEOF:
				if onStdinEOF != nil && !stdinClosed {
					stdinClosed = true
					onStdinEOF()
				}
			case frameResize:
				if ptmx != nil && len(p) == 4 {
					pty.Setsize(ptmx, &pty.Winsize{Cols: binary.BigEndian.Uint16(p), Rows: binary.BigEndian.Uint16(p[2:])})
				}
			}
		}
	}()

	// Output.
	buffered := req.Mode == Buffered
	var bufMu sync.Mutex
	var bufs [2][]byte
	var total int64
	overCap := make(chan int, 2) // stream index that went over
	done := make(chan struct{}, len(outs))
	for i, f := range outs {
		go func(i int, f *os.File, typ byte) {
			defer func() { done <- struct{}{} }()
			var n64 int64
			// emit takes one chunk; false stops reading.
			emit := func(b []byte) bool {
				n64 += int64(len(b))
				switch {
				case buffered:
					if n64 > outputCap {
						overCap <- i
						killGroup()
						return false
					}
					bufMu.Lock()
					bufs[i] = append(bufs[i], b...)
					bufMu.Unlock()
				case req.Mode == Stream && atomicAdd(&total, int64(len(b))) > outputCap:
					// the stream cap counts both streams together
					overCap <- i
					killGroup()
					return false
				default:
					fw.write(typ, b)
				}
				return true
			}
			buf := make([]byte, 32<<10)
			for {
				n, err := f.Read(buf)
				if n > 0 && !emit(buf[:n]) {
					return
				}
				if errors.Is(err, os.ErrDeadlineExceeded) {
					// The command is gone but something holds the pipe:
					// take what is buffered now, without waiting for more.
					drainNow(f, buf, emit)
					return
				}
				if err != nil {
					return
				}
			}
		}(i, f, outTypes[i])
	}

	var timeout <-chan time.Time
	if req.Timeout > 0 {
		t := time.NewTimer(req.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	timedOut := false
	var ws unix.WaitStatus
wait:
	for {
		select {
		case ws = <-exited:
			break wait
		case <-timeout:
			timedOut = true
			killGroup()
			timeout = nil
		case <-clientGone:
			// The host client went away: nobody will read the result.
			killGroup()
			clientGone = nil
		}
	}
	// Read on until EOF; a pipe a background child keeps open is drained
	// of what it holds once drainGrace has passed.
	deadline := time.Now().Add(drainGrace)
	for _, f := range outs {
		f.SetReadDeadline(deadline)
	}
	for range outs {
		select {
		case <-done:
		case <-time.After(5 * time.Second): // a descriptor without deadlines
		}
	}
	select {
	case <-overCap:
		if buffered {
			fw.writeString(frameError, "agent operation failed: vm exec: command output exceeded 11534336 bytes and was truncated. Use streaming exec (exec_stream / execStream) for large output.")
		} else {
			fw.writeString(frameWarn, "streaming output exceeded 11534336 byte cap; exec terminated (output truncated)")
		}
		return
	default:
	}
	if buffered {
		bufMu.Lock()
		writeChunks(fw, frameStdout, bufs[0])
		writeChunks(fw, frameStderr, bufs[1])
		bufMu.Unlock()
	}
	code := exitCode(ws)
	if timedOut {
		code = 124
	}
	fw.writeString(frameExit, strconv.Itoa(code))
}

// drainNow reads what f holds right now without blocking.
func drainNow(f *os.File, buf []byte, emit func([]byte) bool) {
	f.SetReadDeadline(time.Time{})
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Read(func(fd uintptr) bool {
		// bounded: a background writer may never stop
		for range 256 {
			n, err := unix.Read(int(fd), buf)
			if n <= 0 || err != nil || !emit(buf[:n]) {
				return true
			}
		}
		return true
	})
}

func writeChunks(fw *frameWriter, typ byte, b []byte) {
	for len(b) > 0 {
		n := min(len(b), 1<<20)
		fw.write(typ, b[:n])
		b = b[n:]
	}
}
