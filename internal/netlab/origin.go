//go:build linux

package netlab

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxBody bounds the request body an Origin keeps.
const maxBody = 64 << 10

// Origin is a web server in the internet that records what reaches it,
// request headers included. A request whose path ends in /echo gets its
// request headers back as the body, one "Name: value" line each.
type Origin struct {
	addr netip.AddrPort
	tls  bool

	mu    sync.Mutex
	hits  []Hit
	conns []Conn
}

// Hit is one HTTP request an Origin received.
type Hit struct {
	Time   time.Time
	Remote netip.AddrPort
	Method string
	Host   string // the Host header (:authority in HTTP/2)
	Path   string
	Query  string // the raw query, without "?"
	SNI    string // TLS server name, empty for plain HTTP or no SNI
	Proto  string // "HTTP/1.1", "HTTP/2.0"
	Body   []byte // the request body, up to 64 KiB
	Header http.Header
}

// Conn is one TCP connection an Origin accepted, whether or not a request
// followed (a TLS handshake may have failed, or the client sent nothing).
type Conn struct {
	Time   time.Time
	Remote netip.AddrPort
	SNI    string // the ClientHello's server name, for TLS origins
}

// HTTPOrigin starts a plain HTTP server in the internet on addr ("ip:port",
// or "ip" for port 80; an origin address is added with AddAddr). Every
// request is answered 200 with the body
//
//	origin <addr> host=<Host> path=<path>
//
// and the header X-Netlab-Origin: <addr>.
func (l *Lab) HTTPOrigin(addr string) *Origin {
	l.t.Helper()
	o, err := l.startOrigin(addr, 80, nil)
	if err != nil {
		l.t.Fatalf("netlab: HTTP origin %s: %v", addr, err)
	}
	return o
}

// TLSOrigin starts an HTTPS server (HTTP/1.1 and HTTP/2) in the internet on
// addr ("ip:port", or "ip" for port 443), with a certificate from the lab's
// CA for names (DNS names or IP literals; the address itself when none).
// Every request is answered 200 with the body
//
//	origin <addr> sni=<SNI> host=<Host> path=<path>
//
// so one origin with several names serves as a CDN with several tenants.
func (l *Lab) TLSOrigin(addr string, names ...string) *Origin {
	l.t.Helper()
	ap, err := parseAddrPort(addr, 443)
	if err != nil {
		l.t.Fatalf("netlab: TLS origin %s: %v", addr, err)
	}
	if len(names) == 0 {
		names = []string{ap.Addr().String()}
	}
	cert, err := l.ca.issue(names)
	if err != nil {
		l.t.Fatalf("netlab: TLS origin %s: %v", addr, err)
	}
	o, err := l.startOrigin(addr, 443, &cert)
	if err != nil {
		l.t.Fatalf("netlab: TLS origin %s: %v", addr, err)
	}
	return o
}

func parseAddrPort(addr string, defPort uint16) (netip.AddrPort, error) {
	if a, err := netip.ParseAddr(addr); err == nil {
		return netip.AddrPortFrom(a, defPort), nil
	}
	return netip.ParseAddrPort(addr)
}

func (l *Lab) startOrigin(addr string, defPort uint16, cert *tls.Certificate) (*Origin, error) {
	ap, err := parseAddrPort(addr, defPort)
	if err != nil {
		return nil, err
	}
	ln, err := l.Listen("tcp", ap.String())
	if err != nil {
		return nil, err
	}
	o := &Origin{tls: cert != nil}
	if ta, ok := ln.Addr().(*net.TCPAddr); ok {
		o.addr = ta.AddrPort()
	} else {
		o.addr = ap
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(o.serve),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	rln := &recordingListener{Listener: ln, o: o}
	var serve func() error
	if cert != nil {
		srv.TLSConfig = &tls.Config{
			Certificates: []tls.Certificate{*cert},
			GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
				if rc, ok := hello.Conn.(*recordedConn); ok {
					o.mu.Lock()
					o.conns[rc.idx].SNI = hello.ServerName
					o.mu.Unlock()
				}
				return nil, nil
			},
		}
		serve = func() error { return srv.ServeTLS(rln, "", "") }
	} else {
		serve = func() error { return srv.Serve(rln) }
	}
	l.goroutine(func() {
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			l.t.Logf("netlab: origin %s: %v", o.addr, err)
		}
	})
	l.onClose(func() { srv.Close() })
	return o, nil
}

func (o *Origin) serve(w http.ResponseWriter, r *http.Request) {
	h := Hit{Time: time.Now(), Method: r.Method, Host: r.Host, Path: r.URL.Path, Query: r.URL.RawQuery, Proto: r.Proto, Header: r.Header.Clone()}
	h.Body, _ = io.ReadAll(io.LimitReader(r.Body, maxBody))
	h.Remote, _ = netip.ParseAddrPort(r.RemoteAddr)
	if r.TLS != nil {
		h.SNI = r.TLS.ServerName
	}
	o.mu.Lock()
	o.hits = append(o.hits, h)
	o.mu.Unlock()

	var body string
	if strings.HasSuffix(h.Path, "/echo") {
		// An echoing endpoint, as careless APIs have: every request header
		// comes back in the body.
		var hs []string
		for k, vs := range r.Header {
			hs = append(hs, k+": "+strings.Join(vs, ", "))
		}
		sort.Strings(hs)
		body = strings.Join(hs, "\n") + "\n"
	} else if o.tls {
		body = fmt.Sprintf("origin %s sni=%s host=%s path=%s\n", o.addr, h.SNI, h.Host, h.Path)
	} else {
		body = fmt.Sprintf("origin %s host=%s path=%s\n", o.addr, h.Host, h.Path)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("X-Netlab-Origin", o.addr.String())
	io.WriteString(w, body)
}

// Addr is the address the origin listens on.
func (o *Origin) Addr() netip.AddrPort { return o.addr }

// URL is "http://addr" or "https://addr".
func (o *Origin) URL() string {
	if o.tls {
		return "https://" + o.addr.String()
	}
	return "http://" + o.addr.String()
}

// Hits returns the requests received so far.
func (o *Origin) Hits() []Hit {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := append([]Hit(nil), o.hits...)
	for i := range out {
		out[i].Body = append([]byte(nil), out[i].Body...)
	}
	return out
}

// Count is the number of requests received so far.
func (o *Origin) Count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.hits)
}

// Conns returns the TCP connections accepted so far.
func (o *Origin) Conns() []Conn {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Conn(nil), o.conns...)
}

// recordingListener records each accepted connection in its Origin.
type recordingListener struct {
	net.Listener
	o *Origin
}

type recordedConn struct {
	net.Conn
	idx int
}

func (rl *recordingListener) Accept() (net.Conn, error) {
	c, err := rl.Listener.Accept()
	if err != nil {
		return nil, err
	}
	rec := Conn{Time: time.Now()}
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		rec.Remote = ta.AddrPort()
	}
	rl.o.mu.Lock()
	rl.o.conns = append(rl.o.conns, rec)
	idx := len(rl.o.conns) - 1
	rl.o.mu.Unlock()
	return &recordedConn{Conn: c, idx: idx}, nil
}
