//go:build linux

package netlab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

const (
	zoneApex   = "test."
	defaultTTL = 60
	// maxChase bounds CNAME chains followed inside the zone.
	maxChase = 8
	// dnsIdle bounds how long a TCP DNS connection may sit idle.
	dnsIdle = 10 * time.Second
)

// Zone is the lab's authoritative DNS server for "test.", listening in the
// internet on 198.51.100.2:53 and [2001:db8:100::2]:53, over UDP and TCP.
//
// Names in the zone answer with their records (in-zone CNAMEs are
// followed), names that do not exist get NXDOMAIN, and names outside the
// zone get REFUSED. A name "*.x.test" is a wildcard for names under
// x.test that do not exist. The apex has an SOA and an NS record, ns.test.
// has the server's addresses, and negative answers carry the SOA with a
// TTL of 0. UDP answers larger than the client's buffer (512 bytes, or its
// EDNS size) are truncated (TC set, no records), so clients retry over TCP.
type Zone struct {
	lab *Lab

	mu      sync.Mutex
	records map[string][]record // by lower-case FQDN
	queries []Query
	conns   map[net.Conn]bool
}

// Query is one DNS query the Zone received.
type Query struct {
	Time      time.Time
	Name      string // as received, with the trailing dot
	Type      dnsmessage.Type
	Transport string // "udp" or "tcp"
	Remote    netip.AddrPort
	RCode     dnsmessage.RCode // the answer's
	Truncated bool             // answered with TC set
}

type record struct {
	ttl  uint32
	body dnsmessage.ResourceBody
}

func (r record) typ() dnsmessage.Type {
	switch r.body.(type) {
	case *dnsmessage.AResource:
		return dnsmessage.TypeA
	case *dnsmessage.AAAAResource:
		return dnsmessage.TypeAAAA
	case *dnsmessage.CNAMEResource:
		return dnsmessage.TypeCNAME
	case *dnsmessage.NSResource:
		return dnsmessage.TypeNS
	case *dnsmessage.MXResource:
		return dnsmessage.TypeMX
	case *dnsmessage.TXTResource:
		return dnsmessage.TypeTXT
	case *dnsmessage.SOAResource:
		return dnsmessage.TypeSOA
	}
	panic(fmt.Sprintf("netlab: unexpected record %T", r.body))
}

// DNS returns the lab's DNS zone.
func (l *Lab) DNS() *Zone { return l.zone }

// Addr is the zone server's IPv4 address and port, for use as a resolver's
// upstream.
func (z *Zone) Addr() netip.AddrPort { return netip.AddrPortFrom(NetAddr4, 53) }

// Addr6 is the zone server's IPv6 address and port.
func (z *Zone) Addr6() netip.AddrPort { return netip.AddrPortFrom(NetAddr6, 53) }

// Add adds records to name (absolute, with or without the trailing dot,
// inside "test."; "*.x.test" is a wildcard). Each record is
//
//	[TTL] TYPE DATA
//
// with TYPE one of A, AAAA, CNAME, NS, MX ("MX 10 mail.test") or TXT (the
// rest of the line as one string, or one or more "quoted strings"), and TTL
// in seconds (60 when left out). For example:
//
//	z.Add("allowed.test", "A 203.0.113.10", "AAAA 2001:db8:203::10")
//	z.Add("alias.test", "0 CNAME allowed.test")
func (z *Zone) Add(name string, rr ...string) {
	z.lab.t.Helper()
	if err := z.update(name, rr, false); err != nil {
		z.lab.t.Fatalf("netlab: %v", err)
	}
}

// Set replaces the records of name (as in Add); with none it removes the
// name. Changing answers between queries is how tests rebind a name.
func (z *Zone) Set(name string, rr ...string) {
	z.lab.t.Helper()
	if err := z.update(name, rr, true); err != nil {
		z.lab.t.Fatalf("netlab: %v", err)
	}
}

