package proxy

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paddock-sh/paddock/agentd/events"
)

// TestExplicitHTTP sends absolute-form GETs through the proxy: allowed
// names reach their origin, everything else gets a 403 naming the reason
// and rule, and no origin behind a refused destination is ever connected to.
func TestExplicitHTTP(t *testing.T) {
	w := newWorld(t)
	tp := w.start(t, netip.AddrPort{})
	pa, pw, pi, pc := w.allowed.addr.Port(), w.wild.addr.Port(), w.ipOrigin.addr.Port(), w.canary.addr.Port()
	pd, p6 := w.denyIP.addr.Port(), uint16(0)
	if w.v6 != nil {
		p6 = w.v6.addr.Port()
	}

	cases := []struct {
		name       string
		authority  string
		wantStatus int
		wantOrigin *origin
		wantHost   string // canonical host in the event
		wantRule   string
		wantReason string
		dialled    string
	}{
		{"exact name", fmt.Sprintf("allowed.test:%d", pa), 200, w.allowed, "allowed.test", "network.allow[0] (agent.hcl:10)", "", fmt.Sprintf("127.0.0.2:%d", pa)},
		{"case and trailing dot", fmt.Sprintf("ALLOWED.TEST.:%d", pa), 200, w.allowed, "allowed.test", "network.allow[0] (agent.hcl:10)", "", ""},
		{"wildcard subdomain", fmt.Sprintf("x.wild.test:%d", pw), 200, w.wild, "x.wild.test", "network.allow[1] (agent.hcl:11)", "", ""},
		{"deep wildcard subdomain", fmt.Sprintf("a.b.wild.test:%d", pw), 200, w.wild, "a.b.wild.test", "network.allow[1] (agent.hcl:11)", "", ""},
		{"wildcard apex", fmt.Sprintf("wild.test:%d", pw), 403, nil, "wild.test", "", "no rule allows wild.test", ""},
		{"deny rule", fmt.Sprintf("bad.wild.test:%d", pw), 403, nil, "bad.wild.test", "network.deny[0] (agent.hcl:40)", "denied", ""},
		{"ip rule", fmt.Sprintf("127.0.0.4:%d", pi), 200, w.ipOrigin, "127.0.0.4", "network.allow[10] (agent.hcl:20)", "", ""},
		{"ipv6 rule", fmt.Sprintf("[::1]:%d", p6), 200, w.v6, "::1", "network.allow[11] (agent.hcl:21)", "", ""},
		{"name to ipv6", fmt.Sprintf("v6.test:%d", p6), 200, w.v6, "v6.test", "network.allow[7] (agent.hcl:17)", "", fmt.Sprintf("[::1]:%d", p6)},
		{"unknown name", fmt.Sprintf("unknown.test:%d", pa), 403, nil, "unknown.test", "", "no rule allows unknown.test", ""},
		{"rebinding to loopback", fmt.Sprintf("rebind.test:%d", pc), 403, nil, "rebind.test", "", "rebind.test resolves to 127.0.0.1, a loopback address; no rule allows it", ""},
		{"one bad address skipped", fmt.Sprintf("mixed.test:%d", pa), 200, w.allowed, "mixed.test", "network.allow[3] (agent.hcl:13)", "", fmt.Sprintf("127.0.0.2:%d", pa)},
		{"metadata address", fmt.Sprintf("meta.test:%d", pa), 403, nil, "meta.test", "", "169.254.169.254, a link-local (cloud metadata) address", ""},
		{"host's own address", fmt.Sprintf("self.test:%d", pa), 403, nil, "self.test", "", "an address of this host", ""},
		{"deny rule on resolved address", fmt.Sprintf("denyip.test:%d", pd), 403, nil, "denyip.test", "network.deny[1] (agent.hcl:41)", "resolves to 127.0.0.5", ""},
		{"loopback literal", fmt.Sprintf("127.0.0.1:%d", pc), 403, nil, "127.0.0.1", "", "loopback", ""},
		{"short ipv4", fmt.Sprintf("127.1:%d", pc), 403, nil, "127.0.0.1", "", "loopback", ""},
		{"hex ipv4", fmt.Sprintf("0x7f.0.0.1:%d", pc), 403, nil, "127.0.0.1", "", "loopback", ""},
		{"integer ipv4", fmt.Sprintf("2130706433:%d", pc), 403, nil, "127.0.0.1", "", "loopback", ""},
		{"mapped ipv6", fmt.Sprintf("[::ffff:127.0.0.1]:%d", pc), 403, nil, "127.0.0.1", "", "loopback", ""},
		{"localhost", fmt.Sprintf("localhost:%d", pc), 403, nil, "localhost", "", "names this host", ""},
		{"user info", fmt.Sprintf("allowed.test@127.0.0.1:%d", pc), 403, nil, "", "", "'@'", ""},
		{"percent", fmt.Sprintf("allowed.test%%2f.evil:%d", pa), 403, nil, "", "", "'%'", ""},
		{"backslash", fmt.Sprintf(`allowed.test\.evil:%d`, pa), 403, nil, "", "", "backslash", ""},
		{"bad port", "allowed.test:0x50", 403, nil, "", "", "port", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(tc.name, "ipv6") && w.v6 == nil {
				t.Skip("no IPv6 loopback")
			}
			before := map[*origin]int64{}
			for _, o := range []*origin{w.allowed, w.wild, w.ipOrigin, w.canary, w.denyIP, w.v6} {
				if o != nil {
					before[o] = o.hits()
				}
			}
			nev := len(tp.events.all())
			c := tp.dial(t)
			br := bufio.NewReader(c)
			resp, body := roundTrip(t, c, br, "GET http://"+tc.authority+"/p?secret=s3cr3t HTTP/1.1\r\nHost: "+tc.authority+"\r\nUser-Agent: t\r\n\r\n", "GET")
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d; body %q", resp.StatusCode, tc.wantStatus, body)
			}
			for o, n := range before {
				if o != tc.wantOrigin && o.hits() != n {
					t.Errorf("origin %s was connected to", o.name)
				}
			}
			evs := tp.events.all()[nev:]
			if len(evs) != 1 {
				t.Fatalf("want one event, got %d: %s", len(evs), tp.events.dump())
			}
			e := evs[0]
			if e.Layer != events.LayerProxy || e.Sandbox != "sb-test" || e.Net == nil || e.Net.Op != "http" || e.Net.Proto != "tcp" {
				t.Errorf("event %+v", e)
			}
			if e.Net.Host != tc.wantHost || e.Rule != tc.wantRule {
				t.Errorf("event host %q rule %q, want %q %q (reason %q)", e.Net.Host, e.Rule, tc.wantHost, tc.wantRule, e.Reason)
			}
			if !strings.Contains(e.Reason, tc.wantReason) {
				t.Errorf("event reason %q does not contain %q", e.Reason, tc.wantReason)
			}
			if strings.Contains(fmt.Sprintf("%+v %+v", e, *e.Net), "s3cr3t") {
				t.Errorf("the query string leaked into the event: %+v", e)
			}
			if tc.wantOrigin != nil {
				if e.Action != events.ActionAllow {
					t.Errorf("action %s", e.Action)
				}
				if !strings.HasPrefix(body, "origin="+tc.wantOrigin.name+" ") {
					t.Errorf("body %q is not from origin %s", body, tc.wantOrigin.name)
				}
				if tc.dialled != "" && e.Net.Dialled.String() != tc.dialled {
					t.Errorf("dialled %s, want %s", e.Net.Dialled, tc.dialled)
				}
				return
			}
			if e.Action != events.ActionDeny || e.Net.Dialled.IsValid() {
				t.Errorf("action %s dialled %s", e.Action, e.Net.Dialled)
			}
			if !strings.Contains(body, tc.wantReason) {
				t.Errorf("403 body %q does not give the reason %q", body, tc.wantReason)
			}
			wantRule := tc.wantRule
			if wantRule == "" {
				wantRule = "no rule allows it"
			}
			if !strings.Contains(body, wantRule) {
				t.Errorf("403 body %q does not name the rule %q", body, wantRule)
			}
			if h := resp.Header.Get("X-Paddock-Denied"); h == "" || strings.ContainsAny(h, "\r\n") {
				t.Errorf("X-Paddock-Denied %q", h)
			}
			expectClosed(t, c, br)
		})
	}
	if n := len(w.canary.requests()) + int(w.canary.hits()); n != 0 {
		t.Errorf("the canary was reached %d times", n)
	}
	w.res.mu.Lock()
	asked := strings.Join(w.res.asked, " ")
	w.res.mu.Unlock()
	for _, name := range []string{"unknown.test", "wild.test", "bad.wild.test"} {
		if strings.Contains(" "+asked+" ", " "+name+" ") {
			t.Errorf("denied name %s was resolved", name)
		}
	}
}

