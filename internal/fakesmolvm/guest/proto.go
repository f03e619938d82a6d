package guest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"syscall"
)

// Wire protocol between a client (the CLI) and the machine agent, over the
// agent's unix socket. Every message is a frame: one type byte, a 4-byte
// big-endian payload length, the payload. The first frame a client sends is
// a request (frameRequest, JSON); what follows depends on the operation.
const (
	// client -> agent
	frameRequest  = 'Q' // JSON request
	frameStdin    = 'i' // stdin bytes
	frameStdinEOF = 'I' // host stdin ended
	frameResize   = 'r' // 4 bytes: cols, rows (uint16 each)
	frameData     = 'd' // file bytes (upload and download)
	frameDataEnd  = 'D' // end of file bytes (upload)

	// agent -> client
	frameStarted = 'p' // guest PID, decimal
	frameStdout  = 'o'
	frameStderr  = 'e'
	frameExit    = 'x' // exit code, decimal
	frameError   = 'E' // runtime failure: the message after "Error: "
	frameWarn    = 'W' // mid-stream failure: the message after "error: "
	frameOK      = 'k' // operation done (ping, copy)
)

// maxFrame bounds a frame's payload so a corrupt peer cannot make the other
// side allocate without limit.
const maxFrame = 16 << 20

// request is the first frame of every connection.
type request struct {
	Op   string       `json:"op"` // ping, exec, upload, download
	Exec *ExecRequest `json:"exec,omitempty"`
	Path string       `json:"path,omitempty"` // cp: guest path as given
	Mode *uint32      `json:"mode,omitempty"`
	UID  *uint32      `json:"uid,omitempty"`
	GID  *uint32      `json:"gid,omitempty"`
}

// frameWriter serialises frames from several goroutines onto one stream.
type frameWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (fw *frameWriter) write(typ byte, payload []byte) error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	var hdr [5]byte
	hdr[0] = typ
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	if _, err := fw.w.Write(hdr[:]); err != nil {
		return err
	}
	if len(payload) == 0 {
		return nil
	}
	_, err := fw.w.Write(payload)
	return err
}

func (fw *frameWriter) writeString(typ byte, s string) error { return fw.write(typ, []byte(s)) }

// readFrame reads one frame; the payload is freshly allocated.
func readFrame(r *bufio.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("frame of %d bytes exceeds the limit", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return hdr[0], p, nil
}

// OSError formats an error the way Rust's std::io::Error displays an OS
// error, which is what smolvm's messages embed:
// "No such file or directory (os error 2)".
func OSError(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		if s != "" {
			s = strings.ToUpper(s[:1]) + s[1:]
		}
		return fmt.Sprintf("%s (os error %d)", s, int(errno))
	}
	return err.Error()
}
