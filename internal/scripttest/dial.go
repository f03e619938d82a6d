package scripttest

import (
	"io"
	"net"
	"strconv"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// cmdDial: dial PORT MESSAGE
// Connect to 127.0.0.1:PORT, send MESSAGE and a newline, close the
// sending side and put what comes back (until the server closes, or 5 s)
// on stdout. It retries, up to the wait bound, until a connection gives a
// reply, since a server started in a guest with exec -d takes a moment to
// listen. `! dial PORT` checks that nothing accepts connections there.
func cmdDial(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		if len(args) != 1 {
			ts.Fatalf("usage: ! dial PORT")
		}
		if c, err := net.DialTimeout("tcp4", net.JoinHostPort("127.0.0.1", args[0]), time.Second); err == nil {
			c.Close()
			ts.Fatalf("dial: port %s accepts connections", args[0])
		}
		return
	}
	if len(args) != 2 {
		ts.Fatalf("usage: dial PORT MESSAGE")
	}
	if _, err := strconv.Atoi(args[0]); err != nil {
		ts.Fatalf("dial: bad port %q", args[0])
	}
	var reply []byte
	var lastErr error
	if poll(func() bool {
		reply, lastErr = exchange(net.JoinHostPort("127.0.0.1", args[0]), args[1]+"\n")
		return lastErr == nil && len(reply) > 0
	}) {
		ts.Stdout().Write(reply)
		return
	}
	ts.Fatalf("dial: no reply from port %s within %v (last: %q, %v)", args[0], waitBound, reply, lastErr)
}

func exchange(addr, msg string) ([]byte, error) {
	c, err := net.DialTimeout("tcp4", addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		return nil, err
	}
	c.(*net.TCPConn).CloseWrite()
	return io.ReadAll(c)
}
