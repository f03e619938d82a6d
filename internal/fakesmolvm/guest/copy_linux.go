//go:build linux

package guest

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// cleanGuestPath validates a cp guest path as smolvm's agent does: made
// absolute, no ".." component, not empty.
func cleanGuestPath(p string) (string, error) {
	if p == "" {
		return "", errors.New("invalid guest path : path is empty")
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return "", fmt.Errorf("invalid guest path %s: parent traversal is not allowed", p)
		}
	}
	return p, nil
}

// openNoMagic opens p inside the guest root without following /proc magic
// links, the one way a path could reach a host-side descriptor.
func openNoMagic(p string, flags uint64) (int, error) {
	for {
		fd, err := unix.Openat2(unix.AT_FDCWD, p, &unix.OpenHow{
			Flags:   flags | unix.O_CLOEXEC,
			Mode:    0,
			Resolve: unix.RESOLVE_NO_MAGICLINKS,
		})
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		return fd, err
	}
}

// upload receives a file into the guest: parents created, written to a
// temporary sibling, renamed into place.
func (a *agent) upload(br *bufio.Reader, fw *frameWriter, req *request) {
	fail := func(msg string) { fw.writeString(frameError, "agent operation failed: write file: "+msg) }
	p, err := cleanGuestPath(req.Path)
	if err != nil {
		fail(err.Error())
		return
	}
	dir, base := path.Split(p)
	if base == "" {
		fail(fmt.Sprintf("failed to rename onto %s: %s", p, OSError(unix.EISDIR)))
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fail(fmt.Sprintf("failed to create parent directories for %s: %s", p, OSError(err)))
		return
	}
	dfd, err := openNoMagic(dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		fail(fmt.Sprintf("failed to open parent of %s: %s", p, OSError(err)))
		return
	}
	defer unix.Close(dfd)
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := ".smolvm-cp-" + hex.EncodeToString(rnd[:])
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		fail(fmt.Sprintf("failed to create %s: %s", p, OSError(err)))
		return
	}
	f := os.NewFile(uintptr(fd), tmp)
	ok := false
	defer func() {
		f.Close()
		if !ok {
			unix.Unlinkat(dfd, tmp, 0)
		}
	}()
	fw.write(frameOK, nil) // go ahead
	for {
		typ, data, err := readFrame(br)
		if err != nil {
			return // client gone: the temporary file is removed
		}
		if typ == frameDataEnd {
			break
		}
		if typ != frameData {
			continue
		}
		if _, err := f.Write(data); err != nil {
			fail(fmt.Sprintf("failed to write %s: %s", p, OSError(err)))
			return
		}
	}
	mode := uint32(0o644)
	if req.Mode != nil {
		mode = *req.Mode & 0o7777
	}
	var uid, gid uint32
	if req.UID != nil {
		uid = *req.UID
	}
	if req.GID != nil {
		gid = *req.GID
	}
	// Ownership before mode: chown clears setuid/setgid bits.
	if err := f.Chown(int(uid), int(gid)); err != nil {
		fail(fmt.Sprintf("failed to set owner of %s: %s", p, OSError(err)))
		return
	}
	f.Chmod(os.FileMode(mode&0o777) | modeBits(mode)) // best effort, as smolvm
	if err := unix.Renameat(dfd, tmp, dfd, base); err != nil {
		fail(fmt.Sprintf("failed to rename onto %s: %s", p, OSError(err)))
		return
	}
	ok = true
	fw.write(frameOK, nil)
}

func modeBits(m uint32) os.FileMode {
	var out os.FileMode
	if m&0o4000 != 0 {
		out |= os.ModeSetuid
	}
	if m&0o2000 != 0 {
		out |= os.ModeSetgid
	}
	if m&0o1000 != 0 {
		out |= os.ModeSticky
	}
	return out
}

// download sends a guest regular file.
func (a *agent) download(fw *frameWriter, req *request) {
	fail := func(msg string) { fw.writeString(frameError, "agent operation failed: read file: "+msg) }
	p, err := cleanGuestPath(req.Path)
	if err != nil {
		fail(err.Error())
		return
	}
	// O_NONBLOCK: opening a FIFO must not hang; it is refused below.
	fd, err := openNoMagic(p, unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		fail(fmt.Sprintf("failed to open %s: %s", p, OSError(err)))
		return
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		fail("not a regular file: " + p)
		return
	}
	unix.SetNonblock(fd, false)
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			if fw.write(frameData, buf[:n]) != nil {
				return
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			fail(fmt.Sprintf("failed to read %s: %s", p, OSError(err)))
			return
		}
	}
	fw.write(frameOK, nil)
}

// ---- client side ----

func copyClient(dataDir string, req CopyRequest, progress io.Writer) error {
	if progress == nil {
		progress = io.Discard
	}
	if req.Upload {
		return uploadClient(dataDir, req, progress)
	}
	return downloadClient(dataDir, req, progress)
}