func (z *Zone) update(name string, rr []string, replace bool) error {
	fqdn, err := zoneName(name)
	if err != nil {
		return err
	}
	var recs []record
	for _, s := range rr {
		r, err := parseRecord(s)
		if err != nil {
			return fmt.Errorf("record %q for %s: %w", s, fqdn, err)
		}
		recs = append(recs, r)
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if replace {
		delete(z.records, fqdn)
	}
	if len(recs) > 0 {
		z.records[fqdn] = append(z.records[fqdn], recs...)
	}
	return nil
}

// Queries returns the queries received so far.
func (z *Zone) Queries() []Query {
	z.mu.Lock()
	defer z.mu.Unlock()
	return append([]Query(nil), z.queries...)
}

func inZone(fqdn string) bool {
	return fqdn == zoneApex || strings.HasSuffix(fqdn, "."+zoneApex)
}

// zoneName makes name a lower-case FQDN inside the zone.
func zoneName(name string) (string, error) {
	fqdn := strings.ToLower(name)
	if !strings.HasSuffix(fqdn, ".") {
		fqdn += "."
	}
	if !inZone(fqdn) {
		return "", fmt.Errorf("name %q is outside the zone %s", name, zoneApex)
	}
	if _, err := dnsmessage.NewName(fqdn); err != nil || strings.Contains(fqdn, "..") {
		return "", fmt.Errorf("bad name %q", name)
	}
	return fqdn, nil
}

func absName(s string) (dnsmessage.Name, error) {
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return dnsmessage.NewName(strings.ToLower(s))
}

func parseRecord(s string) (record, error) {
	fields := strings.Fields(s)
	r := record{ttl: defaultTTL}
	if len(fields) > 0 {
		if ttl, err := strconv.ParseUint(fields[0], 10, 31); err == nil {
			r.ttl = uint32(ttl)
			fields = fields[1:]
		}
	}
	if len(fields) < 2 {
		return r, errors.New("want [TTL] TYPE DATA")
	}
	typ, args := strings.ToUpper(fields[0]), fields[1:]
	one := func() (string, error) {
		if len(args) != 1 {
			return "", fmt.Errorf("%s wants one argument", typ)
		}
		return args[0], nil
	}
	switch typ {
	case "A", "AAAA":
		arg, err := one()
		if err != nil {
			return r, err
		}
		a, err := netip.ParseAddr(arg)
		if err != nil {
			return r, err
		}
		switch {
		case typ == "A" && a.Is4():
			r.body = &dnsmessage.AResource{A: a.As4()}
		case typ == "AAAA" && a.Is6() && !a.Is4In6():
			r.body = &dnsmessage.AAAAResource{AAAA: a.As16()}
		default:
			return r, fmt.Errorf("%s is not an address for %s", a, typ)
		}
	case "CNAME", "NS":
		arg, err := one()
		if err != nil {
			return r, err
		}
		n, err := absName(arg)
		if err != nil {
			return r, err
		}
		if typ == "CNAME" {
			r.body = &dnsmessage.CNAMEResource{CNAME: n}
		} else {
			r.body = &dnsmessage.NSResource{NS: n}
		}
	case "MX":
		if len(args) != 2 {
			return r, errors.New("MX wants a preference and a name")
		}
		pref, err := strconv.ParseUint(args[0], 10, 16)
		if err != nil {
			return r, err
		}
		n, err := absName(args[1])
		if err != nil {
			return r, err
		}
		r.body = &dnsmessage.MXResource{Pref: uint16(pref), MX: n}
	case "TXT":
		txt, err := parseTXT(s[strings.Index(strings.ToUpper(s), "TXT")+3:])
		if err != nil {
			return r, err
		}
		r.body = &dnsmessage.TXTResource{TXT: txt}
	default:
		return r, fmt.Errorf("unsupported type %s", typ)
	}
	return r, nil
}

// parseTXT reads TXT data: "quoted" "strings" (with \" and \\ escapes), or
// else the whole text as one string. Strings longer than 255 bytes are split.
func parseTXT(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	var out []string
	if !strings.HasPrefix(s, `"`) {
		out = []string{s}
	} else {
		for s != "" {
			if s[0] != '"' {
				return nil, fmt.Errorf("unexpected %q in TXT data", s)
			}
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			if i == len(s) {
				return nil, errors.New("unterminated string in TXT data")
			}
			out = append(out, b.String())
			s = strings.TrimSpace(s[i+1:])
		}
	}
	var split []string
	for _, t := range out {
		for len(t) > 255 {
			split = append(split, t[:255])
			t = t[255:]
		}
		split = append(split, t)
	}
	return split, nil
}

func (l *Lab) startDNS() (*Zone, error) {
	z := &Zone{lab: l, records: map[string][]record{}, conns: map[net.Conn]bool{}}
	ns := dnsmessage.MustNewName("ns." + zoneApex)
	z.records[zoneApex] = []record{
		{ttl: 0, body: &dnsmessage.SOAResource{
			NS: ns, MBox: dnsmessage.MustNewName("hostmaster." + zoneApex),
			Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, MinTTL: 0,
		}},
		{ttl: defaultTTL, body: &dnsmessage.NSResource{NS: ns}},
	}
	z.records[ns.String()] = []record{
		{ttl: defaultTTL, body: &dnsmessage.AResource{A: NetAddr4.As4()}},
		{ttl: defaultTTL, body: &dnsmessage.AAAAResource{AAAA: NetAddr6.As16()}},
	}
	for _, a := range []netip.Addr{NetAddr4, NetAddr6} {
		hp := netip.AddrPortFrom(a, 53).String()
		pc, err := l.ListenPacket("udp", hp)
		if err != nil {
			return nil, err
		}
		l.goroutine(func() { z.serveUDP(pc.(*net.UDPConn)) })
		ln, err := l.Listen("tcp", hp)
		if err != nil {
			return nil, err
		}
		l.goroutine(func() { z.serveTCP(ln) })
	}
	l.onClose(func() {
		z.mu.Lock()
		defer z.mu.Unlock()
		for c := range z.conns {
			c.Close()
		}
	})
	return z, nil
}

func (z *Zone) serveUDP(pc *net.UDPConn) {
	buf := make([]byte, 65535)
	for {
		n, from, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(time.Millisecond)
			continue
		}
		if resp := z.handle(buf[:n], "udp", from); resp != nil {
			pc.WriteToUDPAddrPort(resp, from)
		}
	}
}