// TestExplicitKeepAlive checks every request on one client connection:
// reuse of one upstream, a switch of destination, a denied second request.
func TestExplicitKeepAlive(t *testing.T) {
	w := newWorld(t)
	tp := w.start(t, netip.AddrPort{})
	pa, pw := w.allowed.addr.Port(), w.wild.addr.Port()
	c := tp.dial(t)
	br := bufio.NewReader(c)
	a := fmt.Sprintf("allowed.test:%d", pa)
	for i := range 3 {
		resp, body := roundTrip(t, c, br, "GET http://"+a+"/n HTTP/1.1\r\nHost: "+a+"\r\n\r\n", "GET")
		if resp.StatusCode != 200 || !strings.HasPrefix(body, "origin=allowed host="+a+" ") {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if n := w.allowed.hits(); n != 1 {
		t.Errorf("three requests to one destination used %d upstream connections, want 1", n)
	}
	// The same destination spelled differently reuses the upstream too.
	resp, _ := roundTrip(t, c, br, fmt.Sprintf("GET http://Allowed.Test.:%d/n HTTP/1.1\r\nHost: allowed.test:%d\r\n\r\n", pa, pa), "GET")
	if resp.StatusCode != 200 || w.allowed.hits() != 1 {
		t.Errorf("respelled destination: %d, %d upstream connections", resp.StatusCode, w.allowed.hits())
	}
	// Another allowed destination: a new check and a new upstream.
	x := fmt.Sprintf("x.wild.test:%d", pw)
	resp, body := roundTrip(t, c, br, "GET http://"+x+"/ HTTP/1.1\r\nHost: "+x+"\r\n\r\n", "GET")
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "origin=wild ") {
		t.Fatalf("switch: %d %q", resp.StatusCode, body)
	}
	// A denied destination on the same connection.
	wildBefore := len(w.wild.requests())
	b := fmt.Sprintf("bad.wild.test:%d", pw)
	resp, body = roundTrip(t, c, br, "GET http://"+b+"/ HTTP/1.1\r\nHost: "+b+"\r\n\r\n", "GET")
	if resp.StatusCode != 403 || !strings.Contains(body, "network.deny[0] (agent.hcl:40)") {
		t.Fatalf("denied second destination: %d %q", resp.StatusCode, body)
	}
	if len(w.wild.requests()) != wildBefore {
		t.Errorf("the denied request reached the origin: %q", w.wild.requests())
	}
	expectClosed(t, c, br)
	allows := 0
	for _, e := range tp.events.all() {
		if e.Action == events.ActionAllow {
			allows++
		}
	}
	if allows != 5 {
		t.Errorf("%d allow events for 5 allowed requests: %s", allows, tp.events.dump())
	}
}

// TestExplicitHostMismatch: the Host header must name the URL's host.
func TestExplicitHostMismatch(t *testing.T) {
	w := newWorld(t)
	tp := w.start(t, netip.AddrPort{})
	pa := w.allowed.addr.Port()
	for _, host := range []string{
		fmt.Sprintf("x.wild.test:%d", pa),
		"allowed.test",                       // port 80, not pa
		fmt.Sprintf("127.0.0.2:%d", pa),      // the address, not the name
		fmt.Sprintf("allowed.test@x:%d", pa), // not a host at all
	} {
		c := tp.dial(t)
		br := bufio.NewReader(c)
		resp, body := roundTrip(t, c, br, fmt.Sprintf("GET http://allowed.test:%d/ HTTP/1.1\r\nHost: %s\r\n\r\n", pa, host), "GET")
		if resp.StatusCode != 421 {
			t.Errorf("Host %q: status %d %q, want 421", host, resp.StatusCode, body)
		}
		expectClosed(t, c, br)
	}
	if n := len(w.allowed.requests()); n != 0 {
		t.Errorf("misdirected requests reached the origin: %q", w.allowed.requests())
	}
}

// TestExplicitRefusals: methods and forms the proxy does not serve.
func TestExplicitRefusals(t *testing.T) {
	w := newWorld(t)
	tp := w.start(t, netip.AddrPort{})
	a := fmt.Sprintf("allowed.test:%d", w.allowed.addr.Port())
	cases := []struct {
		raw    string
		status int
	}{
		{"TRACE http://" + a + "/ HTTP/1.1\r\nHost: " + a + "\r\n\r\n", 405},
		{"TRACK http://" + a + "/ HTTP/1.1\r\nHost: " + a + "\r\n\r\n", 405},
		{"GET / HTTP/1.1\r\nHost: " + a + "\r\n\r\n", 400},
		{"GET https://" + a + "/ HTTP/1.1\r\nHost: " + a + "\r\n\r\n", 400},
		{"GET http:///x HTTP/1.1\r\nHost: " + a + "\r\n\r\n", 400},
		{"OPTIONS * HTTP/1.1\r\nHost: " + a + "\r\n\r\n", 400},
		{"GET http://" + a + "/ HTTP/2.0\r\nHost: " + a + "\r\n\r\n", 505},
	}
	for _, tc := range cases {
		c := tp.dial(t)
		br := bufio.NewReader(c)
		resp, body := roundTrip(t, c, br, tc.raw, "GET")
		if resp.StatusCode != tc.status {
			t.Errorf("%q: %d %q, want %d", tc.raw, resp.StatusCode, body, tc.status)
		}
		expectClosed(t, c, br)
	}
	if n := w.allowed.hits(); n != 0 {
		t.Errorf("refused requests reached the origin %d times", n)
	}
}

// TestExplicitGoClient uses net/http's own proxy support: absolute-form
// for http://, CONNECT for https://.
func TestExplicitGoClient(t *testing.T) {
	w := newWorld(t)
	tp := w.start(t, netip.AddrPort{})
	pu, _ := url.Parse("http://" + tp.addr)
	client := &http.Client{
		Transport: &http.Transport{
			Proxy:           http.ProxyURL(pu),
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		},
		Timeout: 10 * time.Second,
	}
	defer client.CloseIdleConnections()
	for _, u := range []string{
		fmt.Sprintf("http://allowed.test:%d/plain", w.allowed.addr.Port()),
		fmt.Sprintf("https://allowed.test:%d/tls", w.allowedTLS.addr.Port()),
		fmt.Sprintf("https://x.wild.test:%d/tls", w.wildTLS.addr.Port()),
	} {
		resp, err := client.Get(u)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "origin=") {
			t.Errorf("%s: %d %q", u, resp.StatusCode, body)
		}
	}
	// A denied https:// destination fails at CONNECT.
	_, err := client.Get(fmt.Sprintf("https://bad.wild.test:%d/", w.wildTLS.addr.Port()))
	if err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("denied CONNECT: %v", err)
	}
}

