package proxy

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paddock-sh/paddock/agentd/credential"
	"github.com/paddock-sh/paddock/agentd/events"
	"github.com/paddock-sh/paddock/compiler/bundle"
)

const testSecret = "s3cr3t-TOKEN-0123456789abcdef"

// credOrigin is an upstream that records what it received (the canary for
// the secret) and echoes request headers back, in the body and in a
// response header, as a careless API might.
type credOrigin struct {
	addr    netip.AddrPort
	mu      sync.Mutex
	got     []string // "METHOD path Authorization=..." per request
	release chan struct{}
}

func (o *credOrigin) seen() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.got...)
}

func (o *credOrigin) sawSecret() bool {
	for _, g := range o.seen() {
		if strings.Contains(g, testSecret) {
			return true
		}
	}
	return false
}

func startCredOrigin(t *testing.T, ip string, useTLS bool) *credOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	o := &credOrigin{addr: ln.Addr().(*net.TCPAddr).AddrPort(), release: make(chan struct{})}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var hs []string
		for k, vs := range r.Header {
			hs = append(hs, k+"="+strings.Join(vs, ","))
		}
		sort.Strings(hs)
		o.mu.Lock()
		o.got = append(o.got, fmt.Sprintf("%s %s %s %s", r.Proto, r.Method, r.URL.RequestURI(), strings.Join(hs, " ")))
		o.mu.Unlock()
		w.Header().Set("X-Echo-Authorization", r.Header.Get("Authorization"))
		w.Header().Set("X-Internal", "origin-internal")
		switch r.URL.Path {
		case "/v1/sse":
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: one\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-o.release:
			case <-time.After(5 * time.Second):
			}
			io.WriteString(w, "data: two\n\n")
			return
		case "/v1/split":
			// The echoed secret split across two chunks of the stream.
			a := r.Header.Get("Authorization")
			io.WriteString(w, a[:len(a)/2])
			w.(http.Flusher).Flush()
			time.Sleep(20 * time.Millisecond)
			io.WriteString(w, a[len(a)/2:])
			return
		case "/v1/raw":
			// The secret in the reason phrase and in a header's name.
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			fmt.Fprintf(brw, "HTTP/1.1 200 %s\r\nX-%s: 1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", tok, tok)
			brw.Flush()
			return
		case "/v1/redirect":
			http.Redirect(w, r, "https://other.test/landing", http.StatusFound)
			return
		case "/v1/gzip":
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			fmt.Fprintf(zw, "auth=%s", r.Header.Get("Authorization"))
			zw.Close()
			return
		case "/v1/brotli":
			w.Header().Set("Content-Encoding", "br")
			io.WriteString(w, "not really brotli")
			return
		}
		fmt.Fprintf(w, "proto=%s auth=%s key=%s", r.Proto, r.Header.Get("Authorization"), r.Header.Get("X-Api-Key"))
	})}
	if useTLS {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{testCert(t)}, NextProtos: []string{"h2", "http/1.1"}}
		go srv.ServeTLS(ln, "", "")
	} else {
		go srv.Serve(ln)
	}
	t.Cleanup(func() { srv.Close() })
	return o
}

// credWorld is a proxy whose sandbox has a credential bound to api.test
// (paths /v1/, GET and POST), a TLS and a plain origin behind api.test,
// and an unbound TLS host other.test.
type credWorld struct {
	w                *world
	api, plain, othr *credOrigin
	ca               *credential.CA
	tp               *testProxy
	binding          *credential.Binding
}