func (z *Zone) serveTCP(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(time.Millisecond)
			continue
		}
		z.mu.Lock()
		z.conns[c] = true
		z.mu.Unlock()
		z.lab.goroutine(func() {
			defer func() {
				z.mu.Lock()
				delete(z.conns, c)
				z.mu.Unlock()
				c.Close()
			}()
			var from netip.AddrPort
			if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
				from = ta.AddrPort()
			}
			var lenBuf [2]byte
			for {
				c.SetDeadline(time.Now().Add(dnsIdle))
				if _, err := io.ReadFull(c, lenBuf[:]); err != nil {
					return
				}
				msg := make([]byte, binary.BigEndian.Uint16(lenBuf[:]))
				if _, err := io.ReadFull(c, msg); err != nil {
					return
				}
				resp := z.handle(msg, "tcp", from)
				if resp == nil {
					return
				}
				out := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(resp)), uint16(len(resp)))
				if _, err := c.Write(append(out, resp...)); err != nil {
					return
				}
			}
		})
	}
}

// handle answers one query message; nil means no answer.
func (z *Zone) handle(req []byte, transport string, from netip.AddrPort) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil || h.Response {
		return nil
	}
	resp := dnsmessage.Message{Header: dnsmessage.Header{
		ID: h.ID, Response: true, OpCode: h.OpCode, RecursionDesired: h.RecursionDesired,
	}}
	q, qerr := p.Question()
	if qerr == nil {
		resp.Questions = []dnsmessage.Question{q}
	}
	// Look for EDNS in the additional section.
	limit, edns := 512, false
	if qerr == nil {
		if p.SkipAllQuestions() == nil && p.SkipAllAnswers() == nil && p.SkipAllAuthorities() == nil {
			for {
				rh, err := p.AdditionalHeader()
				if err != nil {
					break
				}
				if rh.Type == dnsmessage.TypeOPT {
					edns = true
					limit = max(limit, int(rh.Class))
				}
				if p.SkipAdditional() != nil {
					break
				}
			}
		}
	}
	if transport == "tcp" {
		limit = 65535
	}

	switch {
	case h.OpCode != 0:
		resp.RCode = dnsmessage.RCodeNotImplemented
	case qerr != nil:
		resp.RCode = dnsmessage.RCodeFormatError
	default:
		z.answer(&resp, q)
	}
	if edns {
		var opt dnsmessage.ResourceHeader
		opt.SetEDNS0(1232, dnsmessage.RCodeSuccess, false)
		resp.Additionals = append(resp.Additionals, dnsmessage.Resource{Header: opt, Body: &dnsmessage.OPTResource{}})
	}
	out, err := resp.Pack()
	if err == nil && len(out) > limit {
		resp.Truncated = true
		resp.Answers, resp.Authorities = nil, nil
		out, err = resp.Pack()
	}
	if qerr == nil {
		z.mu.Lock()
		z.queries = append(z.queries, Query{
			Time: time.Now(), Name: q.Name.String(), Type: q.Type, Transport: transport,
			Remote: from, RCode: resp.RCode, Truncated: resp.Truncated,
		})
		z.mu.Unlock()
	}
	if err != nil {
		return nil
	}
	return out
}

