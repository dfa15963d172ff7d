package proxy

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paddock-sh/paddock/agentd/events"
	"github.com/paddock-sh/paddock/compiler/bundle"
)

// The test world: origins the test owns on loopback addresses, names that
// a fake resolver maps to them, and a policy over those names.
//
//	allowed.test       -> 127.0.0.2  allowed by name and by address
//	x.wild.test, wild.test, bad.wild.test -> 127.0.0.3 (*.wild.test allowed, bad.wild.test denied)
//	ip origin          127.0.0.4     allowed by address only
//	canary             127.0.0.1     never allowed; names resolving to it must not reach it
//	rebind.test        -> 127.0.0.1  allowed by name, no address rule
//	mixed.test         -> 127.0.0.1, 127.0.0.2 (only the second may be dialled)
//	meta.test          -> 169.254.169.254
//	self.test          -> 10.11.12.13, one of "this host's" addresses
//	denyip.test        -> 127.0.0.5, which a deny rule names
//	v6.test            -> ::1 (allowed by address)

type origin struct {
	name    string
	ln      net.Listener
	addr    netip.AddrPort
	accepts atomic.Int64
	mu      sync.Mutex
	reqs    []string // "METHOD host path" per request
}

func (o *origin) hits() int64 { return o.accepts.Load() }

func (o *origin) requests() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.reqs...)
}

type countingListener struct {
	net.Listener
	o *origin
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.o.accepts.Add(1)
	}
	return c, err
}

func startOrigin(t testing.TB, name, ip string, useTLS bool) *origin {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("origin %s: %v", name, err)
	}
	o := &origin{name: name, ln: ln, addr: ln.Addr().(*net.TCPAddr).AddrPort()}
	var l net.Listener = countingListener{ln, o}
	if useTLS {
		l = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{testCert(t)}})
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			o.mu.Lock()
			o.reqs = append(o.reqs, r.Method+" "+r.Host+" "+r.URL.RequestURI())
			o.mu.Unlock()
			if r.Header.Get("Upgrade") == "websocket" {
				c, brw, err := http.NewResponseController(w).Hijack()
				if err != nil {
					return
				}
				defer c.Close()
				brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhello-from-origin")
				brw.Flush()
				io.Copy(c, brw)
				return
			}
			switch r.URL.Path {
			case "/204":
				w.WriteHeader(204)
				return
			case "/chunked":
				w.Write([]byte("part1;"))
				w.(http.Flusher).Flush()
				w.Write([]byte("part2"))
				return
			}
			body, _ := io.ReadAll(r.Body)
			if r.URL.Path == "/big" {
				w.Write([]byte(strings.Repeat("x", 1<<20)))
				return
			}
			fmt.Fprintf(w, "origin=%s host=%s path=%s body=%d proxy-auth=%q conn=%q", o.name, r.Host, r.URL.Path, len(body),
				r.Header.Get("Proxy-Authorization"), r.Header.Get("X-Hop"))
		}),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          nil,
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return o
}

var (
	certOnce sync.Once
	cert     tls.Certificate
)

func testCert(t testing.TB) tls.Certificate {
	certOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1),
			Subject:      pkix.Name{CommonName: "paddock test origin"},
			DNSNames:     []string{"allowed.test", "*.wild.test", "other.test", "api.test"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		cert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	})
	return cert
}

type fakeResolver struct {
	mu    sync.Mutex
	names map[string][]netip.Addr
	asked []string
}

func (r *fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked = append(r.asked, host)
	if a, ok := r.names[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (r *fakeResolver) set(name string, addrs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var as []netip.Addr
	for _, a := range addrs {
		as = append(as, netip.MustParseAddr(a))
	}
	r.names[name] = as
}

type eventLog struct {
	mu  sync.Mutex
	evs []events.Event
}

func (l *eventLog) Emit(e events.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, e)
}

func (l *eventLog) all() []events.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]events.Event(nil), l.evs...)
}

