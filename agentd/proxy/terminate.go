package proxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paddock-sh/paddock/agentd/credential"
	"github.com/paddock-sh/paddock/agentd/events"
	"github.com/paddock-sh/paddock/compiler/hostpattern"
)

// Credential injection (decision D10). A connection to a host a credential
// is bound to is terminated: the proxy answers the sandbox's TLS with a
// certificate from the local CA, reads each request, checks its authority,
// puts the secret into the bound header when the host, method and path
// match, and forwards it over a new TLS connection (verified against the
// system's CAs) to an address it checked. Responses stream back with
// every spelling of the secret replaced by its placeholder. Every other
// host is tunnelled untouched.

// terminate serves a TLS connection from the sandbox to the bound
// destination d; up is connected to one of d's checked addresses and raw
// holds the ClientHello already read.
func (c *conn) terminate(up *upstream, d *dest, raw []byte) {
	leaf, err := c.p.cfg.CA.Leaf(d.allow.host)
	if err != nil {
		up.close()
		c.emitNote(events.ActionDeny, "", fmt.Sprintf("no certificate for %s from the local CA (%v); closed", d.allow.host, err), d)
		return
	}
	pre := append([]byte{}, raw...)
	if n := c.br.Buffered(); n > 0 {
		b, _ := c.br.Peek(n)
		pre = append(pre, b...)
	}
	c.release()
	tc := tls.Server(&prefixConn{Conn: c.c, pre: pre}, &tls.Config{
		Certificates: []tls.Certificate{*leaf},
		NextProtos:   []string{"h2", "http/1.1"},
		MinVersion:   tls.VersionTLS12,
	})
	c.c.SetDeadline(time.Now().Add(c.p.cfg.HeaderTimeout))
	if err := tc.Handshake(); err != nil {
		up.close()
		c.emitNote(events.ActionDeny, "", fmt.Sprintf("TLS with the sandbox for %s failed (%v): the client must trust Paddock's CA, which SSL_CERT_FILE and its kin name; closed", d.allow.host, err), d)
		return
	}
	c.c.SetDeadline(time.Time{})
	if tc.ConnectionState().NegotiatedProtocol != "h2" {
		c.serveBoundH1(tc, d, up)
		return
	}
	c.serveBound(tc, d, up, false)
}

// reverse serves the plain-HTTP reverse listener of a credential: requests
// from the sandbox, in clear on loopback, go over TLS to b's host with the
// secret injected (the ANTHROPIC_BASE_URL pattern).
func (c *conn) reverse(b *credential.Binding) {
	d, o := c.check("reverse", b.Host(), 443)
	if o != nil {
		c.emitDecision("reverse", nil, o)
		return
	}
	up, o := c.p.dial(d)
	c.emitDecision("reverse", up, o.orAllow(d))
	if up == nil {
		return
	}
	pre := []byte{}
	if n := c.br.Buffered(); n > 0 {
		b, _ := c.br.Peek(n)
		pre = append(pre, b...)
	}
	c.release()
	c.serveBound(&prefixConn{Conn: c.c, pre: pre}, d, up, true)
}

// serveBound serves HTTP (1.1 or 2) on the sandbox's side of a terminated
// connection until it ends.
func (c *conn) serveBound(cc net.Conn, d *dest, first *upstream, reverse bool) {
	b := &bound{c: c, d: d, reverse: reverse, first: first}
	defer b.closeFirst()
	b.transport = &boundRT{b: b, cfg: &tls.Config{ServerName: d.allow.host, RootCAs: c.p.cfg.UpstreamRoots, MinVersion: tls.VersionTLS12}}
	defer b.transport.close()
	b.rp = &httputil.ReverseProxy{
		Rewrite:        b.rewrite,
		Transport:      b.transport,
		FlushInterval:  -1, // stream: server-sent events reach the sandbox as they come
		ModifyResponse: b.modifyResponse,
		ErrorHandler:   b.failed,
		ErrorLog:       log.New(io.Discard, "", 0),
	}
	ln := &oneConn{c: cc, done: make(chan struct{})}
	srv := &http.Server{
		Handler:           b,
		ReadHeaderTimeout: c.p.cfg.HeaderTimeout,
		IdleTimeout:       c.p.cfg.IdleTimeout,
		// Each concurrent stream of an HTTP/2 client takes an upstream
		// connection of its own.
		HTTP2:    &http.HTTP2Config{MaxConcurrentStreams: 16},
		ErrorLog: log.New(io.Discard, "", 0),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateClosed || s == http.StateHijacked {
				ln.Close()
			}
		},
	}
	srv.Serve(ln)
}

