//go:build linux

package guest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// Published ports (-p HOST:GUEST). The client that starts the agent binds
// 127.0.0.1:HOST in the host's network namespace (smolvm publishes on
// loopback) and hands the listening socket to the agent, which accepts on
// it and connects, from inside the guest's network namespace, to
// 127.0.0.1:GUEST. The listener is the agent's alone, so it lives as long
// as the machine runs and closes when the agent ends: nothing is left
// listening after a stop or a crash.
//
// With --net the guest shares the host's network namespace: a port
// published on itself (HOST == GUEST) gets no listener, since the guest's
// own server listens on that very host port.

// forwarded lists the ports that get a listener, in Config.Ports order.
func forwarded(cfg Config) []Port {
	var out []Port
	for _, p := range cfg.Ports {
		if cfg.Network && p.Host == p.Guest {
			continue
		}
		out = append(out, p)
	}
	return out
}

// listenPorts binds the host side of every forwarded port, as files to
// hand to the agent.
func listenPorts(cfg Config) ([]*os.File, error) {
	var out []*os.File
	closeAll := func() {
		for _, f := range out {
			f.Close()
		}
	}
	for _, p := range forwarded(cfg) {
		ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(p.Host))))
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("agent operation failed: start: publish host port %d: %w", p.Host, errors.Unwrap(err))
		}
		f, err := ln.(*net.TCPListener).File()
		ln.Close()
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("agent operation failed: start: publish host port %d: %w", p.Host, err)
		}
		out = append(out, f)
	}
	return out, nil
}

// publish serves the listeners Start passed (one per forwarded port).
func (a *agent) publish(files []*os.File) error {
	ports := forwarded(a.cfg)
	if len(files) != len(ports) {
		return fmt.Errorf("ports: %d listeners for %d published ports", len(files), len(ports))
	}
	for i, f := range files {
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("ports: host port %d: %w", ports[i].Host, err)
		}
		go forward(ln, ports[i].Guest)
	}
	return nil
}

// forward accepts host connections and splices each to the guest port.
// A connection the guest refuses is closed at once, as a VM's would be
// reset.
func forward(ln net.Listener, guestPort uint16) {
	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(guestPort)))
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go func() {
			defer c.Close()
			g, err := net.DialTimeout("tcp4", target, 5*time.Second)
			if err != nil {
				return
			}
			defer g.Close()
			splice(c.(*net.TCPConn), g.(*net.TCPConn))
		}()
	}
}

// splice copies both ways, passing each side's end of stream on as a
// half-close, until both directions are done.
func splice(a, b *net.TCPConn) {
	var wg sync.WaitGroup
	wg.Add(2)
	one := func(dst, src *net.TCPConn) {
		defer wg.Done()
		io.Copy(dst, src)
		dst.CloseWrite()
	}
	go one(a, b)
	go one(b, a)
	wg.Wait()
}