// TestConnect covers CONNECT tunnels and the ClientHello check inside them.
func TestConnect(t *testing.T) {
	w := newWorld(t)
	tp := w.start(t, netip.AddrPort{})
	pt := w.allowedTLS.addr.Port()

	connect := func(t *testing.T, target string) (net.Conn, *bufio.Reader, *http.Response, string) {
		c := tp.dial(t)
		br := bufio.NewReader(c)
		if _, err := fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
		if err != nil {
			t.Fatalf("CONNECT %s: %v", target, err)
		}
		var body string
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			body = string(b)
		}
		return c, br, resp, body
	}
	tlsGet := func(c net.Conn, br *bufio.Reader, sni string) (string, error) {
		tc := tls.Client(&bufConn{c, br}, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
		if err := tc.Handshake(); err != nil {
			return "", err
		}
		fmt.Fprintf(tc, "GET /t HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", sni)
		_, body := readResp(t, bufio.NewReader(tc), "GET")
		return body, nil
	}

	t.Run("allowed", func(t *testing.T) {
		c, br, resp, _ := connect(t, fmt.Sprintf("allowed.test:%d", pt))
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		body, err := tlsGet(c, br, "allowed.test")
		if err != nil || !strings.HasPrefix(body, "origin=allowed-tls ") {
			t.Fatalf("%q %v", body, err)
		}
		e := tp.events.waitFor(t, "connect allow", func(e events.Event) bool {
			return e.Net.Op == "connect-tunnel" && e.Action == events.ActionAllow
		})
		if e.Net.Host != "allowed.test" || e.Net.Port != pt || e.Net.Dialled != w.allowedTLS.addr {
			t.Errorf("event %+v", *e.Net)
		}
	})
	t.Run("sni mismatch", func(t *testing.T) {
		before := len(w.allowedTLS.requests())
		c, br, resp, _ := connect(t, fmt.Sprintf("allowed.test:%d", pt))
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if _, err := tlsGet(c, br, "other.test"); err == nil {
			t.Fatal("TLS with another server name went through")
		}
		tp.events.waitFor(t, "SNI mismatch", func(e events.Event) bool {
			return e.Net.Op == "tls" && e.Action == events.ActionDeny && strings.Contains(e.Reason, "other.test differs") &&
				strings.Contains(e.Reason, "421")
		})
		if len(w.allowedTLS.requests()) != before {
			t.Error("the mismatched TLS connection reached the origin")
		}
	})
	t.Run("sni ip literal", func(t *testing.T) {
		c, br, resp, _ := connect(t, fmt.Sprintf("allowed.test:%d", pt))
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		c.Write(clientHelloRecord(helloWithSNI("127.0.0.2")))
		expectClosed(t, c, br)
		tp.events.waitFor(t, "SNI IP literal", func(e events.Event) bool {
			return e.Net.Op == "tls" && strings.Contains(e.Reason, "IP address")
		})
	})
	t.Run("denied", func(t *testing.T) {
		c, br, resp, body := connect(t, fmt.Sprintf("bad.wild.test:%d", w.wildTLS.addr.Port()))
		if resp.StatusCode != 403 || !strings.Contains(body, "network.deny[0] (agent.hcl:40)") || resp.Header.Get("X-Paddock-Denied") == "" {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
		expectClosed(t, c, br)
	})
	t.Run("canonicalised target", func(t *testing.T) {
		c, br, resp, body := connect(t, fmt.Sprintf("0x7f.1:%d", w.canary.addr.Port()))
		if resp.StatusCode != 403 || !strings.Contains(body, "loopback") {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
		expectClosed(t, c, br)
		if w.canary.hits() != 0 {
			t.Error("canary reached")
		}
	})
	t.Run("no port", func(t *testing.T) {
		_, _, resp, _ := connect(t, "allowed.test")
		if resp.StatusCode != 403 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.4:0")
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		_, _, resp, body := connect(t, fmt.Sprintf("127.0.0.4:%d", port))
		if resp.StatusCode != 502 || !strings.Contains(body, "could not reach") {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
	})
	t.Run("plaintext in tunnel", func(t *testing.T) {
		pa := w.allowed.addr.Port()
		c, br, resp, _ := connect(t, fmt.Sprintf("allowed.test:%d", pa))
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		resp, body := roundTrip(t, c, br, fmt.Sprintf("GET /in HTTP/1.1\r\nHost: allowed.test:%d\r\n\r\n", pa), "GET")
		if resp.StatusCode != 200 || !strings.HasPrefix(body, "origin=allowed ") {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		// Every request in the tunnel is held to the CONNECT destination.
		before := len(w.allowed.requests())
		resp, _ = roundTrip(t, c, br, fmt.Sprintf("GET /fronted HTTP/1.1\r\nHost: x.wild.test:%d\r\n\r\n", pa), "GET")
		if resp.StatusCode != 421 {
			t.Fatalf("other Host in a tunnel: %d", resp.StatusCode)
		}
		expectClosed(t, c, br)
		if len(w.allowed.requests()) != before {
			t.Error("the misdirected request reached the origin")
		}
	})
	t.Run("server speaks first", func(t *testing.T) {
		addr := startBanner(t, "127.0.0.4")
		c, br, resp, _ := connect(t, addr.String())
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		line, err := br.ReadString('\n')
		if err != nil || line != "220 banner\r\n" {
			t.Fatalf("%q %v", line, err)
		}
		// A greeting that starts like a request line but is not one.
		io.WriteString(c, "SSH-2.0-OpenSSH_9.6 Debian\r\n")
		line, err = br.ReadString('\n')
		if err != nil || line != "SSH-2.0-OpenSSH_9.6 Debian\r\n" {
			t.Fatalf("echo %q %v", line, err)
		}
	})
}

// bufConn reads through a bufio.Reader that may hold bytes already.
type bufConn struct {
	net.Conn
	br *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.br.Read(p) }

// TestIdentifyError: a connection that matches no sandbox is closed at
// once, before anything is read or dialled.
func TestIdentifyError(t *testing.T) {
	w := newWorld(t)
	tp := w.start(t, netip.AddrPort{}, func(c *Config) {
		c.Identify = func(net.Conn) (Client, error) { return Client{}, fmt.Errorf("cgroup 1234 is not a sandbox") }
	})
	c := tp.dial(t)
	br := bufio.NewReader(c)
	fmt.Fprintf(c, "GET http://allowed.test:%d/ HTTP/1.1\r\nHost: allowed.test\r\n\r\n", w.allowed.addr.Port())
	expectClosed(t, c, br)
	e := tp.events.waitFor(t, "identify deny", func(e events.Event) bool { return e.Action == events.ActionDeny })
	if e.Sandbox != "" || !strings.Contains(e.Reason, "matches no sandbox") || !e.Net.Client.IsValid() {
		t.Errorf("event %+v %+v", e, *e.Net)
	}
	if tp.dials.Load() != 0 || w.allowed.hits() != 0 {
		t.Errorf("dials %d, origin hits %d", tp.dials.Load(), w.allowed.hits())
	}
}

// TestConnCap: a sandbox holds at most MaxConns connections through the
// proxy. The next is closed unread, its request never reaches the origin,
// and a deny event says why; another sandbox is not affected, and once a
// connection ends the sandbox may open one again.
func TestConnCap(t *testing.T) {
	w := newWorld(t)
	other := &Sandbox{ID: "sb-other", Network: w.net}
	var nextOther atomic.Bool
	tp := w.start(t, netip.AddrPort{}, func(c *Config) {
		c.MaxConns = 2
		c.Identify = func(net.Conn) (Client, error) {
			if nextOther.Swap(false) {
				return Client{Sandbox: other}, nil
			}
			return Client{Sandbox: w.sb}, nil
		}
	})
	pa := w.allowed.addr.Port()
	get := fmt.Sprintf("GET http://allowed.test:%d/ HTTP/1.1\r\nHost: allowed.test:%d\r\n\r\n", pa, pa)
	fetch := func(c net.Conn, br *bufio.Reader) {
		t.Helper()
		if resp, body := roundTrip(t, c, br, get, "GET"); resp.StatusCode != 200 || !strings.Contains(body, "origin=allowed") {
			t.Fatalf("allowed request: %d %q", resp.StatusCode, body)
		}
	}
	// Two kept-alive connections, each proven served.
	held := make([]net.Conn, 2)
	for i := range held {
		held[i] = tp.dial(t)
		fetch(held[i], bufio.NewReader(held[i]))
	}
	before := w.allowed.hits()

	over := tp.dial(t)
	obr := bufio.NewReader(over)
	fmt.Fprint(over, get)
	expectClosed(t, over, obr)
	e := tp.events.waitFor(t, "cap deny", func(e events.Event) bool { return e.Action == events.ActionDeny })
	if e.Sandbox != w.sb.ID || !strings.Contains(e.Reason, "holds 2 connections") || !e.Net.Client.IsValid() {
		t.Errorf("event %+v %+v", e, *e.Net)
	}
	if n := w.allowed.hits(); n != before {
		t.Errorf("the connection over the cap reached the origin (%d accepts, %d before)", n, before)
	}

	// Another sandbox's count is its own.
	nextOther.Store(true)
	oc := tp.dial(t)
	fetch(oc, bufio.NewReader(oc))

	// One connection ends; the sandbox may open another.
	held[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := tp.dial(t)
		br := bufio.NewReader(c)
		fmt.Fprint(c, get)
		resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || !strings.Contains(string(body), "origin=allowed") {
				t.Fatalf("after a close: %d %q", resp.StatusCode, body)
			}
			break
		}
		// The proxy may not have seen the close yet.
		if time.Now().After(deadline) {
			t.Fatalf("no connection admitted after one of the sandbox's closed: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAskIsDenied: without agentd, "ask" is a denial that says why.
func TestAskIsDenied(t *testing.T) {
	w := newWorld(t)
	w.net.OnUnknown = "ask"
	tp := w.start(t, netip.AddrPort{})
	c := tp.dial(t)
	br := bufio.NewReader(c)
	resp, body := roundTrip(t, c, br, "GET http://unknown.test/ HTTP/1.1\r\nHost: unknown.test\r\n\r\n", "GET")
	if resp.StatusCode != 403 || !strings.Contains(body, "approvals need agentd") {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
}