func uploadClient(dataDir string, req CopyRequest, progress io.Writer) error {
	f, err := os.Open(req.LocalPath)
	if err != nil {
		return fmt.Errorf("agent operation failed: read local file: %s: %s", req.LocalPath, OSError(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("agent operation failed: read source file: %s", OSError(err))
	}
	if fi.IsDir() {
		return fmt.Errorf("agent operation failed: read source file: %s", OSError(unix.EISDIR))
	}
	c, err := dial(dataDir)
	if err != nil {
		return notRunning()
	}
	defer c.Close()
	fw := &frameWriter{w: c}
	br := bufio.NewReader(c)
	lost := errors.New("agent operation failed: write file: connection to VM lost")
	if err := sendRequest(fw, request{Op: "upload", Path: req.GuestPath, Mode: req.Mode, UID: req.UID, GID: req.GID}); err != nil {
		return notRunning()
	}
	if err := expectOK(br, lost); err != nil {
		return err
	}
	pr := newProgress(progress, fmt.Sprintf("Uploading %s -> %s", req.LocalPath, req.GuestPath), fi.Size())
	buf := make([]byte, 1<<20)
	var sent int64
	for {
		n, rerr := f.Read(buf)
		if n > 0 {
			if err := fw.write(frameData, buf[:n]); err != nil {
				return lost
			}
			sent += int64(n)
			pr.update(sent)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("agent operation failed: read source file: %s", OSError(rerr))
		}
	}
	if err := fw.write(frameDataEnd, nil); err != nil {
		return lost
	}
	if err := expectOK(br, lost); err != nil {
		return err
	}
	pr.finish(sent)
	return nil
}

func expectOK(br *bufio.Reader, lost error) error {
	typ, p, err := readFrame(br)
	if err != nil {
		return lost
	}
	switch typ {
	case frameOK:
		return nil
	case frameError:
		return errors.New(string(p))
	}
	return lost
}

func downloadClient(dataDir string, req CopyRequest, progress io.Writer) error {
	if _, err := os.Stat(filepath.Join(dataDir, fileSock)); err != nil {
		if _, ok := aliveAgent(dataDir); !ok {
			return notRunning()
		}
	}
	// smolvm creates (truncates) the local file before any data arrives and
	// deletes it on failure, even if it existed before.
	f, err := os.OpenFile(req.LocalPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("agent operation failed: write local file: %s: %s", req.LocalPath, OSError(err))
	}
	ok := false
	defer func() {
		f.Close()
		if !ok {
			os.Remove(req.LocalPath)
		}
	}()
	c, err := dial(dataDir)
	if err != nil {
		return notRunning()
	}
	defer c.Close()
	fw := &frameWriter{w: c}
	if err := sendRequest(fw, request{Op: "download", Path: req.GuestPath}); err != nil {
		return notRunning()
	}
	br := bufio.NewReaderSize(c, 1<<20)
	pr := newProgress(progress, fmt.Sprintf("Downloading %s -> %s", req.GuestPath, req.LocalPath), -1)
	var got int64
	for {
		typ, p, err := readFrame(br)
		if err != nil {
			return errors.New("agent operation failed: read file: connection to VM lost")
		}
		switch typ {
		case frameData:
			if _, err := f.Write(p); err != nil {
				return fmt.Errorf("agent operation failed: write local file: %s: %s", req.LocalPath, OSError(err))
			}
			got += int64(len(p))
			pr.update(got)
		case frameError:
			return errors.New(string(p))
		case frameOK:
			if err := f.Close(); err != nil {
				return fmt.Errorf("agent operation failed: write local file: %s: %s", req.LocalPath, OSError(err))
			}
			ok = true
			pr.finish(got)
			return nil
		}
	}
}

// progress prints smolvm's cp progress lines (docs/smolvm.md, cp) on stderr.
type progress struct {
	w       io.Writer
	label   string
	total   int64 // -1 unknown
	start   time.Time
	last    time.Time
	printed bool
}

func newProgress(w io.Writer, label string, total int64) *progress {
	return &progress{w: w, label: label, total: total, start: time.Now()}
}

func (p *progress) line(n int64) string {
	el := time.Since(p.start)
	if el < time.Millisecond {
		el = time.Millisecond
	}
	rate := formatBytes(int64(float64(n)/el.Seconds())) + "/s"
	if p.total >= 0 {
		pct := 100.0
		if p.total > 0 {
			pct = float64(n) * 100 / float64(p.total)
		}
		return fmt.Sprintf("%s: %s / %s (%.1f%%, %s)", p.label, formatBytes(n), formatBytes(p.total), pct, rate)
	}
	return fmt.Sprintf("%s: %s (%s)", p.label, formatBytes(n), rate)
}

func (p *progress) update(n int64) {
	if p.total >= 0 && n >= p.total {
		return // uploads skip the 100% intermediate
	}
	if p.printed && time.Since(p.last) < 250*time.Millisecond {
		return
	}
	fmt.Fprintf(p.w, "\r%s", p.line(n))
	p.printed, p.last = true, time.Now()
}

func (p *progress) finish(n int64) {
	if p.printed {
		fmt.Fprintf(p.w, "\r%s\n", p.line(n))
		return
	}
	fmt.Fprintf(p.w, "%s\n", p.line(n))
}

// formatBytes uses binary units labelled B/KB/MB/GB, one decimal above 1 KiB.
func formatBytes(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	}
}
