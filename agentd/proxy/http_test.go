package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paddock-sh/paddock/agentd/events"
)

// TestSmuggling sends request shapes that two HTTP parsers can read two
// ways. Each is refused before anything reaches the origin, and the
// request hidden inside never does.
func TestSmuggling(t *testing.T) {
	w := newWorld(t)
	tp := w.start(t, netip.AddrPort{})
	a := fmt.Sprintf("allowed.test:%d", w.allowed.addr.Port())
	smuggled := "GET http://" + a + "/smuggled HTTP/1.1\r\nHost: " + a + "\r\n\r\n"
	post := "POST http://" + a + "/front HTTP/1.1\r\nHost: " + a + "\r\n"
	cases := []struct {
		name   string
		raw    string
		status int
	}{
		{"CL.TE", post + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"TE.CL", post + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"CL.CL", post + "Content-Length: 0\r\nContent-Length: 80\r\n\r\n" + smuggled, 400},
		{"CL list", post + "Content-Length: 0, 80\r\n\r\n" + smuggled, 400},
		{"TE not last", post + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"TE twice", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"TE lookalike", post + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"TE vertical tab", post + "Transfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"TE space before colon", post + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"TE obs-fold", post + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"TE in HTTP/1.0", "POST http://" + a + "/front HTTP/1.0\r\nHost: " + a + "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"bare CR", post + "X: a\rContent-Length: 80\r\n\r\n" + smuggled, 400},
		{"bare LF", "POST http://" + a + "/front HTTP/1.1\nHost: " + a + "\nContent-Length: 80\n\n" + smuggled, 400},
		{"NUL in value", post + "X: a\x00b\r\n\r\n" + smuggled, 400},
		{"control in name", post + "X\x01Y: 1\r\n\r\n" + smuggled, 400},
		{"bad method", "P(ST http://" + a + "/front HTTP/1.1\r\nHost: " + a + "\r\n\r\n" + smuggled, 400},
		{"no version", "GET http://" + a + "/front\r\nHost: " + a + "\r\n\r\n" + smuggled, 400},
		{"two hosts", post + "Host: x.wild.test\r\nContent-Length: 0\r\n\r\n" + smuggled, 400},
		{"oversized head", post + "X: " + strings.Repeat("a", 70<<10) + "\r\n\r\n" + smuggled, 431},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tp.dial(t)
			br := bufio.NewReader(c)
			resp, body := roundTrip(t, c, br, tc.raw, "POST")
			if resp.StatusCode != tc.status {
				t.Errorf("status %d %q, want %d", resp.StatusCode, body, tc.status)
			}
			expectClosed(t, c, br)
		})
	}
	if reqs := w.allowed.requests(); len(reqs) != 0 || w.allowed.hits() != 0 {
		t.Errorf("refused requests reached the origin: %q", reqs)
	}

	// A malformed chunk after a forwarded head: the upstream sees a broken
	// body and a closed connection, never the request behind it.
	t.Run("bad chunk", func(t *testing.T) {
		c := tp.dial(t)
		br := bufio.NewReader(c)
		resp, _ := roundTrip(t, c, br, post+"Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"+smuggled, "POST")
		if resp.StatusCode == 200 {
			t.Errorf("a malformed chunked body was answered 200")
		}
		expectClosed(t, c, br)
	})
	t.Run("chunk size overflow", func(t *testing.T) {
		c := tp.dial(t)
		br := bufio.NewReader(c)
		resp, _ := roundTrip(t, c, br, post+"Transfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n"+smuggled, "POST")
		if resp.StatusCode == 200 {
			t.Errorf("an overflowing chunk size was answered 200")
		}
	})
	// A well-formed body followed by a pipelined request to a denied host:
	// the second request is checked like any other.
	t.Run("pipelined denied", func(t *testing.T) {
		wb := fmt.Sprintf("bad.wild.test:%d", w.wild.addr.Port())
		c := tp.dial(t)
		br := bufio.NewReader(c)
		io.WriteString(c, post+"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"+"GET http://"+wb+"/smuggled HTTP/1.1\r\nHost: "+wb+"\r\n\r\n")
		resp, body := readResp(t, br, "POST")
		if resp.StatusCode != 200 || !strings.Contains(body, "body=3") {
			t.Fatalf("first: %d %q", resp.StatusCode, body)
		}
		resp, _ = readResp(t, br, "GET")
		if resp.StatusCode != 403 {
			t.Fatalf("second: %d", resp.StatusCode)
		}
		if w.wild.hits() != 0 {
			t.Error("the pipelined denied request reached its origin")
		}
	})
	for _, r := range w.allowed.requests() {
		if strings.Contains(r, "smuggled") {
			t.Errorf("smuggled request reached the origin: %q", r)
		}
	}
}