// waitFor waits until an event satisfying f has been emitted.
func (l *eventLog) waitFor(t testing.TB, what string, f func(events.Event) bool) events.Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, e := range l.all() {
			if f(e) {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event %s; events: %s", what, l.dump())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (l *eventLog) dump() string {
	var b strings.Builder
	for _, e := range l.all() {
		fmt.Fprintf(&b, "\n  %s %s %s rule=%q reason=%q", e.Action, e.Net.Op, e.Net.Host, e.Rule, e.Reason)
	}
	return b.String()
}

type world struct {
	allowed, wild, ipOrigin, canary, denyIP, v6 *origin
	allowedTLS, wildTLS                         *origin
	res                                         *fakeResolver
	net                                         *bundle.Network
	sb                                          *Sandbox
	local                                       []netip.Addr
}

func rule(field string, line int, text string) bundle.Rule {
	return bundle.Rule{File: "agent.hcl", Line: line, Field: field, Text: text}
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{
		allowed:  startOrigin(t, "allowed", "127.0.0.2", false),
		wild:     startOrigin(t, "wild", "127.0.0.3", false),
		ipOrigin: startOrigin(t, "ip", "127.0.0.4", false),
		canary:   startOrigin(t, "canary", "127.0.0.1", false),
		denyIP:   startOrigin(t, "denyip", "127.0.0.5", false),
		res:      &fakeResolver{names: map[string][]netip.Addr{}},
		local:    []netip.Addr{netip.MustParseAddr("10.11.12.13")},
	}
	if ln, err := net.Listen("tcp", "[::1]:0"); err == nil {
		ln.Close()
		w.v6 = startOrigin(t, "v6", "::1", false)
	} else {
		// Containers often run without IPv6; the IPv6 cases are skipped.
		t.Logf("no IPv6 loopback (%v): IPv6 cases skipped", err)
	}
	w.allowedTLS = startOrigin(t, "allowed-tls", "127.0.0.2", true)
	w.wildTLS = startOrigin(t, "wild-tls", "127.0.0.3", true)
	w.res.set("allowed.test", "127.0.0.2")
	w.res.set("x.wild.test", "127.0.0.3")
	w.res.set("a.b.wild.test", "127.0.0.3")
	w.res.set("wild.test", "127.0.0.3")
	w.res.set("bad.wild.test", "127.0.0.3")
	w.res.set("rebind.test", "127.0.0.1")
	w.res.set("mixed.test", "127.0.0.1", "127.0.0.2")
	w.res.set("meta.test", "169.254.169.254")
	w.res.set("self.test", "10.11.12.13")
	w.res.set("denyip.test", "127.0.0.5")
	w.res.set("v6.test", "::1")
	w.res.set("other.test", "127.0.0.2")

	allow := []string{
		"allowed.test:*", "*.wild.test:*", "rebind.test:*", "mixed.test:*", "meta.test:*",
		"self.test:*", "denyip.test:*", "v6.test:*",
		"127.0.0.2:*", "127.0.0.3:*", "127.0.0.4:*", "[::1]:*",
	}
	deny := []string{"bad.wild.test:*", "127.0.0.5:*"}
	n := &bundle.Network{Listen: bundle.ListenNone, OnUnknown: bundle.VerdictDeny, AskTimeoutSeconds: 30}
	for i, p := range allow {
		n.Allow = append(n.Allow, bundle.HostRule{Pattern: p, Rule: rule(fmt.Sprintf("network.allow[%d]", i), 10+i, p)})
	}
	for i, p := range deny {
		n.Deny = append(n.Deny, bundle.HostRule{Pattern: p, Rule: rule(fmt.Sprintf("network.deny[%d]", i), 40+i, p)})
	}
	w.net = n
	w.sb = &Sandbox{ID: "sb-test", Network: n}
	return w
}

// testProxy is a running proxy with its event log.
type testProxy struct {
	p      *Proxy
	addr   string
	events *eventLog
	dials  atomic.Int64
}

// start runs a proxy whose Identify returns the world's sandbox and orig.
func (w *world) start(t testing.TB, orig netip.AddrPort, tweak ...func(*Config)) *testProxy {
	t.Helper()
	tp := &testProxy{events: &eventLog{}}
	cfg := Config{
		Identify: func(net.Conn) (Client, error) {
			return Client{Sandbox: w.sb, Orig: orig}, nil
		},
		Resolver:   w.res,
		LocalAddrs: func() []netip.Addr { return w.local },
		Events:     tp.events,
		Dial: func(ctx context.Context, network string, addr netip.AddrPort) (net.Conn, error) {
			tp.dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, addr.String())
		},
		HeaderTimeout: 3 * time.Second,
		IdleTimeout:   5 * time.Second,
		SniffTimeout:  100 * time.Millisecond,
	}
	for _, f := range tweak {
		f(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tp.p = p
	tp.addr = ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- p.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != ErrClosed {
			t.Errorf("Serve returned %v, want ErrClosed", err)
		}
	})
	return tp
}

func (tp *testProxy) dial(t testing.TB) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", tp.addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes raw bytes and reads one response.
func roundTrip(t testing.TB, c net.Conn, br *bufio.Reader, raw string, method string) (*http.Response, string) {
	t.Helper()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatalf("write: %v", err)
	}
	return readResp(t, br, method)
}

func readResp(t testing.TB, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, string(body)
}

// expectClosed checks that the peer closes c without sending anything more.
func expectClosed(t testing.TB, c net.Conn, br *bufio.Reader) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := br.ReadByte()
	if err == nil {
		rest, _ := br.Peek(br.Buffered())
		t.Fatalf("connection still open; got %q", append([]byte{b}, rest...))
	}
	if errors.Is(err, net.ErrClosed) || isTimeout(err) {
		t.Fatalf("connection not closed by the proxy: %v", err)
	}
}
