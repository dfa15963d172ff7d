//go:build linux

package netlab

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sys/unix"
)

var (
	origin4 = netip.MustParseAddr("203.0.113.10")
	origin6 = netip.MustParseAddr("2001:db8:203::10")
)

// get fetches url with a client whose connections go to dial (an address
// in the lab) whatever the URL's host, trusting only the lab's CA.
func get(t *testing.T, l *Lab, url string, dial netip.AddrPort) string {
	t.Helper()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, dial.String())
		},
		TLSClientConfig:   &tls.Config{RootCAs: l.CertPool()},
		DisableKeepAlives: true,
		ForceAttemptHTTP2: true,
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s via %s: %v", url, dial, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(b)
}

func TestOrigins(t *testing.T) {
	l := New(t)
	for _, a := range []netip.Addr{origin4, origin6} {
		httpO := l.HTTPOrigin(a.String())
		tlsO := l.TLSOrigin(netip.AddrPortFrom(a, 443).String(), "allowed.test", "other.test")

		body := get(t, l, "http://allowed.test/plain", httpO.Addr())
		if want := fmt.Sprintf("origin %s host=allowed.test path=/plain\n", httpO.Addr()); body != want {
			t.Errorf("HTTP body %q, want %q", body, want)
		}
		body = get(t, l, "https://allowed.test/secret", tlsO.Addr())
		if want := fmt.Sprintf("origin %s sni=allowed.test host=allowed.test path=/secret\n", tlsO.Addr()); body != want {
			t.Errorf("HTTPS body %q, want %q", body, want)
		}

		hostAddr := HostAddr4
		if a.Is6() {
			hostAddr = HostAddr6
		}
		hits := httpO.Hits()
		if len(hits) != 1 || hits[0].Host != "allowed.test" || hits[0].Path != "/plain" || hits[0].Method != "GET" ||
			hits[0].SNI != "" || hits[0].Remote.Addr() != hostAddr {
			t.Errorf("HTTP origin %s hits %+v", httpO.Addr(), hits)
		}
		hits = tlsO.Hits()
		if len(hits) != 1 || hits[0].Host != "allowed.test" || hits[0].SNI != "allowed.test" || hits[0].Proto != "HTTP/2.0" ||
			hits[0].Remote.Addr() != hostAddr {
			t.Errorf("TLS origin %s hits %+v", tlsO.Addr(), hits)
		}
		if conns := tlsO.Conns(); len(conns) != 1 || conns[0].SNI != "allowed.test" {
			t.Errorf("TLS origin %s conns %+v", tlsO.Addr(), conns)
		}
		if httpO.Count() != 1 || tlsO.Count() != 1 {
			t.Errorf("counts %d %d", httpO.Count(), tlsO.Count())
		}

		// A name the certificate does not cover: the handshake fails, the
		// connection and its SNI are still recorded, no request is.
		c, err := tls.Dial("tcp", tlsO.Addr().String(), &tls.Config{RootCAs: l.CertPool(), ServerName: "evil.test"})
		if err == nil {
			c.Close()
			t.Errorf("TLS to %s with SNI evil.test succeeded", tlsO.Addr())
		}
		waitFor(t, func() bool { return len(tlsO.Conns()) == 2 })
		if conns := tlsO.Conns(); conns[1].SNI != "evil.test" || tlsO.Count() != 1 {
			t.Errorf("after the bad handshake: conns %+v, %d hits", conns, tlsO.Count())
		}
	}

	// Query and body are recorded.
	post := l.HTTPOrigin("203.0.113.11:8080")
	resp, err := http.Post(post.URL()+"/up?k=v", "text/plain", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if hits := post.Hits(); len(hits) != 1 || hits[0].Method != "POST" || hits[0].Path != "/up" || hits[0].Query != "k=v" ||
		string(hits[0].Body) != "payload" || hits[0].Host != "203.0.113.11:8080" {
		t.Errorf("POST hits %+v", hits)
	}

	// An origin address nobody listens on refuses at once.
	for _, a := range []string{"203.0.113.99:80", "[2001:db8:203::99]:80"} {
		start := time.Now()
		if c, err := net.DialTimeout("tcp", a, 5*time.Second); err == nil {
			c.Close()
			t.Errorf("dial to unused %s succeeded", a)
		} else if !errors.Is(err, unix.ECONNREFUSED) || time.Since(start) > 2*time.Second {
			t.Errorf("dial to unused %s: %v after %v", a, err, time.Since(start))
		}
	}

	// The CA file holds the CA.
	pem, path := l.CA()
	b, err := os.ReadFile(path)
	if err != nil || string(b) != string(pem) || !strings.Contains(string(pem), "BEGIN CERTIFICATE") {
		t.Errorf("CA file %s: %v", path, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm()&0o004 == 0 {
		t.Errorf("CA file %s is not world-readable: %v", path, err)
	}
}

func TestListenInNamespace(t *testing.T) {
	l := New(t)
	ln, err := l.Listen("tcp", "203.0.113.20:7000")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err.Error()
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		done <- string(b)
	}()
	c, err := net.Dial("tcp", "203.0.113.20:7000")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "ping")
	c.Close()
	if got := <-done; got != "ping" {
		t.Errorf("listener read %q", got)
	}

	pc, err := l.ListenPacket("udp", "[2001:db8:203::20]:7001")
	if err != nil {
		t.Fatal(err)
	}
	uc, err := net.Dial("udp", "[2001:db8:203::20]:7001")
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	uc.Write([]byte("dgram"))
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	n, from, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "dgram" || !strings.Contains(from.String(), HostAddr6.String()) {
		t.Errorf("ReadFrom: %q from %v: %v", buf[:n], from, err)
	}

	// The lab does not see the host's listeners on loopback: it is
	// another namespace.
	err = l.Do(func() error {
		var st unix.Stat_t
		if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
			return err
		}
		// Not /proc/self/ns/net: that is the main thread's, and Do may be
		// running on the main thread.
		var hst unix.Stat_t
		if err := unix.Fstat(int(l.hostNS), &hst); err != nil {
			return err
		}
		if st.Ino == hst.Ino {
			return fmt.Errorf("Do ran in the host namespace")
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// exchange sends one query and returns the answer.
func exchange(t *testing.T, network string, server netip.AddrPort, name string, typ dnsmessage.Type, edns bool) dnsmessage.Message {
	t.Helper()
	q := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: 4242, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET}},
	}
	if edns {
		var h dnsmessage.ResourceHeader
		h.SetEDNS0(4096, dnsmessage.RCodeSuccess, false)
		q.Additionals = []dnsmessage.Resource{{Header: h, Body: &dnsmessage.OPTResource{}}}
	}
	msg, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout(network, server.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var resp []byte
	if network == "tcp" {
		if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(msg))), msg...)); err != nil {
			t.Fatal(err)
		}
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			t.Fatal(err)
		}
		resp = make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(c, resp); err != nil {
			t.Fatal(err)
		}
	} else {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		resp = make([]byte, 65535)
		n, err := c.Read(resp)
		if err != nil {
			t.Fatal(err)
		}
		resp = resp[:n]
	}
	var m dnsmessage.Message
	if err := m.Unpack(resp); err != nil {
		t.Fatal(err)
	}
	if m.ID != 4242 || !m.Response {
		t.Fatalf("bad answer header %+v", m.Header)
	}
	return m
}