// bound is one terminated sandbox connection.
type bound struct {
	c         *conn
	d         *dest
	reverse   bool
	transport *boundRT
	rp        *httputil.ReverseProxy

	mu    sync.Mutex
	first *upstream // the checked connection made before the handshake, until used
}

func (b *bound) closeFirst() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.first != nil {
		b.first.close()
		b.first = nil
	}
}

// dial hands the transport the connection made when the destination was
// decided, then new ones to d's checked addresses: never a name.
func (b *bound) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	b.mu.Lock()
	first := b.first
	b.first = nil
	b.mu.Unlock()
	if first != nil {
		return first.c, nil
	}
	up, o := b.c.p.dial(b.d)
	if up == nil {
		return nil, errors.New(o.reason)
	}
	return up.c, nil
}

func (b *bound) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	switch {
	case r.Method == "TRACE" || r.Method == "TRACK":
		b.refuse(w, 405, "the TRACE and TRACK methods are refused (they echo requests back, credentials included)")
		return
	case r.Method == "CONNECT":
		b.refuse(w, 405, "CONNECT inside a terminated connection is refused")
		return
	case r.Header.Get("Upgrade") != "":
		// An upgraded stream (WebSocket) would pass unread, and a server
		// could echo the injected secret in it.
		b.refuse(w, 403, "protocol upgrades to a host with credentials are refused: the proxy could not keep the secret out of the upgraded stream")
		return
	case !b.reverse:
		if why := b.authority(r.Host); why != "" {
			b.refuse(w, 421, why)
			return
		}
	}
	if !strings.HasPrefix(path, "/") {
		b.refuse(w, 400, "the request target must be a path")
		return
	}
	b.rp.ServeHTTP(w, r)
}

// authority checks that a request's authority (Host, or :authority in
// HTTP/2) names the destination the connection was decided on.
func (b *bound) authority(v string) string {
	hostText, port, err := hostpattern.SplitHostPort(v)
	if err != nil {
		return "the request's authority is not a valid host"
	}
	h, err := hostpattern.Canonical(hostText)
	if err != nil {
		return "the request's authority is not a valid host"
	}
	if port == 0 {
		port = 443
	}
	if h != b.d.host || port != b.d.port {
		return fmt.Sprintf("the request names %s:%d, but this connection was decided for %s:%d", h, port, b.d.allow.host, b.d.port)
	}
	return ""
}

// rewrite makes the upstream request: the checked authority, the secret
// in its header when the credential applies, and nothing that lets the
// upstream compress what the scrubber must read.
func (b *bound) rewrite(pr *httputil.ProxyRequest) {
	host := b.d.allow.host
	authority := host
	if b.d.port != 443 {
		authority = host + ":" + strconv.Itoa(int(b.d.port))
	}
	pr.Out.URL.Scheme = "https"
	pr.Out.URL.Host = authority
	pr.Out.Host = authority
	// gzip or nothing: the proxy decodes it, so the scrubber reads plain
	// bytes.
	pr.Out.Header.Set("Accept-Encoding", "gzip")

	path := pr.In.URL.EscapedPath()
	creds := b.c.cl.Sandbox.Credentials
	apply, skipped := creds.Match(host, pr.In.Method, path)
	for _, cr := range apply {
		pr.Out.Header.Del(cr.Header())
		pr.Out.Header.Set(cr.Header(), cr.Value())
	}
	// A placeholder left anywhere in the request stays a placeholder; say
	// where it was headed.
	var left []string
	for name, vs := range pr.Out.Header {
		for _, v := range vs {
			if strings.Contains(v, "paddock:cred:") && !appliedTo(apply, name) {
				left = append(left, credential.Placeholders(v)...)
			}
		}
	}
	left = append(left, credential.Placeholders(pr.In.URL.RawQuery)...)
	left = append(left, credential.Placeholders(path)...)
	b.c.noteInjection(b.d, pr.In.Method, path, apply, skipped, left)
}

