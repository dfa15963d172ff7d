package proxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/proxy"

	"github.com/paddock-sh/paddock/agentd/events"
)

// TestTransparentTLS: a redirected TLS connection is decided on its SNI
// (or, without one, on the original address) and dialled by name.
func TestTransparentTLS(t *testing.T) {
	w := newWorld(t)
	cases := []struct {
		name       string
		orig       *origin
		sni        string // "" sends none
		wantOrigin string
		wantHost   string
		wantRule   string
	}{
		{"sni allowed", w.allowedTLS, "allowed.test", "allowed-tls", "allowed.test", "network.allow[0] (agent.hcl:10)"},
		{"sni spelled oddly", w.allowedTLS, "ALLOWED.test.", "allowed-tls", "allowed.test", "network.allow[0] (agent.hcl:10)"},
		{"sni wildcard", w.wildTLS, "x.wild.test", "wild-tls", "x.wild.test", "network.allow[1] (agent.hcl:11)"},
		{"sni denied by rule", w.wildTLS, "bad.wild.test", "", "bad.wild.test", "network.deny[0] (agent.hcl:40)"},
		{"sni wildcard apex", w.wildTLS, "wild.test", "", "wild.test", ""},
		{"sni unknown", w.allowedTLS, "evil.test", "", "evil.test", ""},
		{"sni resolves to loopback", w.allowedTLS, "rebind.test", "", "rebind.test", ""},
		{"no sni, allowed address", w.allowedTLS, "", "allowed-tls", "127.0.0.2", "network.allow[8] (agent.hcl:18)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tp := w.start(t, tc.orig.addr)
			before := len(tc.orig.requests())
			c := tp.dial(t)
			tc2 := tls.Client(c, &tls.Config{ServerName: tc.sni, InsecureSkipVerify: true})
			err := tc2.Handshake()
			var body string
			if err == nil {
				fmt.Fprintf(tc2, "GET /x HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", tc.sni)
				_, body = readResp(t, bufio.NewReader(tc2), "GET")
			}
			e := tp.events.waitFor(t, "tls decision", func(e events.Event) bool { return e.Net.Op == "tls" })
			if e.Net.Host != tc.wantHost || e.Rule != tc.wantRule || e.Net.Orig != tc.orig.addr {
				t.Errorf("event host %q rule %q orig %s; reason %q", e.Net.Host, e.Rule, e.Net.Orig, e.Reason)
			}
			if tc.wantOrigin == "" {
				if err == nil {
					t.Fatalf("denied SNI %q got through: %q", tc.sni, body)
				}
				if e.Action != events.ActionDeny || len(tc.orig.requests()) != before {
					t.Errorf("action %s; origin requests %d -> %d", e.Action, before, len(tc.orig.requests()))
				}
				return
			}
			if err != nil || !strings.HasPrefix(body, "origin="+tc.wantOrigin+" ") {
				t.Fatalf("%v %q", err, body)
			}
			if e.Action != events.ActionAllow || e.Net.Dialled != tc.orig.addr {
				t.Errorf("action %s dialled %s", e.Action, e.Net.Dialled)
			}
		})
	}
	t.Run("no sni, loopback address", func(t *testing.T) {
		canaryTLS := startOrigin(t, "canary-tls", "127.0.0.1", true)
		tp := w.start(t, canaryTLS.addr)
		c := tp.dial(t)
		if err := tls.Client(c, &tls.Config{InsecureSkipVerify: true}).Handshake(); err == nil {
			t.Fatal("handshake to a loopback canary succeeded")
		}
		if canaryTLS.hits() != 0 {
			t.Error("canary reached")
		}
	})
	t.Run("malformed hello", func(t *testing.T) {
		tp := w.start(t, w.allowedTLS.addr)
		c := tp.dial(t)
		c.Write(clientHelloRecord(helloWith(sniExtension("a.test", "b.test"))))
		expectClosed(t, c, bufio.NewReader(c))
		if w.allowedTLS.hits() != 0 && tp.dials.Load() != 0 {
			t.Error("dialled for a malformed ClientHello")
		}
	})
}