// TestHTTPForwarding checks what the upstream and the client see:
// hop-by-hop fields stripped, bodies streamed in every framing, HEAD and
// 204 without a body, 100-continue, WebSocket upgrades.
func TestHTTPForwarding(t *testing.T) {
	w := newWorld(t)
	tp := w.start(t, netip.AddrPort{})
	a := fmt.Sprintf("allowed.test:%d", w.allowed.addr.Port())
	c := tp.dial(t)
	br := bufio.NewReader(c)

	resp, body := roundTrip(t, c, br, "GET http://"+a+"/h HTTP/1.1\r\nHost: "+a+"\r\nProxy-Authorization: Basic c2VjcmV0\r\n"+
		"Proxy-Connection: keep-alive\r\nConnection: X-Hop\r\nX-Hop: dropped\r\nAuthorization: Bearer tok-123\r\n\r\n", "GET")
	if resp.StatusCode != 200 || !strings.Contains(body, `proxy-auth="" conn=""`) {
		t.Errorf("hop-by-hop fields forwarded: %q", body)
	}
	for _, e := range tp.events.all() {
		if s := fmt.Sprintf("%+v %+v", e, *e.Net); strings.Contains(s, "tok-123") || strings.Contains(s, "c2VjcmV0") {
			t.Errorf("a header value leaked into an event: %s", s)
		}
	}

	resp, body = roundTrip(t, c, br, "GET http://"+a+"/big HTTP/1.1\r\nHost: "+a+"\r\n\r\n", "GET")
	if resp.StatusCode != 200 || len(body) != 1<<20 {
		t.Errorf("big body: %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, body = roundTrip(t, c, br, "GET http://"+a+"/chunked HTTP/1.1\r\nHost: "+a+"\r\n\r\n", "GET")
	if resp.StatusCode != 200 || body != "part1;part2" || len(resp.TransferEncoding) != 1 {
		t.Errorf("chunked response: %d %q %v", resp.StatusCode, body, resp.TransferEncoding)
	}
	resp, body = roundTrip(t, c, br, "HEAD http://"+a+"/h HTTP/1.1\r\nHost: "+a+"\r\n\r\n", "HEAD")
	if resp.StatusCode != 200 || body != "" || resp.ContentLength <= 0 {
		t.Errorf("HEAD: %d %q %d", resp.StatusCode, body, resp.ContentLength)
	}
	resp, body = roundTrip(t, c, br, "GET http://"+a+"/204 HTTP/1.1\r\nHost: "+a+"\r\n\r\n", "GET")
	if resp.StatusCode != 204 || body != "" {
		t.Errorf("204: %d %q", resp.StatusCode, body)
	}
	resp, body = roundTrip(t, c, br, "POST http://"+a+"/cl HTTP/1.1\r\nHost: "+a+"\r\nContent-Length: 5\r\n\r\nhello", "POST")
	if resp.StatusCode != 200 || !strings.Contains(body, "body=5") {
		t.Errorf("POST: %d %q", resp.StatusCode, body)
	}
	resp, body = roundTrip(t, c, br, "POST http://"+a+"/te HTTP/1.1\r\nHost: "+a+"\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n", "POST")
	if resp.StatusCode != 200 || !strings.Contains(body, "body=5") {
		t.Errorf("chunked POST: %d %q", resp.StatusCode, body)
	}
	// 100-continue: the head goes first, the body only after the 100.
	io.WriteString(c, "PUT http://"+a+"/e HTTP/1.1\r\nHost: "+a+"\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("expected 100 Continue, got %q %v", line, err)
	}
	if l, _ := br.ReadString('\n'); l != "\r\n" {
		t.Fatalf("100 Continue has fields: %q", l)
	}
	io.WriteString(c, "data")
	resp, body = readResp(t, br, "PUT")
	if resp.StatusCode != 200 || !strings.Contains(body, "body=4") {
		t.Errorf("PUT after 100: %d %q", resp.StatusCode, body)
	}
	if n := w.allowed.hits(); n != 1 {
		t.Errorf("%d upstream connections for one client connection to one destination", n)
	}
	// Connection: close from the client ends the connection after the response.
	resp, _ = roundTrip(t, c, br, "GET http://"+a+"/last HTTP/1.1\r\nHost: "+a+"\r\nConnection: close\r\n\r\n", "GET")
	if resp.StatusCode != 200 || !resp.Close {
		t.Errorf("close: %d close=%v", resp.StatusCode, resp.Close)
	}
	expectClosed(t, c, br)

	// WebSocket upgrade: 101, then a tunnel.
	c2 := tp.dial(t)
	br2 := bufio.NewReader(c2)
	io.WriteString(c2, "GET http://"+a+"/ws HTTP/1.1\r\nHost: "+a+"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	up, err := readRespHead(br2)
	if err != nil || up.StatusCode != 101 || up.Header["Upgrade"] != "websocket" {
		t.Fatalf("upgrade: %v %v", up, err)
	}
	hello := make([]byte, len("hello-from-origin"))
	if _, err := io.ReadFull(br2, hello); err != nil || string(hello) != "hello-from-origin" {
		t.Fatalf("bytes after 101: %q %v", hello, err)
	}
	io.WriteString(c2, "ping")
	echo := make([]byte, 4)
	if _, err := io.ReadFull(br2, echo); err != nil || string(echo) != "ping" {
		t.Fatalf("echo %q %v", echo, err)
	}
}

func readRespHead(br *bufio.Reader) (*struct {
	StatusCode int
	Header     map[string]string
}, error) {
	r := &struct {
		StatusCode int
		Header     map[string]string
	}{Header: map[string]string{}}
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	fmt.Sscanf(line, "HTTP/1.1 %d", &r.StatusCode)
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		if l == "\r\n" {
			return r, nil
		}
		k, v, _ := strings.Cut(strings.TrimRight(l, "\r\n"), ":")
		r.Header[k] = strings.TrimSpace(v)
	}
}

// TestSlowClients: a silent client and a byte-a-second client are both
// cut off by the timeouts.
func TestSlowClients(t *testing.T) {
	w := newWorld(t)
	tp := w.start(t, netip.AddrPort{}, func(c *Config) {
		c.HeaderTimeout = 300 * time.Millisecond
		c.IdleTimeout = 300 * time.Millisecond
	})
	t.Run("silent", func(t *testing.T) {
		c := tp.dial(t)
		start := time.Now()
		expectClosed(t, c, bufio.NewReader(c))
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("closed after %v", d)
		}
	})
	t.Run("trickle", func(t *testing.T) {
		c := tp.dial(t)
		start := time.Now()
		head := fmt.Sprintf("GET http://allowed.test:%d/ HTTP/1.1\r\nHost: allowed.test\r\nX: %s", w.allowed.addr.Port(), strings.Repeat("a", 1000))
		closed := false
		for i := 0; i < len(head) && time.Since(start) < 3*time.Second; i++ {
			if _, err := c.Write([]byte{head[i]}); err != nil {
				closed = true
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if !closed {
			expectClosed(t, c, bufio.NewReader(c))
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("a trickling client held its head open for %v", d)
		}
		if w.allowed.hits() != 0 {
			t.Error("origin reached")
		}
	})
	t.Run("slow socks", func(t *testing.T) {
		c := tp.dial(t)
		c.Write([]byte{5})
		start := time.Now()
		expectClosed(t, c, bufio.NewReader(c))
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("closed after %v", d)
		}
	})
}

// TestShutdown: idle connections close at once and Serve returns.
func TestShutdown(t *testing.T) {
	w := newWorld(t)
	tp := w.start(t, netip.AddrPort{})
	a := fmt.Sprintf("allowed.test:%d", w.allowed.addr.Port())
	c := tp.dial(t)
	br := bufio.NewReader(c)
	if resp, _ := roundTrip(t, c, br, "GET http://"+a+"/ HTTP/1.1\r\nHost: "+a+"\r\n\r\n", "GET"); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	if err := tp.p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Shutdown took %v with only an idle connection", d)
	}
	expectClosed(t, c, br)
	if err := tp.p.Serve(nil); err != ErrClosed {
		t.Errorf("Serve after Shutdown: %v", err)
	}
}

// TestEventsShape: one event per request, with every field a reader needs.
func TestEventsShape(t *testing.T) {
	w := newWorld(t)
	tp := w.start(t, netip.AddrPort{})
	a := fmt.Sprintf("allowed.test:%d", w.allowed.addr.Port())
	c := tp.dial(t)
	br := bufio.NewReader(c)
	roundTrip(t, c, br, "GET http://"+a+"/path?token=hunter2 HTTP/1.1\r\nHost: "+a+"\r\nCookie: session=hunter3\r\n\r\n", "GET")
	e := tp.events.waitFor(t, "allow", func(e events.Event) bool { return e.Action == events.ActionAllow })
	if e.Time.IsZero() || e.Layer != "proxy" || e.Sandbox != "sb-test" || e.Rule == "" || e.Reason == "" {
		t.Errorf("event %+v", e)
	}
	n := e.Net
	if n.Op != "http" || n.Proto != "tcp" || !n.Client.IsValid() || n.Orig.IsValid() || n.Host != "allowed.test" ||
		n.Port != w.allowed.addr.Port() || n.Dialled != w.allowed.addr {
		t.Errorf("net %+v", *n)
	}
	if s := fmt.Sprintf("%+v %+v", e, *n); strings.Contains(s, "hunter") {
		t.Errorf("secret in event: %s", s)
	}
}

// TestStaleUpstream: an upstream that closes a kept-alive connection
// without saying so is redialled for a replayable request; a POST is not
// sent twice.
func TestStaleUpstream(t *testing.T) {
	w := newWorld(t)
	tp := w.start(t, netip.AddrPort{})
	ln, err := net.Listen("tcp", "127.0.0.4:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepts, posts atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			go func() {
				defer c.Close()
				head, err := readHead(bufio.NewReader(c), nil, true)
				if err != nil {
					return
				}
				if strings.HasPrefix(string(head), "POST") {
					posts.Add(1)
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}()
		}
	}()
	a := ln.Addr().String()
	c := tp.dial(t)
	br := bufio.NewReader(c)
	for i := range 3 {
		resp, body := roundTrip(t, c, br, "GET http://"+a+"/ HTTP/1.1\r\nHost: "+a+"\r\n\r\n", "GET")
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("GET %d: %d %q", i, resp.StatusCode, body)
		}
		time.Sleep(20 * time.Millisecond) // let the origin's close arrive
	}
	if accepts.Load() != 3 {
		t.Errorf("%d upstream connections for 3 GETs on a closing origin", accepts.Load())
	}
	resp, _ := roundTrip(t, c, br, "POST http://"+a+"/ HTTP/1.1\r\nHost: "+a+"\r\nContent-Length: 0\r\n\r\n", "POST")
	if resp.StatusCode != 502 || posts.Load() != 0 {
		t.Errorf("POST on a stale upstream: %d, origin saw %d POSTs", resp.StatusCode, posts.Load())
	}
}