func answers(m dnsmessage.Message) []string {
	var out []string
	for _, a := range m.Answers {
		out = append(out, a.Header.Name.String()+" "+a.Body.GoString())
	}
	return out
}

func TestDNS(t *testing.T) {
	l := New(t)
	z := l.DNS()
	z.Add("allowed.test", "A 203.0.113.10", "AAAA 2001:db8:203::10")
	z.Add("alias.test.", "0 CNAME allowed.test")
	z.Add("outside.test", "CNAME example.invalid")
	z.Add("dangling.test", "CNAME gone.test")
	z.Add("text.test", `TXT "hello world" "two"`)
	z.Add("big.test", "TXT "+strings.Repeat("x", 1000))
	z.Add("*.exfil.test", "A 203.0.113.66")
	z.Add("deep.name.test", "A 203.0.113.67")

	for _, server := range []netip.AddrPort{z.Addr(), z.Addr6()} {
		for _, network := range []string{"udp", "tcp"} {
			m := exchange(t, network, server, "Allowed.Test.", dnsmessage.TypeA, false)
			if m.RCode != dnsmessage.RCodeSuccess || !m.Authoritative || len(m.Answers) != 1 ||
				m.Answers[0].Body.(*dnsmessage.AResource).A != origin4.As4() || m.Answers[0].Header.Name.String() != "Allowed.Test." {
				t.Errorf("%s %s A: %v %v", network, server, m.RCode, answers(m))
			}
			m = exchange(t, network, server, "allowed.test.", dnsmessage.TypeAAAA, false)
			if len(m.Answers) != 1 || m.Answers[0].Body.(*dnsmessage.AAAAResource).AAAA != origin6.As16() {
				t.Errorf("%s %s AAAA: %v", network, server, answers(m))
			}
		}
	}

	m := exchange(t, "udp", z.Addr(), "alias.test.", dnsmessage.TypeA, false)
	if len(m.Answers) != 2 || m.Answers[0].Header.Type != dnsmessage.TypeCNAME || m.Answers[0].Header.TTL != 0 ||
		m.Answers[1].Header.Name.String() != "allowed.test." || m.Answers[1].Header.Type != dnsmessage.TypeA {
		t.Errorf("CNAME chase: %v", answers(m))
	}
	m = exchange(t, "udp", z.Addr(), "alias.test.", dnsmessage.TypeCNAME, false)
	if len(m.Answers) != 1 || m.Answers[0].Body.(*dnsmessage.CNAMEResource).CNAME.String() != "allowed.test." {
		t.Errorf("CNAME query: %v", answers(m))
	}
	m = exchange(t, "udp", z.Addr(), "outside.test.", dnsmessage.TypeA, false)
	if m.RCode != dnsmessage.RCodeSuccess || len(m.Answers) != 1 {
		t.Errorf("CNAME out of zone: %v %v", m.RCode, answers(m))
	}
	m = exchange(t, "udp", z.Addr(), "dangling.test.", dnsmessage.TypeA, false)
	if m.RCode != dnsmessage.RCodeNameError || len(m.Answers) != 1 {
		t.Errorf("dangling CNAME: %v %v", m.RCode, answers(m))
	}

	m = exchange(t, "udp", z.Addr(), "unknown.test.", dnsmessage.TypeA, false)
	if m.RCode != dnsmessage.RCodeNameError || !m.Authoritative || len(m.Answers) != 0 ||
		len(m.Authorities) != 1 || m.Authorities[0].Header.Type != dnsmessage.TypeSOA {
		t.Errorf("unknown name: %v %v %v", m.RCode, answers(m), m.Authorities)
	}
	m = exchange(t, "udp", z.Addr(), "allowed.test.", dnsmessage.TypeMX, false)
	if m.RCode != dnsmessage.RCodeSuccess || len(m.Answers) != 0 || len(m.Authorities) != 1 {
		t.Errorf("no data: %v %v", m.RCode, answers(m))
	}
	m = exchange(t, "udp", z.Addr(), "name.test.", dnsmessage.TypeA, false)
	if m.RCode != dnsmessage.RCodeSuccess || len(m.Answers) != 0 {
		t.Errorf("empty non-terminal: %v %v", m.RCode, answers(m))
	}
	m = exchange(t, "udp", z.Addr(), "example.com.", dnsmessage.TypeA, false)
	if m.RCode != dnsmessage.RCodeRefused || m.Authoritative {
		t.Errorf("outside the zone: %v", m.RCode)
	}
	m = exchange(t, "udp", z.Addr(), "c2VjcmV0.x.exfil.test.", dnsmessage.TypeA, false)
	if m.RCode != dnsmessage.RCodeSuccess || len(m.Answers) != 1 || m.Answers[0].Header.Name.String() != "c2VjcmV0.x.exfil.test." {
		t.Errorf("wildcard: %v %v", m.RCode, answers(m))
	}
	m = exchange(t, "udp", z.Addr(), "test.", dnsmessage.TypeSOA, false)
	if len(m.Answers) != 1 || m.Answers[0].Header.Type != dnsmessage.TypeSOA {
		t.Errorf("apex SOA: %v", answers(m))
	}

	m = exchange(t, "udp", z.Addr(), "text.test.", dnsmessage.TypeTXT, false)
	if len(m.Answers) != 1 || strings.Join(m.Answers[0].Body.(*dnsmessage.TXTResource).TXT, "|") != "hello world|two" {
		t.Errorf("TXT: %v", answers(m))
	}
	// Too big for UDP without EDNS: truncated; complete over TCP or with EDNS.
	m = exchange(t, "udp", z.Addr(), "big.test.", dnsmessage.TypeTXT, false)
	if !m.Truncated || len(m.Answers) != 0 {
		t.Errorf("big TXT over UDP: TC=%v %d answers", m.Truncated, len(m.Answers))
	}
	for _, network := range []string{"tcp", "udp"} {
		m = exchange(t, network, z.Addr(), "big.test.", dnsmessage.TypeTXT, network == "udp")
		if m.Truncated || len(m.Answers) != 1 || len(strings.Join(m.Answers[0].Body.(*dnsmessage.TXTResource).TXT, "")) != 1000 {
			t.Errorf("big TXT over %s: TC=%v %v", network, m.Truncated, answers(m))
		}
	}

	// Rebinding: Set changes the answer.
	z.Set("allowed.test", "0 A 198.51.100.1")
	m = exchange(t, "udp", z.Addr(), "allowed.test.", dnsmessage.TypeA, false)
	if len(m.Answers) != 1 || m.Answers[0].Body.(*dnsmessage.AResource).A != HostAddr4.As4() {
		t.Errorf("after Set: %v", answers(m))
	}

	// Go's resolver pointed at the zone.
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, z.Addr().String())
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addrs, err := r.LookupNetIP(ctx, "ip", "alias.test")
	if err != nil || len(addrs) != 1 || addrs[0] != HostAddr4 {
		t.Errorf("LookupNetIP alias.test: %v %v", addrs, err)
	}
	if _, err := r.LookupNetIP(ctx, "ip4", "nothing.test"); err == nil || !err.(*net.DNSError).IsNotFound {
		t.Errorf("LookupNetIP nothing.test: %v", err)
	}

	// Every query is logged.
	qs := z.Queries()
	find := func(name string, typ dnsmessage.Type, transport string) *Query {
		for i, q := range qs {
			if strings.EqualFold(q.Name, name) && q.Type == typ && q.Transport == transport {
				return &qs[i]
			}
		}
		return nil
	}
	if q := find("allowed.test.", dnsmessage.TypeA, "tcp"); q == nil || q.RCode != dnsmessage.RCodeSuccess ||
		(q.Remote.Addr() != HostAddr4 && q.Remote.Addr() != HostAddr6) {
		t.Errorf("allowed.test A over TCP: %+v", q)
	}
	if q := find("unknown.test.", dnsmessage.TypeA, "udp"); q == nil || q.RCode != dnsmessage.RCodeNameError {
		t.Errorf("unknown.test: %+v", q)
	}
	if q := find("c2VjcmV0.x.exfil.test.", dnsmessage.TypeA, "udp"); q == nil {
		t.Error("exfiltration query not logged")
	}
	if q := find("example.com.", dnsmessage.TypeA, "udp"); q == nil || q.RCode != dnsmessage.RCodeRefused {
		t.Errorf("example.com: %+v", q)
	}
	if q := find("big.test.", dnsmessage.TypeTXT, "udp"); q == nil || !q.Truncated {
		t.Errorf("big.test over UDP: %+v", q)
	}
	if q := find("nothing.test.", dnsmessage.TypeA, "udp"); q == nil {
		t.Error("the resolver's query for nothing.test was not logged")
	}
}