func newCredWorld(t *testing.T, orig func(cw *credWorld) netip.AddrPort, tweak ...func(cw *credWorld, c *Config)) *credWorld {
	t.Helper()
	w := newWorld(t)
	cw := &credWorld{w: w}
	cw.api = startCredOrigin(t, "127.0.0.6", true)
	cw.plain = startCredOrigin(t, "127.0.0.6", false)
	cw.othr = startCredOrigin(t, "127.0.0.7", true)
	w.res.set("api.test", "127.0.0.6")
	w.res.set("other.test", "127.0.0.7")
	w.net.Allow = append(w.net.Allow,
		bundle.HostRule{Pattern: "api.test:*", Rule: rule("network.allow[90]", 90, "api.test:*")},
		bundle.HostRule{Pattern: "other.test:*", Rule: rule("network.allow[91]", 91, "other.test:*")},
		// The origins are on loopback, which a name may reach only when
		// a rule names the address.
		bundle.HostRule{Pattern: "127.0.0.6:*", Rule: rule("network.allow[92]", 92, "127.0.0.6:*")},
		bundle.HostRule{Pattern: "127.0.0.7:*", Rule: rule("network.allow[93]", 93, "127.0.0.7:*")})
	creds := []bundle.Credential{{
		Name: "api", Hosts: []string{"api.test"}, Paths: []string{"/v1/"}, Methods: []string{"GET", "POST"},
		Env: "API_KEY", Header: "Authorization", Format: "Bearer %s", Source: "env:API_KEY",
		Placeholder: bundle.PlaceholderFor("api"), StripHeaders: []string{"X-Internal"}, BaseURLEnv: "API_BASE_URL",
		Rule: rule("credential.api", 70, "api"),
	}}
	set, err := credential.New(creds, func(bundle.Credential) ([]byte, error) { return []byte(testSecret), nil })
	if err != nil {
		t.Fatal(err)
	}
	cw.binding = set.Reverse()["API_BASE_URL"]
	w.sb.Credentials = set
	w.sb.Reverse = map[uint16]*credential.Binding{4999: cw.binding}
	cw.ca, err = credential.NewEphemeralCA()
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(testCert(t).Certificate[0])
	roots.AddCert(leaf)
	var o netip.AddrPort
	if orig != nil {
		o = orig(cw)
	}
	cw.tp = w.start(t, o, func(c *Config) {
		c.CA = cw.ca
		c.UpstreamRoots = roots
		for _, f := range tweak {
			f(cw, c)
		}
	})
	t.Cleanup(func() {
		for _, e := range cw.tp.events.all() {
			if strings.Contains(e.Reason, testSecret) || strings.Contains(e.Rule, testSecret) {
				t.Errorf("an event holds the secret: %+v", e)
			}
		}
	})
	return cw
}

// client is an HTTP client that uses the proxy explicitly and trusts both
// Paddock's CA (for bound hosts) and the test origins' certificate (for
// tunnelled ones).
func (cw *credWorld) client(t *testing.T, h2 bool) *http.Client {
	pool := cw.ca.Pool()
	leaf, _ := x509.ParseCertificate(testCert(t).Certificate[0])
	pool.AddCert(leaf)
	pu, _ := url.Parse("http://" + cw.tp.addr)
	tr := &http.Transport{
		Proxy:             http.ProxyURL(pu),
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: h2,
	}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, method, u string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, u, err)
	}
	if strings.Contains(string(b), testSecret) {
		t.Errorf("%s %s: the secret reached the sandbox in the body: %q", method, u, b)
	}
	if strings.Contains(resp.Status, testSecret) {
		t.Errorf("%s %s: the secret reached the sandbox in the status line: %q", method, u, resp.Status)
	}
	for k, vs := range resp.Header {
		if strings.Contains(k+strings.Join(vs, ","), testSecret) {
			t.Errorf("%s %s: the secret reached the sandbox in header %s", method, u, k)
		}
	}
	return resp, string(b)
}

