//go:build linux

package netlab

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// canaryMax bounds the data a canary keeps per connection or datagram.
	canaryMax = 64 << 10
	// canaryRead bounds how long a canary reads from a connection.
	canaryRead = 5 * time.Second
)

// Canary is a listener that should never be reached: it records every
// connection or datagram, with the first bytes of data, and answers nothing.
type Canary struct {
	network string
	addr    string

	mu      sync.Mutex
	touches []Touch
	conns   map[net.Conn]bool
	closed  bool
	wg      sync.WaitGroup
	closeLn func() error
}

// Touch is one connection or datagram a Canary received.
type Touch struct {
	Time   time.Time
	Remote string // the peer's address, when it has one
	Data   []byte // what it sent (up to 64 KiB, read for up to 5 s)
	// PID and UID of the peer of a unix stream or seqpacket socket, from
	// SO_PEERCRED; -1 otherwise.
	PID, UID int
}

// NewCanary starts a canary in the current (host) namespace and registers
// its cleanup with t. network is tcp, tcp4, tcp6, udp, udp4, udp6, unix,
// unixpacket or unixgram. For the unix networks an empty address makes a
// socket "docker.sock" in a new world-accessible temp dir, and "@" alone
// makes an abstract socket with a random name. Pathname sockets get mode
// 0777, so that only the sandbox can stop a workload of another uid.
// NewCanary needs no privilege unless the address does.
func NewCanary(t testing.TB, network, address string) *Canary {
	t.Helper()
	c, err := newCanary(network, address)
	if err != nil {
		t.Fatalf("netlab: canary %s %q: %v", network, address, err)
	}
	t.Cleanup(c.close)
	return c
}

func newCanary(network, address string) (*Canary, error) {
	c := &Canary{network: network, conns: map[net.Conn]bool{}}
	var cleanupPath string
	if strings.HasPrefix(network, "unix") {
		switch address {
		case "":
			dir, err := os.MkdirTemp("", "paddock-canary-")
			if err != nil {
				return nil, err
			}
			if err := os.Chmod(dir, 0o755); err != nil {
				os.RemoveAll(dir)
				return nil, err
			}
			cleanupPath = dir
			address = filepath.Join(dir, "docker.sock")
		case "@":
			var b [6]byte
			if _, err := rand.Read(b[:]); err != nil {
				return nil, err
			}
			address = "@paddock-canary-" + hex.EncodeToString(b[:])
		}
	}
	removeDir := func() {
		if cleanupPath != "" {
			os.RemoveAll(cleanupPath)
		}
	}

	switch network {
	case "tcp", "tcp4", "tcp6", "unix", "unixpacket":
		ln, err := net.Listen(network, address)
		if err != nil {
			removeDir()
			return nil, err
		}
		c.addr = ln.Addr().String()
		c.closeLn = func() error { err := ln.Close(); removeDir(); return err }
		c.wg.Add(1)
		go c.accept(ln)
	case "udp", "udp4", "udp6", "unixgram":
		pc, err := net.ListenPacket(network, address)
		if err != nil {
			removeDir()
			return nil, err
		}
		c.addr = pc.LocalAddr().String()
		c.closeLn = func() error { err := pc.Close(); removeDir(); return err }
		c.wg.Add(1)
		go c.receive(pc)
	default:
		removeDir()
		return nil, fmt.Errorf("unsupported network %q", network)
	}
	if strings.HasPrefix(network, "unix") && !strings.HasPrefix(c.addr, "@") {
		if err := os.Chmod(c.addr, 0o777); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

// Network is the canary's network, as given to NewCanary.
func (c *Canary) Network() string { return c.network }

// Addr is the address to dial: "127.0.0.1:40000", "[::1]:40000", a socket
// path, or "@name" for an abstract socket.
func (c *Canary) Addr() string { return c.addr }

// Touches returns what reached the canary so far.
func (c *Canary) Touches() []Touch {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Touch, len(c.touches))
	for i, t := range c.touches {
		t.Data = append([]byte(nil), t.Data...)
		out[i] = t
	}
	return out
}

// Touched reports whether anything reached the canary.
func (c *Canary) Touched() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.touches) > 0
}

func (c *Canary) String() string { return c.network + " canary " + c.addr }