func TestParseRecord(t *testing.T) {
	for _, bad := range []string{"", "A", "A 2001:db8::1", "AAAA 203.0.113.1", "A 1.2.3.4 5", "MX x.test", "SRV 1 2 3 x.test", `TXT "open`} {
		if _, err := parseRecord(bad); err == nil {
			t.Errorf("parseRecord(%q) succeeded", bad)
		}
	}
	r, err := parseRecord("300 mx 10 Mail.Test")
	if err != nil || r.ttl != 300 || r.body.(*dnsmessage.MXResource).MX.String() != "mail.test." {
		t.Errorf("MX: %+v %v", r, err)
	}
	r, err = parseRecord(`TXT "a \"q\"" "b\\"`)
	if err != nil || strings.Join(r.body.(*dnsmessage.TXTResource).TXT, "|") != `a "q"|b\` {
		t.Errorf("TXT: %+v %v", r, err)
	}
	for _, bad := range []string{"example.com", "test.invalid", "a..test"} {
		if _, err := zoneName(bad); err == nil {
			t.Errorf("zoneName(%q) succeeded", bad)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCanaries(t *testing.T) {
	l := New(t)
	s := l.Canaries()
	if l.Canaries() != s {
		t.Error("Canaries made a second set")
	}
	if len(s.Touched()) != 0 {
		t.Fatalf("touched before use: %v", s.Touched())
	}
	for _, c := range s.All() {
		network := c.Network()
		if network == "unix" {
			if fi, err := os.Stat(c.Addr()); c != s.Abstract && (err != nil || fi.Mode().Perm() != 0o777) {
				t.Errorf("%v: mode %v, %v", c, fi.Mode(), err)
			}
		}
		conn, err := net.Dial(network, c.Addr())
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		io.WriteString(conn, "exfil "+c.Addr())
		conn.Close()
	}
	for _, c := range s.All() {
		waitFor(t, func() bool {
			ts := c.Touches()
			return len(ts) == 1 && string(ts[0].Data) == "exfil "+c.Addr()
		})
		ts := c.Touches()
		if c.Network() == "unix" && (ts[0].PID != os.Getpid() || ts[0].UID != os.Getuid()) {
			t.Errorf("%v: peer %d/%d", c, ts[0].PID, ts[0].UID)
		}
		if strings.HasPrefix(c.Network(), "tcp") && ts[0].Remote == "" {
			t.Errorf("%v: no remote address", c)
		}
	}
	if !strings.HasPrefix(s.TCPLAN.Addr(), HostAddr4.String()+":") || !strings.HasPrefix(s.Abstract.Addr(), "@") {
		t.Errorf("addresses %s %s", s.TCPLAN.Addr(), s.Abstract.Addr())
	}

	// A standalone canary needs no lab.
	c := NewCanary(t, "unixgram", "")
	conn, err := net.Dial("unixgram", c.Addr())
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("dgram"))
	conn.Close()
	waitFor(t, c.Touched)
}

// nsRefs reports whether any fd or thread of this process refers to the
// network namespace with inode ino.
func nsRefs(t *testing.T, ino uint64) []string {
	t.Helper()
	want := fmt.Sprintf("net:[%d]", ino)
	var refs []string
	for _, dir := range []string{"/proc/self/fd", "/proc/self/task"} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			p := dir + "/" + e.Name()
			if dir == "/proc/self/task" {
				p += "/ns/net"
			}
			if target, err := os.Readlink(p); err == nil && target == want {
				refs = append(refs, p)
			}
		}
	}
	return refs
}

func TestCleanup(t *testing.T) {
	forward, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	before := runtime.NumGoroutine()
	var link, dir string
	var ino uint64
	var lab *Lab
	t.Run("lab", func(t *testing.T) {
		l := New(t)
		lab = l
		link, dir = l.HostLink(), l.dir
		var st unix.Stat_t
		if err := unix.Stat(l.NetNSPath(), &st); err != nil {
			t.Fatal(err)
		}
		ino = st.Ino
		if len(nsRefs(t, ino)) == 0 {
			t.Fatal("no reference to the lab namespace while it lives")
		}
		l.HTTPOrigin("203.0.113.10")
		l.TLSOrigin("[2001:db8:203::10]:443")
		l.Canaries()
		get(t, l, "https://[2001:db8:203::10]/", netip.MustParseAddrPort("[2001:db8:203::10]:443"))
		if _, err := netlink.LinkByName(link); err != nil {
			t.Fatalf("link %s: %v", link, err)
		}
	})
	if t.Skipped() || link == "" {
		return
	}
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range links {
		if strings.HasPrefix(k.Attrs().Name, linkPrefix) {
			t.Errorf("link %s still exists", k.Attrs().Name)
		}
	}
	for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := netlink.RouteList(nil, family)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range routes {
			if r.Dst != nil && (r.Dst.String() == OriginPrefix4.String() || r.Dst.String() == OriginPrefix6.String()) {
				t.Errorf("route %v still exists", r)
			}
		}
	}
	if err := lab.Do(func() error { return nil }); err == nil {
		t.Error("Do after cleanup succeeded")
	}
	if err := lab.addAddr(netip.MustParseAddr("203.0.113.50")); err == nil {
		t.Error("addAddr after cleanup succeeded")
	}
	if refs := nsRefs(t, ino); len(refs) > 0 {
		t.Errorf("the lab namespace is still referenced by %v", refs)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temp dir %s: %v", dir, err)
	}
	if now, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(now) != string(forward) {
		t.Errorf("ip_forward changed from %q to %q", forward, now)
	}
	// No goroutine outlives the lab (allow the runtime a moment to retire them).
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after cleanup, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// Two Labs cannot coexist (same addresses and routes), so parallel tests
// each get one in turn.
func TestTwoLabs(t *testing.T) {
	var mu sync.Mutex
	type span struct{ start, end time.Time }
	var spans []span
	t.Run("group", func(t *testing.T) {
		for i := range 2 {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				l := New(t)
				start := time.Now()
				t.Cleanup(func() {
					mu.Lock()
					spans = append(spans, span{start, time.Now()})
					mu.Unlock()
				})
				o := l.HTTPOrigin("203.0.113.10:8080")
				l.DNS().Add("lab.test", fmt.Sprintf("TXT lab%d", i))
				body := get(t, l, "http://lab.test/", o.Addr())
				if !strings.Contains(body, "host=lab.test") || o.Count() != 1 {
					t.Errorf("body %q, %d hits", body, o.Count())
				}
				m := exchange(t, "udp", l.DNS().Addr(), "lab.test.", dnsmessage.TypeTXT, false)
				if len(m.Answers) != 1 || m.Answers[0].Body.(*dnsmessage.TXTResource).TXT[0] != fmt.Sprintf("lab%d", i) {
					t.Errorf("lab %d answered %v", i, answers(m))
				}
				time.Sleep(100 * time.Millisecond)
			})
		}
	})
	if len(spans) == 2 {
		a, b := spans[0], spans[1]
		if a.start.Before(b.end) && b.start.Before(a.end) {
			t.Errorf("two labs overlapped: %v", spans)
		}
	}
}

// fatalTB records a fatal failure instead of failing the test.
type fatalTB struct {
	*testing.T
	name string
	msg  string
}

func (f *fatalTB) Name() string { return f.name }
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fatalTB) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

func TestNestedNewFails(t *testing.T) {
	New(t)
	f := &fatalTB{T: t, name: t.Name() + "/sub"}
	done := make(chan struct{})
	go func() {
		defer close(done)
		New(f)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("New in a subtest of the holder waited")
	}
	if !strings.Contains(f.msg, "already holds a Lab") {
		t.Errorf("message %q", f.msg)
	}
}

// The first datagram to a fresh lab arrives: no address, neighbour entry
// or link is still being set up (each once cost a lost packet or a second).
func TestFirstPackets(t *testing.T) {
	for i := range 5 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			l := New(t)
			for _, server := range []netip.AddrPort{l.DNS().Addr6(), l.DNS().Addr()} {
				send(t, server.String(), nil)
			}
			for _, a := range []string{"[2001:db8:203::77]:9", "203.0.113.77:9"} {
				pc, err := l.ListenPacket("udp", a)
				if err != nil {
					t.Fatal(err)
				}
				send(t, a, pc)
			}
		})
	}
}

// send sends one datagram to addr and expects it within 500ms on pc, or
// else (a DNS server) an answer.
func send(t *testing.T, addr string, pc net.PacketConn) {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q, _ := (&dnsmessage.Message{Questions: []dnsmessage.Question{{
		Name: dnsmessage.MustNewName("test."), Type: dnsmessage.TypeSOA, Class: dnsmessage.ClassINET,
	}}}).Pack()
	if _, err := c.Write(q); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(500 * time.Millisecond)
	if pc != nil {
		pc.SetReadDeadline(deadline)
		_, _, err = pc.ReadFrom(make([]byte, 512))
	} else {
		c.SetReadDeadline(deadline)
		_, err = c.Read(make([]byte, 512))
	}
	if err != nil {
		t.Errorf("first datagram to %s: %v", addr, err)
	}
}

// New removes what a crashed run left: here a link with the lab's prefix
// holding the lab's host address and routes.
func TestLeftovers(t *testing.T) {
	requireRoot(t)
	name := linkPrefix + "deadbeef"
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: linkPrefix + "deadbee0"}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if k, err := netlink.LinkByName(name); err == nil {
			netlink.LinkDel(k)
		}
	})
	k, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{name, veth.PeerName} {
		if err := netlink.LinkSetUp(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := netlink.AddrAdd(k, nlAddr(netip.PrefixFrom(HostAddr4, 24))); err != nil {
		t.Fatal(err)
	}
	if err := netlink.RouteAdd(&netlink.Route{LinkIndex: k.Attrs().Index, Dst: ipNet(OriginPrefix4), Gw: NetAddr4.AsSlice()}); err != nil {
		t.Fatal(err)
	}
	l := New(t)
	for _, n := range []string{name, veth.PeerName} {
		if _, err := netlink.LinkByName(n); err == nil {
			t.Errorf("leftover %s still exists", n)
		}
	}
	o := l.HTTPOrigin("203.0.113.10")
	get(t, l, "http://leftover.test/", o.Addr())
}

// A process that dies holding a Lab leaves nothing behind: its namespace
// goes with its last file descriptor, and the veth pair with the namespace.
func TestCrash(t *testing.T) {
	if os.Getenv("NETLAB_CRASH_HELPER") == "1" {
		l := New(t)
		l.HTTPOrigin("203.0.113.10")
		fmt.Println("LINK", l.HostLink())
		os.Exit(3) // no cleanup
	}
	requireRoot(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), "NETLAB_CRASH_HELPER=1")
	out, _ := cmd.Output()
	var link string
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "LINK "); ok {
			link = rest
		}
	}
	if link == "" || cmd.ProcessState.ExitCode() != 3 {
		t.Fatalf("helper: exit %d, output %q", cmd.ProcessState.ExitCode(), out)
	}
	waitFor(t, func() bool {
		_, err := netlink.LinkByName(link)
		return err != nil
	})
	// And the next Lab works.
	l := New(t)
	o := l.HTTPOrigin("203.0.113.10")
	get(t, l, "http://after.crash.test/", o.Addr())
}