// modifyResponse strips the headers the policy lists and scrubs the
// secrets from the rest, and from the body as it streams.
func (b *bound) modifyResponse(resp *http.Response) error {
	creds := b.c.cl.Sandbox.Credentials
	for _, h := range creds.StripHeaders(b.d.allow.host) {
		resp.Header.Del(h)
	}
	switch enc := resp.Header.Get("Content-Encoding"); {
	case enc == "" || strings.EqualFold(enc, "identity"):
	case strings.EqualFold(enc, "gzip") && resp.Request.Method != "HEAD":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return fmt.Errorf("the gzip response does not decode: %v", err)
		}
		resp.Body = struct {
			io.Reader
			io.Closer
		}{zr, resp.Body}
		resp.Header.Del("Content-Encoding")
		resp.Header.Del("Content-Length")
		resp.ContentLength = -1
	default:
		return fmt.Errorf("the response is %s-encoded, which the proxy cannot check for the secret", enc)
	}
	for name, vs := range resp.Header {
		if creds.Scrub(name) != name {
			delete(resp.Header, name) // a name holding a secret
			continue
		}
		for i, v := range vs {
			vs[i] = creds.Scrub(v)
		}
		resp.Header[name] = vs
	}
	// Trailers arrive after the body, past the scrubber: dropped.
	resp.Trailer = nil
	switch {
	case !creds.Scrubs():
	case resp.ContentLength >= 0 && resp.ContentLength <= maxScrubbedWhole:
		// A body of known, modest length is scrubbed whole and keeps a
		// length: one write to the sandbox instead of a chunked stream.
		b, err := io.ReadAll(io.LimitReader(resp.Body, resp.ContentLength+1))
		resp.Body.Close()
		if err != nil {
			return err
		}
		b = []byte(creds.Scrub(string(b)))
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	default:
		// Streams (server-sent events) and large bodies are scrubbed as
		// they pass.
		resp.Body = creds.Body(resp.Body)
		resp.ContentLength = -1
		resp.Header.Del("Content-Length")
	}
	return nil
}

// maxScrubbedWhole bounds the bodies read whole before they are scrubbed.
const maxScrubbedWhole = 256 << 10

func (b *bound) failed(w http.ResponseWriter, r *http.Request, err error) {
	msg := b.c.cl.Sandbox.Credentials.Scrub(err.Error())
	b.c.emitNote(events.ActionDeny, "", fmt.Sprintf("request %s https://%s%s failed: %s", r.Method, b.d.allow.host, shortPath(r.URL.EscapedPath()), msg), b.d)
	writePlain(w, 502, msg)
}

func (b *bound) refuse(w http.ResponseWriter, status int, why string) {
	b.c.emitNote(events.ActionDeny, "", why, b.d)
	writePlain(w, status, why)
}

func writePlain(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Paddock-Denied", "1")
	w.WriteHeader(status)
	io.WriteString(w, "paddock: "+msg+"\n")
}

// emitNote records a decision about a request on a terminated connection.
func (c *conn) emitNote(action, rule, reason string, d *dest) {
	c.p.emit(events.Event{
		Sandbox: c.cl.Sandbox.ID, Action: action, Rule: rule, Reason: reason,
		Net: &events.Net{Op: "https", Proto: "tcp", Client: c.client, Orig: c.cl.Orig, Host: d.allow.host, Port: d.port},
	})
}

// shortPath bounds a path for an event.
func shortPath(p string) string {
	if len(p) > 200 {
		return p[:200] + "…"
	}
	return p
}

// appliedTo reports whether one of bs writes header.
func appliedTo(bs []*credential.Binding, header string) bool {
	return slices.ContainsFunc(bs, func(b *credential.Binding) bool { return strings.EqualFold(b.Header(), header) })
}

// prefixConn replays bytes already read from a connection before reading
// it further.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// oneConn is a listener that yields one connection, then waits to be
// closed.
type oneConn struct {
	mu   sync.Mutex
	c    net.Conn
	done chan struct{}
	once sync.Once
}

func (l *oneConn) Accept() (net.Conn, error) {
	l.mu.Lock()
	c := l.c
	l.c = nil
	l.mu.Unlock()
	if c != nil {
		return c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *oneConn) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *oneConn) Addr() net.Addr { return dummyAddr{} }

type dummyAddr struct{}

func (dummyAddr) Network() string { return "tcp" }
func (dummyAddr) String() string  { return "sandbox" }
