//go:build linux

package guest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Published ports (-p HOST:GUEST). The client that starts the agent binds
// 127.0.0.1:HOST, and [::1]:HOST when the host has IPv6, in the host's
// network namespace (smolvm publishes on loopback the same way) and hands
// the listening sockets to the agent, which accepts on them and connects,
// from inside the guest's network namespace, to 127.0.0.1:GUEST. The
// listeners are the agent's alone, so they live as long as the machine
// runs and close when the agent ends: nothing is left listening after a
// stop or a crash.
//
// With --net the guest shares the host's network namespace: a port
// published on itself (HOST == GUEST) gets no listener, since the guest's
// own server listens on that very host port.

// agentPortsEnv lists, for the agent, the guest port of each listener
// Start passed from fdPorts on, comma-separated.
const agentPortsEnv = "FAKE_SMOLVM_AGENT_PORTS"

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
// hand to the agent, with the guest port of each.
func listenPorts(cfg Config) ([]*os.File, []uint16, error) {
	var files []*os.File
	var guests []uint16
	fail := func(p Port, err error) ([]*os.File, []uint16, error) {
		for _, f := range files {
			f.Close()
		}
		return nil, nil, fmt.Errorf("agent operation failed: start: publish host port %d: %w", p.Host, err)
	}
	for _, p := range forwarded(cfg) {
		for _, addr := range []struct{ network, host string }{{"tcp4", "127.0.0.1"}, {"tcp6", "::1"}} {
			ln, err := net.Listen(addr.network, net.JoinHostPort(addr.host, strconv.Itoa(int(p.Host))))
			if err != nil {
				if addr.network == "tcp6" {
					continue // best effort, as smolvm: a host without IPv6 still publishes
				}
				var oe *net.OpError
				if errors.As(err, &oe) {
					err = oe.Err
				}
				return fail(p, err)
			}
			f, err := ln.(*net.TCPListener).File()
			ln.Close()
			if err != nil {
				return fail(p, err)
			}
			files = append(files, f)
			guests = append(guests, p.Guest)
		}
	}
	return files, guests, nil
}

// publish serves the listeners Start passed, each for its guest port.
func (a *agent) publish(files []*os.File) error {
	var guests []uint16
	if v := os.Getenv(agentPortsEnv); v != "" {
		for _, s := range strings.Split(v, ",") {
			n, err := strconv.ParseUint(s, 10, 16)
			if err != nil {
				return fmt.Errorf("ports: %s=%q", agentPortsEnv, v)
			}
			guests = append(guests, uint16(n))
		}
	}
	if len(files) != len(guests) {
		return fmt.Errorf("ports: %d listeners for %d guest ports", len(files), len(guests))
	}
	for i, f := range files {
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("ports: guest port %d: %w", guests[i], err)
		}
		go forward(ln, guests[i])
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