func TestCredentialInjected(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			cw := newCredWorld(t, nil)
			c := cw.client(t, h2)
			u := fmt.Sprintf("https://api.test:%d", cw.api.addr.Port())
			ph := "Bearer " + bundle.PlaceholderFor("api")

			resp, body := get(t, c, "GET", u+"/v1/echo", "Authorization", ph)
			if resp.StatusCode != 200 || !strings.Contains(body, "auth="+ph) {
				t.Fatalf("%d %q: the echo must read back as the placeholder", resp.StatusCode, body)
			}
			if got := resp.Header.Get("X-Echo-Authorization"); got != ph {
				t.Errorf("echoed header %q, want the placeholder", got)
			}
			if resp.Header.Get("X-Internal") != "" {
				t.Errorf("X-Internal was not stripped")
			}
			if want := "HTTP/2.0"; h2 && resp.Proto != want {
				t.Errorf("sandbox side spoke %s, want %s", resp.Proto, want)
			}
			if !cw.api.sawSecret() {
				t.Fatalf("the bound origin never got the secret: %q", cw.api.seen())
			}
			if got := cw.api.seen()[0]; !strings.HasPrefix(got, "HTTP/1.1 ") {
				t.Errorf("upstream side spoke %q, want HTTP/1.1 (one transport per sandbox connection: HTTP/2 buys nothing)", got)
			}
			cw.tp.events.waitFor(t, "injection", func(e events.Event) bool {
				return e.Action == events.ActionAllow && strings.Contains(e.Reason, "credential api injected into Authorization of GET") &&
					strings.HasPrefix(e.Rule, "credential.api") && e.Net.Host == "api.test"
			})

			// Echoed in the reason phrase or a header's name.
			if resp, body := get(t, c, "GET", u+"/v1/raw", "Authorization", ph); resp.StatusCode != 200 || body != "ok" {
				t.Errorf("raw echo: %d %q", resp.StatusCode, body)
			}

			// An echo split across chunks is scrubbed all the same.
			if _, body := get(t, c, "GET", u+"/v1/split", "Authorization", ph); body != ph {
				t.Errorf("split echo read back %q, want the placeholder", body)
			}

			// A client's own Authorization on a bound request is replaced.
			n := len(cw.api.seen())
			get(t, c, "POST", u+"/v1/x", "Authorization", "Bearer attacker-chosen")
			if got := cw.api.seen()[n]; !strings.Contains(got, "Authorization=Bearer "+testSecret) || strings.Contains(got, "attacker") {
				t.Errorf("upstream got %q, want the real secret only", got)
			}
		})
	}
}