// TestTransparentHTTP: a redirected plain-HTTP connection is decided on
// the Host of its first request; later requests must keep to it.
func TestTransparentHTTP(t *testing.T) {
	w := newWorld(t)
	pa := w.allowed.addr.Port()
	a := fmt.Sprintf("allowed.test:%d", pa)

	t.Run("keep-alive", func(t *testing.T) {
		tp := w.start(t, w.allowed.addr)
		c := tp.dial(t)
		br := bufio.NewReader(c)
		for i := range 2 {
			resp, body := roundTrip(t, c, br, "GET /k HTTP/1.1\r\nHost: "+a+"\r\n\r\n", "GET")
			if resp.StatusCode != 200 || !strings.HasPrefix(body, "origin=allowed host="+a) {
				t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
			}
		}
		// Same host, other spelling: fine.
		resp, _ := roundTrip(t, c, br, fmt.Sprintf("GET /k HTTP/1.1\r\nHost: ALLOWED.test.:%d\r\n\r\n", pa), "GET")
		if resp.StatusCode != 200 {
			t.Fatalf("respelled Host: %d", resp.StatusCode)
		}
		// Another host on the same connection: 421, origin not reached.
		before := len(w.allowed.requests())
		resp, body := roundTrip(t, c, br, fmt.Sprintf("GET /other HTTP/1.1\r\nHost: other.test:%d\r\n\r\n", pa), "GET")
		if resp.StatusCode != 421 || !strings.Contains(body, "other.test") {
			t.Fatalf("other Host: %d %q", resp.StatusCode, body)
		}
		expectClosed(t, c, br)
		if len(w.allowed.requests()) != before {
			t.Error("a misdirected request reached the origin")
		}
		if got := countEvents(tp.events, "http", events.ActionAllow); got != 3 {
			t.Errorf("%d allow events for 3 requests", got)
		}
	})
	t.Run("denied host", func(t *testing.T) {
		tp := w.start(t, w.wild.addr)
		c := tp.dial(t)
		br := bufio.NewReader(c)
		b := fmt.Sprintf("bad.wild.test:%d", w.wild.addr.Port())
		resp, body := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: "+b+"\r\n\r\n", "GET")
		if resp.StatusCode != 403 || !strings.Contains(body, "network.deny[0] (agent.hcl:40)") {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		if n := len(w.wild.requests()); n != 0 {
			t.Error("denied request reached the origin")
		}
	})
	t.Run("host port differs", func(t *testing.T) {
		tp := w.start(t, w.allowed.addr)
		c := tp.dial(t)
		br := bufio.NewReader(c)
		resp, _ := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n", "GET")
		if resp.StatusCode != 421 {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
	t.Run("absolute-form must agree", func(t *testing.T) {
		tp := w.start(t, w.allowed.addr)
		c := tp.dial(t)
		br := bufio.NewReader(c)
		resp, _ := roundTrip(t, c, br, fmt.Sprintf("GET http://x.wild.test:%d/ HTTP/1.1\r\nHost: %s\r\n\r\n", pa, a), "GET")
		if resp.StatusCode != 421 {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
	t.Run("no host decides on the address", func(t *testing.T) {
		tp := w.start(t, w.ipOrigin.addr)
		c := tp.dial(t)
		br := bufio.NewReader(c)
		resp, body := roundTrip(t, c, br, "GET /old HTTP/1.0\r\n\r\n", "GET")
		if resp.StatusCode != 200 || !strings.HasPrefix(body, "origin=ip ") {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	})
	t.Run("connect refused", func(t *testing.T) {
		tp := w.start(t, w.allowed.addr)
		c := tp.dial(t)
		br := bufio.NewReader(c)
		resp, _ := roundTrip(t, c, br, "CONNECT "+a+" HTTP/1.1\r\nHost: "+a+"\r\n\r\n", "CONNECT")
		if resp.StatusCode != 405 {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
}

func countEvents(l *eventLog, op, action string) int {
	n := 0
	for _, e := range l.all() {
		if e.Net != nil && e.Net.Op == op && e.Action == action {
			n++
		}
	}
	return n
}

// TestTransparentTCP: a protocol the proxy cannot read, or whose server
// speaks first, is decided on the original address.
func TestTransparentTCP(t *testing.T) {
	w := newWorld(t)
	allowedAddr := startBanner(t, "127.0.0.4")
	var canaryHits atomic.Int64
	canaryAddr := startBannerCounting(t, "127.0.0.1", &canaryHits)

	tp := w.start(t, allowedAddr)
	c := tp.dial(t)
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil || line != "220 banner\r\n" {
		t.Fatalf("server-first protocol: %q %v", line, err)
	}
	c.Write([]byte{0, 1, 2, 3, '\n'})
	echo := make([]byte, 5)
	if _, err := io.ReadFull(br, echo); err != nil || !bytes.Equal(echo, []byte{0, 1, 2, 3, '\n'}) {
		t.Fatalf("echo %q %v", echo, err)
	}
	e := tp.events.waitFor(t, "tcp allow", func(e events.Event) bool { return e.Net.Op == "tcp" })
	if e.Action != events.ActionAllow || e.Net.Host != "127.0.0.4" || e.Rule != "network.allow[10] (agent.hcl:20)" {
		t.Errorf("event %+v %+v", e, *e.Net)
	}

	// Binary client-first protocol to a loopback address with no rule.
	tp2 := w.start(t, canaryAddr)
	c2 := tp2.dial(t)
	c2.Write([]byte{0, 0, 0, 1})
	expectClosed(t, c2, bufio.NewReader(c2))
	if canaryHits.Load() != 0 {
		t.Error("canary reached")
	}

	// A client-first protocol whose greeting looks like a request line
	// at first sight.
	tp3 := w.start(t, allowedAddr)
	c3 := tp3.dial(t)
	io.WriteString(c3, "SSH-2.0-OpenSSH_9.6 Debian-1\r\n")
	br3 := bufio.NewReader(c3)
	for _, want := range []string{"220 banner\r\n", "SSH-2.0-OpenSSH_9.6 Debian-1\r\n"} {
		if line, err := br3.ReadString('\n'); err != nil || line != want {
			t.Fatalf("got %q %v, want %q", line, err, want)
		}
	}
}

// TestTransparentDNS: TCP port 53 goes to the DNS stub, or nowhere.
func TestTransparentDNS(t *testing.T) {
	w := newWorld(t)
	orig := netip.MustParseAddrPort("192.0.2.53:53")
	tp := w.start(t, orig)
	c := tp.dial(t)
	c.Write([]byte{0, 12})
	expectClosed(t, c, bufio.NewReader(c))
	tp.events.waitFor(t, "dns deny", func(e events.Event) bool {
		return e.Action == events.ActionDeny && strings.Contains(e.Reason, "DNS stub")
	})
	if tp.dials.Load() != 0 {
		t.Error("dialled for DNS without a stub")
	}

	got := make(chan Client, 1)
	tp2 := w.start(t, orig, func(cfg *Config) {
		cfg.DNS = func(c net.Conn, cl Client) {
			got <- cl
			io.WriteString(c, "stub")
			c.Close()
		}
	})
	c2 := tp2.dial(t)
	b, _ := io.ReadAll(c2)
	if string(b) != "stub" {
		t.Fatalf("got %q", b)
	}
	if cl := <-got; cl.Orig != orig || cl.Sandbox != w.sb {
		t.Errorf("DNS handler got %+v", cl)
	}
}

// TestSOCKS5 uses golang.org/x/net/proxy's SOCKS5 client and raw bytes.
func TestSOCKS5(t *testing.T) {
	w := newWorld(t)
	tp := w.start(t, netip.AddrPort{})
	d, err := proxy.SOCKS5("tcp", tp.addr, nil, proxy.Direct)
	if err != nil {
		t.Fatal(err)
	}
	get := func(target string) (string, error) {
		c, err := d.Dial("tcp", target)
		if err != nil {
			return "", err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET /s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target)
		_, body := readResp(t, bufio.NewReader(c), "GET")
		return body, nil
	}
	targets := []struct {
		target, want string
	}{
		{fmt.Sprintf("allowed.test:%d", w.allowed.addr.Port()), "origin=allowed "},
		{fmt.Sprintf("127.0.0.4:%d", w.ipOrigin.addr.Port()), "origin=ip "},
	}
	if w.v6 != nil {
		targets = append(targets, struct{ target, want string }{fmt.Sprintf("[::1]:%d", w.v6.addr.Port()), "origin=v6 "})
	}
	for _, tc := range targets {
		body, err := get(tc.target)
		if err != nil || !strings.HasPrefix(body, tc.want) {
			t.Errorf("%s: %q %v", tc.target, body, err)
		}
	}
	for _, target := range []string{
		fmt.Sprintf("bad.wild.test:%d", w.wild.addr.Port()),
		fmt.Sprintf("127.0.0.1:%d", w.canary.addr.Port()),
		fmt.Sprintf("rebind.test:%d", w.canary.addr.Port()),
		fmt.Sprintf("[::ffff:127.0.0.1]:%d", w.canary.addr.Port()),
	} {
		if _, err := get(target); err == nil || !strings.Contains(err.Error(), "not allowed") {
			t.Errorf("%s: %v", target, err)
		}
	}
	if w.canary.hits() != 0 {
		t.Error("canary reached")
	}
	socksEvents := countEvents(tp.events, "socks5", events.ActionAllow)
	if socksEvents != len(targets) {
		t.Errorf("%d socks5 allow events: %s", socksEvents, tp.events.dump())
	}

	raw := func(t *testing.T, greeting, req []byte) []byte {
		c := tp.dial(t)
		c.Write(greeting)
		reply := make([]byte, 2)
		if _, err := io.ReadFull(c, reply); err != nil {
			t.Fatal(err)
		}
		if reply[1] != 0 {
			return reply
		}
		c.Write(req)
		reply = make([]byte, 10)
		if _, err := io.ReadFull(c, reply); err != nil {
			t.Fatal(err)
		}
		return reply
	}
	noAuth := []byte{5, 1, 0}
	port := w.allowed.addr.Port()
	if r := raw(t, []byte{5, 1, 2}, nil); r[1] != 0xff {
		t.Errorf("username/password only: %x", r)
	}
	if r := raw(t, noAuth, []byte{5, 2, 0, 1, 127, 0, 0, 2, byte(port >> 8), byte(port)}); r[1] != socksCmdUnsupported {
		t.Errorf("BIND: %x", r)
	}
	if r := raw(t, noAuth, []byte{5, 3, 0, 1, 127, 0, 0, 2, byte(port >> 8), byte(port)}); r[1] != socksCmdUnsupported {
		t.Errorf("UDP ASSOCIATE: %x", r)
	}
	if r := raw(t, noAuth, []byte{5, 1, 0, 7, 1, 2, 3, 4, 0, 80}); r[1] != socksAddrUnsupport {
		t.Errorf("bad address type: %x", r)
	}
	if r := raw(t, noAuth, append(append([]byte{5, 1, 0, 3, 17}, "allowed.test\x00.x.y"...), byte(port>>8), byte(port))); r[1] != socksNotAllowed {
		t.Errorf("NUL in name: %x", r)
	}
	closedPort := func() uint16 {
		ln, _ := net.Listen("tcp", "127.0.0.4:0")
		defer ln.Close()
		return uint16(ln.Addr().(*net.TCPAddr).Port)
	}()
	if r := raw(t, noAuth, []byte{5, 1, 0, 1, 127, 0, 0, 4, byte(closedPort >> 8), byte(closedPort)}); r[1] != socksConnRefused {
		t.Errorf("refused upstream: %x", r)
	}
	if w.allowed.hits() != 1 {
		t.Errorf("allowed origin hit %d times, want 1", w.allowed.hits())
	}
}

// startBanner runs a server that speaks first ("220 banner") and then
// echoes what it receives.
func startBanner(t *testing.T, ip string) netip.AddrPort {
	var hits atomic.Int64
	return startBannerCounting(t, ip, &hits)
}

func startBannerCounting(t *testing.T, ip string, hits *atomic.Int64) netip.AddrPort {
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			hits.Add(1)
			go func() {
				defer c.Close()
				io.WriteString(c, "220 banner\r\n")
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort()
}