// answer fills resp for the question q.
func (z *Zone) answer(resp *dnsmessage.Message, q dnsmessage.Question) {
	name := strings.ToLower(q.Name.String())
	if !inZone(name) || (q.Class != dnsmessage.ClassINET && q.Class != dnsmessage.ClassANY) {
		resp.RCode = dnsmessage.RCodeRefused
		return
	}
	resp.Authoritative = true

	z.mu.Lock()
	defer z.mu.Unlock()
	owner := q.Name
	for range maxChase {
		recs, exists := z.lookup(name)
		if !exists {
			// RFC 6604: the rcode describes the last name in the chain.
			resp.RCode = dnsmessage.RCodeNameError
			break
		}
		var cname *record
		matched := false
		for i, r := range recs {
			if r.typ() == q.Type || q.Type == dnsmessage.TypeALL {
				resp.Answers = append(resp.Answers, z.rr(owner, r))
				matched = true
			}
			if r.typ() == dnsmessage.TypeCNAME {
				cname = &recs[i]
			}
		}
		if matched || cname == nil {
			break
		}
		resp.Answers = append(resp.Answers, z.rr(owner, *cname))
		owner = cname.body.(*dnsmessage.CNAMEResource).CNAME
		name = strings.ToLower(owner.String())
		if !inZone(name) {
			break // not ours: the resolver follows it
		}
	}
	if len(resp.Answers) == 0 || resp.RCode == dnsmessage.RCodeNameError {
		soa := z.records[zoneApex][0]
		resp.Authorities = []dnsmessage.Resource{z.rr(dnsmessage.MustNewName(zoneApex), soa)}
	}
}

func (z *Zone) rr(owner dnsmessage.Name, r record) dnsmessage.Resource {
	return dnsmessage.Resource{
		Header: dnsmessage.ResourceHeader{Name: owner, Type: r.typ(), Class: dnsmessage.ClassINET, TTL: r.ttl},
		Body:   r.body,
	}
}

// lookup returns the records for name, whether the name exists (it may
// exist without records, above other names), and applies wildcards.
// z.mu is held.
func (z *Zone) lookup(name string) ([]record, bool) {
	if z.exists(name) {
		return z.records[name], true
	}
	// Find the closest existing ancestor; its wildcard child, if any, answers.
	for p := name; p != zoneApex; {
		p = p[strings.IndexByte(p, '.')+1:]
		if recs, ok := z.records["*."+p]; ok {
			return recs, true
		}
		if z.exists(p) {
			return nil, false
		}
	}
	return nil, false
}

func (z *Zone) exists(name string) bool {
	if _, ok := z.records[name]; ok {
		return true
	}
	for n := range z.records {
		if strings.HasSuffix(n, "."+name) {
			return true
		}
	}
	return false
}
