package dns

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// fakeRR is one record of the fake zone.
type fakeRR struct {
	typ   dnsmessage.Type
	ttl   uint32
	cname string // TypeCNAME: target, with the trailing dot
	addr  netip.Addr
}

// fakeZone is an authoritative server for a ".test" zone that records every
// question it receives: the canary that shows what left the stub.
type fakeZone struct {
	records map[string][]fakeRR // lower-case name with the trailing dot
	slow    map[string]bool     // never answered
	tcOnUDP map[string]bool     // truncated over UDP, answered over TCP
	chase   map[string]bool     // answers include the in-zone CNAME chain

	mu   sync.Mutex
	seen []string // "name TYPE proto"
}

func a(s string) fakeRR { return fakeRR{typ: dnsmessage.TypeA, ttl: 300, addr: netip.MustParseAddr(s)} }
func aaaa(s string) fakeRR {
	return fakeRR{typ: dnsmessage.TypeAAAA, ttl: 300, addr: netip.MustParseAddr(s)}
}
func cname(s string) fakeRR {
	return fakeRR{typ: dnsmessage.TypeCNAME, ttl: 300, cname: s}
}

func newTestZone() *fakeZone {
	z := &fakeZone{
		records: map[string][]fakeRR{
			"a.test.":        {a("192.0.2.1"), aaaa("2001:db8::1"), {typ: dnsmessage.TypeTXT, ttl: 300}},
			"ttl.test.":      {{typ: dnsmessage.TypeA, ttl: 7, addr: netip.MustParseAddr("192.0.2.7")}},
			"txt.test.":      {{typ: dnsmessage.TypeTXT, ttl: 300}, a("192.0.2.9")},
			"wild.test.":     {a("192.0.2.10")},
			"a.wild.test.":   {a("192.0.2.11")},
			"chain.test.":    {cname("c1.test.")},
			"c1.test.":       {cname("C2.test.")}, // case differs on purpose
			"c2.test.":       {a("192.0.2.12"), aaaa("2001:db8::12")},
			"full.test.":     {cname("f1.test.")},
			"f1.test.":       {cname("f2.test.")},
			"f2.test.":       {a("192.0.2.13")},
			"loop.test.":     {cname("loop2.test.")},
			"loop2.test.":    {cname("loop.test.")},
			"dangling.test.": {cname("gone.test.")},
			"local.test.":    {a("127.0.0.1")},
			"local6.test.":   {aaaa("::1"), aaaa("::ffff:127.0.0.1")},
			"meta.test.":     {a("169.254.169.254")},
			"mixed.test.":    {a("192.0.2.3"), a("127.0.0.1"), a("0.0.0.0")},
			"metaok.test.":   {a("169.254.10.10")},
			"slow.test.":     {a("192.0.2.99")},
			"nodata.test.":   {aaaa("2001:db8::5")},
		},
		slow:    map[string]bool{"slow.test.": true},
		tcOnUDP: map[string]bool{"bigtc.test.": true},
		chase:   map[string]bool{"full.test.": true},
	}
	for i := range 12 {
		name := "long" + itoa(i) + ".test."
		z.records[name] = []fakeRR{cname("long" + itoa(i+1) + ".test.")}
	}
	z.records["long12.test."] = []fakeRR{a("192.0.2.20")}
	for i := range 60 {
		rr := a("198.51.100." + itoa(i+1))
		z.records["big.test."] = append(z.records["big.test."], rr)
		z.records["bigtc.test."] = append(z.records["bigtc.test."], rr)
	}
	return z
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// queries returns what the zone was asked, as "name TYPE proto".
func (z *fakeZone) queries() []string {
	z.mu.Lock()
	defer z.mu.Unlock()
	return append([]string(nil), z.seen...)
}

// asked reports whether any question to the zone contained s
// (case-insensitively).
func (z *fakeZone) asked(s string) bool {
	s = strings.ToLower(s)
	for _, q := range z.queries() {
		if strings.Contains(strings.ToLower(q), s) {
			return true
		}
	}
	return false
}

// handle answers one query, or returns nil to stay silent.
func (z *fakeZone) handle(msg []byte, tcp bool) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	name := strings.ToLower(q.Name.String())
	proto := "udp"
	if tcp {
		proto = "tcp"
	}
	z.mu.Lock()
	z.seen = append(z.seen, name+" "+typeName(q.Type)+" "+proto)
	z.mu.Unlock()
	if z.slow[name] {
		return nil
	}
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
	var answers []dnsmessage.Resource
	if z.tcOnUDP[name] && !tcp {
		rh.Truncated = true
	} else if _, ok := z.records[name]; !ok {
		rh.RCode = dnsmessage.RCodeNameError
	} else {
		owner := name
		for range 20 {
			var cn string
			for _, rr := range z.records[owner] {
				hdr := dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(owner), Class: dnsmessage.ClassINET, TTL: rr.ttl}
				switch {
				case rr.typ == q.Type && rr.typ == dnsmessage.TypeA:
					answers = append(answers, dnsmessage.Resource{Header: hdr, Body: &dnsmessage.AResource{A: rr.addr.As4()}})
				case rr.typ == q.Type && rr.typ == dnsmessage.TypeAAAA:
					answers = append(answers, dnsmessage.Resource{Header: hdr, Body: &dnsmessage.AAAAResource{AAAA: rr.addr.As16()}})
				case rr.typ == q.Type && rr.typ == dnsmessage.TypeTXT:
					answers = append(answers, dnsmessage.Resource{Header: hdr, Body: &dnsmessage.TXTResource{TXT: []string{"v=spf1 -all"}}})
				case rr.typ == dnsmessage.TypeCNAME:
					answers = append(answers, dnsmessage.Resource{Header: hdr, Body: &dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName(rr.cname)}})
					cn = strings.ToLower(rr.cname)
				}
			}
			if cn == "" || !z.chase[name] {
				break
			}
			if _, ok := z.records[cn]; !ok {
				break
			}
			owner = cn
		}
	}
	m := dnsmessage.Message{Header: rh, Questions: []dnsmessage.Question{q}, Answers: answers}
	out, err := m.Pack()
	if err != nil {
		return nil
	}
	if !tcp && len(out) > maxUDPReply {
		m.Answers, m.Header.Truncated = nil, true
		out, _ = m.Pack()
	}
	return out
}