// TestCredentialNotInjected: every way of sending the placeholder somewhere
// the credential is not bound leaves it a placeholder, judged by what the
// origins received.
func TestCredentialNotInjected(t *testing.T) {
	cw := newCredWorld(t, nil)
	c := cw.client(t, false)
	ph := "Bearer " + bundle.PlaceholderFor("api")
	api := fmt.Sprintf("https://api.test:%d", cw.api.addr.Port())
	cases := []struct{ name, method, u string }{
		{"other path", "GET", api + "/v2/echo"},
		{"other method", "DELETE", api + "/v1/echo"},
		{"dot segments", "GET", api + "/v1/../admin"},
		{"encoded dots", "GET", api + "/v1/%2e%2e/admin"},
		{"encoded slash", "GET", api + "/v1%2f..%2fadmin"},
	}
	for _, tc := range cases {
		resp, _ := get(t, c, tc.method, tc.u, "Authorization", ph)
		if resp.StatusCode >= 500 {
			t.Errorf("%s: status %d", tc.name, resp.StatusCode)
		}
	}
	if cw.api.sawSecret() {
		t.Fatalf("the secret went out on an unbound path or method: %q", cw.api.seen())
	}
	cw.tp.events.waitFor(t, "placeholder note", func(e events.Event) bool {
		return e.Action == events.ActionLog && strings.Contains(e.Reason, "placeholder of credential api headed to DELETE")
	})

	// Unbound host: tunnelled untouched, the origin's own certificate.
	resp, body := get(t, c, "GET", fmt.Sprintf("https://other.test:%d/v1/echo", cw.othr.addr.Port()), "Authorization", ph)
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 || resp.TLS.PeerCertificates[0].Subject.CommonName != "paddock test origin" {
		t.Errorf("other.test was not tunnelled untouched (certificate %v)", resp.TLS.PeerCertificates[0].Subject)
	}
	if !strings.Contains(body, "auth="+ph) || cw.othr.sawSecret() {
		t.Errorf("unbound host: body %q, origin saw %q", body, cw.othr.seen())
	}

	// Plain HTTP to the bound host: no injection, a note.
	_, body = get(t, c, "GET", fmt.Sprintf("http://api.test:%d/v1/echo", cw.plain.addr.Port()), "Authorization", ph)
	if !strings.Contains(body, "auth="+ph) || cw.plain.sawSecret() {
		t.Errorf("plaintext: body %q, origin saw %q", body, cw.plain.seen())
	}
	cw.tp.events.waitFor(t, "plaintext note", func(e events.Event) bool {
		return e.Action == events.ActionLog && strings.Contains(e.Reason, "over plain HTTP")
	})

	// A redirect is handed back, never followed by the proxy; following
	// it by hand sends the placeholder to other.test, not the secret.
	resp, _ = get(t, c, "GET", api+"/v1/redirect", "Authorization", ph)
	if resp.StatusCode != 302 || !strings.HasPrefix(resp.Header.Get("Location"), "https://other.test/") {
		t.Fatalf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if cw.othr.sawSecret() {
		t.Fatal("other.test got the secret")
	}

	// Compressed echoes are decoded and scrubbed; an encoding the proxy
	// cannot read is refused rather than passed.
	_, body = get(t, c, "GET", api+"/v1/gzip", "Authorization", ph)
	if body != "auth="+ph {
		t.Errorf("gzip echo: %q", body)
	}
	resp, _ = get(t, c, "GET", api+"/v1/brotli", "Authorization", ph)
	if resp.StatusCode != 502 {
		t.Errorf("br response: %d, want 502", resp.StatusCode)
	}
}

// TestCredentialAuthorityAndTrace: each request on a terminated connection
// must name the host the connection was decided for; TRACE is refused.
func TestCredentialAuthorityAndTrace(t *testing.T) {
	cw := newCredWorld(t, nil)
	port := cw.api.addr.Port()
	for _, tcase := range []struct {
		raw    string
		method string
		status int
	}{
		{fmt.Sprintf("GET /v1/echo HTTP/1.1\r\nHost: other.test:%d\r\nAuthorization: Bearer paddock:cred:api\r\n\r\n", port), "GET", 421},
		{fmt.Sprintf("TRACE /v1/echo HTTP/1.1\r\nHost: api.test:%d\r\n\r\n", port), "TRACE", 405},
		{fmt.Sprintf("GET /v1/ws HTTP/1.1\r\nHost: api.test:%d\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", port), "GET", 403},
	} {
		for _, proto := range []string{"http/1.1", "h2"} {
			if proto == "h2" {
				continue // raw requests are HTTP/1.1; HTTP/2 is covered with a client in TestCredentialInjected
			}
			c := cw.tp.dial(t)
			br := bufio.NewReader(c)
			fmt.Fprintf(c, "CONNECT api.test:%d HTTP/1.1\r\nHost: api.test:%d\r\n\r\n", port, port)
			resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("CONNECT: %v %v", resp, err)
			}
			tc := tls.Client(&bufConn{c, br}, &tls.Config{ServerName: "api.test", RootCAs: cw.ca.Pool(), NextProtos: []string{proto}})
			resp, body := roundTrip(t, tc, bufio.NewReader(tc), tcase.raw, tcase.method)
			if resp.StatusCode != tcase.status {
				t.Errorf("%q: %d %q, want %d", tcase.raw, resp.StatusCode, body, tcase.status)
			}
		}
	}
	if n := len(cw.api.seen()); n != 0 {
		t.Errorf("the origin got %d requests", n)
	}
}

