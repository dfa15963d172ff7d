package dns

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

const (
	// tcpIdle bounds the wait for each query, and for each reply to be
	// taken, on a TCP connection.
	tcpIdle = 10 * time.Second
	// tcpQueries bounds the queries answered on one TCP connection.
	tcpQueries = 256
	// maxConns bounds the TCP connections ServeListener serves at once.
	maxConns = 16
)

// ServePacket answers the queries arriving on pc (UDP, one socket per
// sandbox) until pc is closed, then returns nil once every reply in
// progress is finished; it returns any other read error. At most
// maxHandlers queries are answered at once; beyond that, reading waits.
func (s *Stub) ServePacket(pc net.PacketConn, sb *Sandbox) error {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	slots := make(chan struct{}, maxHandlers)
	buf := make([]byte, maxTCPReply)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		msg := bytes.Clone(buf[:n])
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() {
				<-slots
				wg.Done()
			}()
			if reply := s.answer(ctx, sb, msg, origin{proto: "udp", client: addrPort(addr)}); reply != nil {
				pc.WriteTo(reply, addr)
			}
		}()
	}
}

// ServeConn answers length-prefixed queries on c (DNS over TCP) one after
// another until the client closes it, is idle for too long, or sends
// something that is not a query; then it closes c.
func (s *Stub) ServeConn(c net.Conn, sb *Sandbox) {
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := origin{proto: "tcp", client: addrPort(c.RemoteAddr())}
	var lb [2]byte
	for range tcpQueries {
		c.SetReadDeadline(time.Now().Add(tcpIdle))
		if _, err := io.ReadFull(c, lb[:]); err != nil {
			return
		}
		msg := make([]byte, binary.BigEndian.Uint16(lb[:]))
		if _, err := io.ReadFull(c, msg); err != nil {
			return
		}
		reply := s.answer(ctx, sb, msg, o)
		if reply == nil {
			return
		}
		out := make([]byte, 2+len(reply))
		binary.BigEndian.PutUint16(out, uint16(len(reply)))
		copy(out[2:], reply)
		c.SetWriteDeadline(time.Now().Add(tcpIdle))
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// ServeListener accepts DNS-over-TCP connections on l and serves each with
// ServeConn, at most maxConns at once, until l is closed; then it returns
// nil once every connection is finished. Any other accept error is
// returned.
func (s *Stub) ServeListener(l net.Listener, sb *Sandbox) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, maxConns)
	for {
		slots <- struct{}{}
		c, err := l.Accept()
		if err != nil {
			<-slots
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer func() {
				<-slots
				wg.Done()
			}()
			s.ServeConn(c, sb)
		}()
	}
}

// addrPort is the address and port of a UDP or TCP peer, or the zero value.
func addrPort(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort()
	case *net.TCPAddr:
		return a.AddrPort()
	}
	if a != nil {
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			return ap
		}
	}
	return netip.AddrPort{}
}