// serve runs z on 127.0.0.1, UDP and TCP on the same port, until the test
// ends.
func (z *fakeZone) serve(t *testing.T) netip.AddrPort {
	t.Helper()
	var pc net.PacketConn
	var ln net.Listener
	for range 20 {
		var err error
		pc, err = net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp4", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		pc = nil
	}
	if pc == nil {
		t.Fatal("no port free for both UDP and TCP")
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if out := z.handle(buf[:n], false); out != nil {
				pc.WriteTo(out, from)
			}
		}
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				for {
					msg, err := readTCPMessage(c)
					if err != nil {
						return
					}
					out := z.handle(msg, true)
					if out == nil {
						return
					}
					if writeTCPMessage(c, out) != nil {
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		pc.Close()
		ln.Close()
		wg.Wait()
	})
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

func readTCPMessage(c net.Conn) ([]byte, error) {
	var lb [2]byte
	if _, err := io.ReadFull(c, lb[:]); err != nil {
		return nil, err
	}
	msg := make([]byte, binary.BigEndian.Uint16(lb[:]))
	if _, err := io.ReadFull(c, msg); err != nil {
		return nil, err
	}
	return msg, nil
}

func writeTCPMessage(c net.Conn, msg []byte) error {
	if len(msg) > 65535 {
		return errors.New("message too long")
	}
	out := binary.BigEndian.AppendUint16(nil, uint16(len(msg)))
	_, err := c.Write(append(out, msg...))
	return err
}