// TestCredentialStreaming: a server-sent event reaches the sandbox while
// the response is still open, both through termination and through the
// reverse listener.
func TestCredentialStreaming(t *testing.T) {
	check := func(t *testing.T, cw *credWorld, rd *bufio.Reader) {
		t.Helper()
		done := make(chan string, 1)
		go func() {
			line, _ := rd.ReadString('\n')
			done <- line
		}()
		select {
		case line := <-done:
			if line != "data: one\n" {
				t.Fatalf("first event line %q", line)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("the first event did not arrive while the response was open")
		}
		close(cw.api.release)
		rest, _ := io.ReadAll(rd)
		if !strings.Contains(string(rest), "data: two") {
			t.Fatalf("rest %q", rest)
		}
	}
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("terminated h2=%v", h2), func(t *testing.T) {
			cw := newCredWorld(t, nil)
			req, _ := http.NewRequest("GET", fmt.Sprintf("https://api.test:%d/v1/sse", cw.api.addr.Port()), nil)
			resp, err := cw.client(t, h2).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			check(t, cw, bufio.NewReader(resp.Body))
		})
	}
	t.Run("reverse", func(t *testing.T) {
		// The reverse listener forwards to port 443 of the bound host;
		// the test origin listens elsewhere, so dial there instead.
		cw := newCredWorld(t, func(cw *credWorld) netip.AddrPort { return netip.MustParseAddrPort("127.0.0.1:4999") },
			func(cw *credWorld, c *Config) {
				c.Dial = func(ctx context.Context, network string, addr netip.AddrPort) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, network, cw.api.addr.String())
				}
			})
		c := cw.tp.dial(t)
		io.WriteString(c, "GET /v1/sse HTTP/1.1\r\nHost: 127.0.0.1:4999\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			t.Fatalf("reverse: %d", resp.StatusCode)
		}
		check(t, cw, bufio.NewReader(resp.Body))
		if !cw.api.sawSecret() {
			t.Fatalf("the reverse listener did not inject: %q", cw.api.seen())
		}
	})
}

// TestCredentialTransparent: a redirected TLS connection to a bound host
// is terminated the same way.
func TestCredentialTransparent(t *testing.T) {
	cw := newCredWorld(t, func(cw *credWorld) netip.AddrPort { return cw.api.addr })
	c := cw.tp.dial(t)
	tc := tls.Client(c, &tls.Config{ServerName: "api.test", RootCAs: cw.ca.Pool(), NextProtos: []string{"http/1.1"}})
	resp, body := roundTrip(t, tc, bufio.NewReader(tc), fmt.Sprintf("GET /v1/echo HTTP/1.1\r\nHost: api.test:%d\r\nAuthorization: Bearer paddock:cred:api\r\n\r\n", cw.api.addr.Port()), "GET")
	if resp.StatusCode != 200 || strings.Contains(body, testSecret) || !cw.api.sawSecret() {
		t.Fatalf("%d %q; origin saw %q", resp.StatusCode, body, cw.api.seen())
	}
}

// TestCredentialUpstreamUnverified: a bound host whose certificate the
// proxy cannot verify gets no request at all, so never the secret.
func TestCredentialUpstreamUnverified(t *testing.T) {
	cw := newCredWorld(t, nil, func(_ *credWorld, c *Config) { c.UpstreamRoots = x509.NewCertPool() })
	resp, body := get(t, cw.client(t, false), "GET", fmt.Sprintf("https://api.test:%d/v1/echo", cw.api.addr.Port()), "Authorization", "Bearer paddock:cred:api")
	if resp.StatusCode != 502 || !strings.Contains(body, "certificate") {
		t.Errorf("%d %q, want 502 naming the certificate", resp.StatusCode, body)
	}
	if n := len(cw.api.seen()); n != 0 {
		t.Errorf("the origin got %d requests from an unverified connection", n)
	}
}