func (c *Canary) accept(ln net.Listener) {
	defer c.wg.Done()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		t := Touch{Time: time.Now(), PID: -1, UID: -1}
		if a := conn.RemoteAddr(); a != nil && a.String() != "" && a.String() != "<nil>" {
			t.Remote = a.String()
		}
		if uc, ok := conn.(*net.UnixConn); ok {
			t.PID, t.UID = peerCred(uc)
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			conn.Close()
			return
		}
		c.touches = append(c.touches, t)
		idx := len(c.touches) - 1
		c.conns[conn] = true
		c.wg.Add(1)
		c.mu.Unlock()
		go c.read(conn, idx)
	}
}

// read keeps what the peer sends, up to canaryMax and for up to canaryRead.
func (c *Canary) read(conn net.Conn, idx int) {
	defer c.wg.Done()
	defer func() {
		c.mu.Lock()
		delete(c.conns, conn)
		c.mu.Unlock()
		conn.Close()
	}()
	conn.SetReadDeadline(time.Now().Add(canaryRead))
	buf := make([]byte, 4096)
	for total := 0; total < canaryMax; {
		n, err := conn.Read(buf[:min(len(buf), canaryMax-total)])
		if n > 0 {
			total += n
			c.mu.Lock()
			c.touches[idx].Data = append(c.touches[idx].Data, buf[:n]...)
			c.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

func (c *Canary) receive(pc net.PacketConn) {
	defer c.wg.Done()
	buf := make([]byte, canaryMax)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		t := Touch{Time: time.Now(), Data: append([]byte(nil), buf[:n]...), PID: -1, UID: -1}
		if from != nil {
			t.Remote = from.String()
		}
		c.mu.Lock()
		c.touches = append(c.touches, t)
		c.mu.Unlock()
	}
}

func peerCred(uc *net.UnixConn) (pid, uid int) {
	pid, uid = -1, -1
	raw, err := uc.SyscallConn()
	if err != nil {
		return
	}
	raw.Control(func(fd uintptr) {
		if cred, err := unix.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED); err == nil {
			pid, uid = int(cred.Pid), int(cred.Uid)
		}
	})
	return
}

func (c *Canary) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	for conn := range c.conns {
		conn.Close()
	}
	c.mu.Unlock()
	c.closeLn()
	waitTimeout(&c.wg, cleanupWait)
}

// CanarySet is the standard set of host-side canaries.
type CanarySet struct {
	TCP4, TCP6, TCPLAN *Canary // 127.0.0.1, ::1 and HostAddr4, random ports
	UDP4, UDP6, UDPLAN *Canary
	Unix               *Canary // a pathname socket, docker.sock in a temp dir
	Abstract           *Canary // an abstract unix socket
}

// All returns every canary of the set.
func (s *CanarySet) All() []*Canary {
	return []*Canary{s.TCP4, s.TCP6, s.TCPLAN, s.UDP4, s.UDP6, s.UDPLAN, s.Unix, s.Abstract}
}

// Touched returns the canaries that something reached.
func (s *CanarySet) Touched() []*Canary {
	var out []*Canary
	for _, c := range s.All() {
		if c.Touched() {
			out = append(out, c)
		}
	}
	return out
}

// Canaries returns the lab's standard canaries in the host namespace,
// starting them on first use: TCP and UDP on 127.0.0.1, [::1] and the LAN
// address HostAddr4 (random ports), a pathname unix socket and an abstract
// one. They are closed by the Lab's cleanup.
func (l *Lab) Canaries() *CanarySet {
	l.t.Helper()
	l.mu.Lock()
	if s := l.canaries; s != nil {
		l.mu.Unlock()
		return s
	}
	l.mu.Unlock()
	s := &CanarySet{}
	for _, c := range []struct {
		p                *(*Canary)
		network, address string
	}{
		{&s.TCP4, "tcp4", "127.0.0.1:0"},
		{&s.TCP6, "tcp6", "[::1]:0"},
		{&s.TCPLAN, "tcp4", HostAddr4.String() + ":0"},
		{&s.UDP4, "udp4", "127.0.0.1:0"},
		{&s.UDP6, "udp6", "[::1]:0"},
		{&s.UDPLAN, "udp4", HostAddr4.String() + ":0"},
		{&s.Unix, "unix", ""},
		{&s.Abstract, "unix", "@"},
	} {
		cn, err := newCanary(c.network, c.address)
		if err != nil {
			l.t.Fatalf("netlab: canary %s %s: %v", c.network, c.address, err)
		}
		l.onClose(cn.close)
		*c.p = cn
	}
	l.mu.Lock()
	l.canaries = s
	l.mu.Unlock()
	return s
}
