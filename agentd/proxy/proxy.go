// Package proxy is the egress proxy every allowed connection of a sandbox
// goes through (decision D4 of DESIGN.md).
//
// A connection arrives either on purpose (explicit mode: the workload uses
// HTTP CONNECT, absolute-form HTTP or SOCKS5 through the standard proxy
// variables) or redirected by a cgroup hook (transparent mode: the name is
// read from the TLS ClientHello or the HTTP Host header). Either way the
// name is canonicalised once; that value is matched against the sandbox's
// network policy, logged, resolved and dialled. Every address a name
// resolves to is checked again (loopback, link-local, metadata and this
// host's own addresses need a rule naming them), and the proxy dials an
// address it checked, never the name. Every HTTP request on a kept-alive
// connection is checked, and every decision becomes an events.Event.
package proxy

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paddock-sh/paddock/agentd/credential"
	"github.com/paddock-sh/paddock/agentd/events"
	"github.com/paddock-sh/paddock/compiler/bundle"
)

// Sandbox is what the proxy knows of a sandbox: its id for events and its
// network policy.
type Sandbox struct {
	ID      string
	Network *bundle.Network
	// Credentials are the secrets the proxy injects for this sandbox; the
	// hosts they are bound to are terminated (nil: none, every host is
	// tunnelled).
	Credentials *credential.Set
	// Reverse maps a loopback port to the credential whose plain-HTTP
	// reverse listener it is: transparent connections to 127.0.0.1 or ::1
	// on that port are forwarded over TLS to the credential's host.
	Reverse map[uint16]*credential.Binding
}

// Client is who is calling, as the kernel (or the listener) says.
type Client struct {
	Sandbox *Sandbox
	// Orig is the destination the workload connected to before a cgroup
	// hook redirected it here (transparent mode). The zero value means the
	// client connected to the proxy on purpose (explicit mode).
	Orig netip.AddrPort
	// PID is the process that made the connection, when the kernel said
	// (0: unknown); it is shown to whoever answers an approval request.
	PID uint32
}

// Resolver looks up the addresses of a canonical name. *net.Resolver fits.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Config configures a Proxy. Identify is required; everything else has a
// default.
type Config struct {
	// Identify tells who is on the other end of an accepted connection. An
	// error refuses the connection: a connection that matches no sandbox
	// is closed, so the proxy is never an open proxy.
	Identify func(c net.Conn) (Client, error)
	// Resolver resolves names (default net.DefaultResolver).
	Resolver Resolver
	// LocalAddrs lists this host's own addresses (default: the interface
	// addresses, cached for a few seconds).
	LocalAddrs func() []netip.Addr
	// Dial connects to a checked address (default: a net.Dialer).
	Dial func(ctx context.Context, network string, addr netip.AddrPort) (net.Conn, error)
	// DNS, when set, serves transparent connections whose original port
	// is 53 (DNS over TCP). It runs on the connection's goroutine; the
	// connection is closed when it returns. Without it they are refused.
	DNS func(c net.Conn, cl Client)
	// CA signs the certificates the proxy shows a sandbox for the hosts its
	// credentials are bound to. Without it nothing is terminated, and a
	// placeholder reaches a bound host as it is.
	CA *credential.CA
	// UpstreamRoots verifies the servers of terminated connections (nil:
	// the system's roots).
	UpstreamRoots *x509.CertPool
	// Ask, when set, decides destinations the policy leaves to a person
	// (on_unknown = "ask"): the connection is held until it returns or the
	// policy's timeout passes (ask.go). It must return once ctx is done
	// (the timeout, or every held connection gone). Without it those
	// destinations are refused.
	Ask func(ctx context.Context, req AskRequest) (Answer, error)
	// MaxAsks bounds the requests one sandbox may have waiting for an
	// answer at once (default DefaultMaxAsks).
	MaxAsks int
	// MaxConns bounds the connections one sandbox may hold open through
	// the proxy at once (default DefaultMaxConns). Each costs agentd a
	// descriptor or two; unbounded, one sandbox could spend them all and
	// leave every other sandbox, the DNS stub and the event log without.
	// A connection beyond it is closed unread, with a deny event.
	MaxConns int
	// Events receives every decision (default events.Discard).
	Events events.Sink
	// Logger receives diagnostics; never header values or bodies (default
	// slog.Default()).
	Logger *slog.Logger

	// HeaderTimeout bounds the time from a request's first byte to the end
	// of its head, and likewise a SOCKS5 handshake and a ClientHello
	// (default 10s). A client sending a byte a second cannot hold a head
	// open longer than this.
	HeaderTimeout time.Duration
	// IdleTimeout bounds the wait for the first byte of a connection and
	// of each further request on a kept-alive connection (default 2m).
	IdleTimeout time.Duration
	// SniffTimeout is how long a transparent connection may stay silent
	// before it is decided on its original address alone, for protocols
	// where the server speaks first (default 300ms).
	SniffTimeout time.Duration
	// ResolveTimeout bounds a name lookup (default 5s).
	ResolveTimeout time.Duration
	// DialTimeout bounds connecting upstream over all addresses (default
	// 10s); each address but the last gets at most DialAttemptTimeout
	// (default 2s).
	DialTimeout        time.Duration
	DialAttemptTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for an upstream response head
	// (default 5m).
	ResponseHeaderTimeout time.Duration
}

// Proxy is the egress proxy. Create it with New.
type Proxy struct {
	cfg    Config
	log    *slog.Logger
	sink   events.Sink
	locals localAddrs
	asks   asks

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	open      map[string]int // identified connections per sandbox id
	closing   bool
	// closingFlag mirrors closing for the per-request check.
	closingFlag atomic.Bool
	done        chan struct{} // closed when the last connection ends during shutdown
}

// DefaultMaxConns is Config.MaxConns's default: far above what a coding
// agent or a parallel package install holds open, far below agentd's
// descriptor limit.
const DefaultMaxConns = 1024

// ErrClosed is returned by Serve after Shutdown.
var ErrClosed = errors.New("proxy: shut down")

// New checks cfg and fills in its defaults.
func New(cfg Config) (*Proxy, error) {
	if cfg.Identify == nil {
		return nil, errors.New("proxy: Config.Identify is required")
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.Dial == nil {
		d := &net.Dialer{KeepAlive: 30 * time.Second}
		cfg.Dial = func(ctx context.Context, network string, addr netip.AddrPort) (net.Conn, error) {
			return d.DialContext(ctx, network, addr.String())
		}
	}
	if cfg.Events == nil {
		cfg.Events = events.Discard
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxAsks <= 0 {
		cfg.MaxAsks = DefaultMaxAsks
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.HeaderTimeout, 10*time.Second)
	def(&cfg.IdleTimeout, 2*time.Minute)
	def(&cfg.SniffTimeout, 300*time.Millisecond)
	def(&cfg.ResolveTimeout, 5*time.Second)
	def(&cfg.DialTimeout, 10*time.Second)
	def(&cfg.DialAttemptTimeout, 2*time.Second)
	def(&cfg.ResponseHeaderTimeout, 5*time.Minute)
	p := &Proxy{
		cfg:       cfg,
		log:       cfg.Logger,
		sink:      cfg.Events,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
		open:      make(map[string]int),
	}
	p.locals.get = cfg.LocalAddrs
	return p, nil
}

// Serve accepts connections on l until l is closed or Shutdown is called.
// It returns nil when l was closed, ErrClosed after Shutdown, and an error
// only if Accept fails in a way that does not go away.
func (p *Proxy) Serve(l net.Listener) error {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return ErrClosed
	}
	p.listeners[l] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.listeners, l)
		p.mu.Unlock()
	}()

	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if p.isClosing() {
				return ErrClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of descriptors and the like: wait and try again rather
			// than take the whole proxy down.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			p.log.Warn("proxy: accept failed", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		cc := &conn{p: p, c: c}
		if !p.track(cc) {
			c.Close()
			return ErrClosed
		}
		go cc.serve()
	}
}

// Shutdown stops every Serve, closes idle connections at once and waits
// for the others to end. When ctx ends first, it closes them all and
// returns ctx.Err().
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.closing = true
	p.closingFlag.Store(true)
	for l := range p.listeners {
		l.Close()
	}
	if p.done == nil {
		p.done = make(chan struct{})
		if len(p.conns) == 0 {
			close(p.done)
		}
	}
	for c := range p.conns {
		if c.idle.Load() {
			c.c.Close()
		}
	}
	done := p.done
	p.mu.Unlock()

	select {
	case <-done:
		return nil
	case <-ctx.Done():
		p.mu.Lock()
		for c := range p.conns {
			c.c.Close()
		}
		p.mu.Unlock()
		return ctx.Err()
	}
}

func (p *Proxy) isClosing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closing
}

func (p *Proxy) track(c *conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
	if p.closing && len(p.conns) == 0 && p.done != nil {
		select {
		case <-p.done:
		default:
			close(p.done)
		}
	}
}

// admit counts a connection of sandbox id, unless it already holds
// MaxConns.
func (p *Proxy) admit(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open[id] >= p.cfg.MaxConns {
		return false
	}
	p.open[id]++
	return true
}

// dismiss uncounts a connection admit counted.
func (p *Proxy) dismiss(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open[id]--; p.open[id] <= 0 {
		delete(p.open, id)
	}
}

// conn is one accepted client connection.
type conn struct {
	p      *Proxy
	c      net.Conn
	cl     Client
	client netip.AddrPort // the client's address, for events
	br     *bufio.Reader
	bw     *bufio.Writer
	idle   atomic.Bool // waiting between requests; Shutdown may close it
}

func (c *conn) serve() {
	defer c.p.untrack(c)
	defer c.c.Close()
	defer c.p.recover("connection")
	defer c.release()
	c.client = addrPortOf(c.c.RemoteAddr())

	cl, err := c.p.cfg.Identify(c.c)
	if err == nil && cl.Sandbox == nil {
		err = errors.New("no sandbox")
	}
	if err != nil {
		c.p.emit(events.Event{
			Action: events.ActionDeny,
			Reason: fmt.Sprintf("connection from %s matches no sandbox (%v); closed", c.client, err),
			Net:    &events.Net{Op: "tcp", Proto: "tcp", Client: c.client},
		})
		return
	}
	if !c.p.admit(cl.Sandbox.ID) {
		c.p.emit(events.Event{
			Sandbox: cl.Sandbox.ID,
			Action:  events.ActionDeny,
			Reason:  fmt.Sprintf("the sandbox already holds %d connections through the proxy, its limit; closed unread", c.p.cfg.MaxConns),
			Net:     &events.Net{Op: "tcp", Proto: "tcp", Client: c.client, Orig: cl.Orig},
		})
		return
	}
	defer c.p.dismiss(cl.Sandbox.ID)
	c.cl = cl
	c.br = getReader(c.c, clientReaderSize)
	if c.cl.Orig.IsValid() {
		c.transparent()
		return
	}
	c.explicit()
}

// release returns the buffers to their pools.
func (c *conn) release() {
	if c.br != nil {
		putReader(c.br, clientReaderSize)
		c.br = nil
	}
	if c.bw != nil {
		putWriter(c.bw)
		c.bw = nil
	}
}

func (c *conn) writer() *bufio.Writer {
	if c.bw == nil {
		c.bw = getWriter(c.c)
	}
	return c.bw
}

// explicit serves a client that connected to the proxy on purpose: SOCKS5
// when its first byte is 5, HTTP otherwise.
func (c *conn) explicit() {
	c.c.SetReadDeadline(time.Now().Add(c.p.cfg.IdleTimeout))
	b, err := c.br.Peek(1)
	if err != nil {
		return
	}
	c.c.SetReadDeadline(time.Now().Add(c.p.cfg.HeaderTimeout))
	if b[0] == socksVersion {
		c.socks()
		return
	}
	h := newHTTPConn(c, false, 0)
	defer h.close()
	h.serve(true)
}

// transparent serves a connection a cgroup hook redirected here.
func (c *conn) transparent() {
	cfg := &c.p.cfg
	port := c.cl.Orig.Port()
	if port == 53 {
		if cfg.DNS != nil {
			c.release()
			cfg.DNS(c.c, c.cl)
			return
		}
		c.emitDecision("tcp", nil, refused(c.cl.Orig.Addr().String(), port, "",
			"DNS over TCP goes only to the DNS stub, which is not running; denied"))
		return
	}
	if b := c.cl.Sandbox.Reverse[port]; b != nil && c.cl.Orig.Addr().IsLoopback() {
		c.reverse(b)
		return
	}
	switch c.sniff() {
	case sniffTLS:
		c.transparentTLS()
	case sniffHTTP:
		h := newHTTPConn(c, true, port)
		defer h.close()
		h.serve(true)
	case sniffSilent, sniffOther:
		// A protocol the proxy cannot read, or one whose server speaks
		// first: decided on the original address alone.
		c.tunnelToOrig("tcp", nil)
	}
}

// transparentTLS decides a redirected TLS connection on its SNI, or on the
// original address when the ClientHello names no server.
func (c *conn) transparentTLS() {
	raw, msg, err := readClientHello(c.br)
	if err == errNotTLS {
		c.tunnelToOrig("tcp", nil)
		return
	}
	if err != nil {
		c.emitDecision("tls", nil, refused(c.cl.Orig.Addr().String(), c.cl.Orig.Port(), "",
			fmt.Sprintf("unreadable TLS ClientHello (%v); closed", err)))
		return
	}
	host, ok, err := parseClientHello(msg)
	if err != nil {
		c.emitDecision("tls", nil, refused("", c.cl.Orig.Port(), "",
			fmt.Sprintf("refused TLS ClientHello: %v; closed", err)))
		return
	}
	if !ok {
		c.tunnelToOrig("tls", raw)
		return
	}
	d, dn := c.check("tls", host.String(), c.cl.Orig.Port())
	if dn != nil {
		c.emitDecision("tls", nil, dn)
		return
	}
	up, dn := c.p.dial(d)
	c.emitDecision("tls", up, dn.orAllow(d))
	if up == nil {
		return
	}
	if c.terminates(d) {
		c.terminate(up, d, raw)
		return
	}
	c.tunnel(up, raw)
}

// terminates reports whether TLS to d is terminated to inject a
// credential.
func (c *conn) terminates(d *dest) bool {
	return c.p.cfg.CA != nil && c.cl.Sandbox.Credentials.Bound(d.allow.host)
}

// tunnelToOrig decides on the original destination address alone and
// tunnels to it.
func (c *conn) tunnelToOrig(op string, pre []byte) {
	d, dn := c.check(op, c.cl.Orig.Addr().String(), c.cl.Orig.Port())
	if dn != nil {
		c.emitDecision(op, nil, dn)
		return
	}
	up, dn := c.p.dial(d)
	c.emitDecision(op, up, dn.orAllow(d))
	if up == nil {
		return
	}
	c.tunnel(up, pre)
}

// emitDecision records one decision about this connection; up, when set,
// is the connection the decision led to.
func (c *conn) emitDecision(op string, up *upstream, dn *outcome) {
	e := events.Event{
		Sandbox: c.cl.Sandbox.ID,
		Action:  events.ActionDeny,
		Rule:    dn.rule,
		Reason:  dn.reason,
		Net: &events.Net{
			Op: op, Proto: "tcp", Client: c.client, Orig: c.cl.Orig,
			Host: dn.host, Port: dn.port,
		},
	}
	if dn.allowed {
		e.Action = events.ActionAllow
	}
	if up != nil {
		e.Net.Dialled = up.addr
	}
	c.p.emit(e)
}

// recover keeps a bug triggered by one connection from taking down the
// proxy and every other sandbox's connections with it; the connection is
// closed and the panic logged.
func (p *Proxy) recover(where string) {
	if r := recover(); r != nil {
		p.log.Error("proxy: panic serving a "+where, "panic", r, "stack", string(debug.Stack()))
	}
}

func (p *Proxy) emit(e events.Event) {
	e.Time = time.Now()
	e.Layer = events.LayerProxy
	p.sink.Emit(e)
}

func addrPortOf(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.TCPAddr:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	case nil:
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Buffer pools.
const (
	clientReaderSize   = 8 << 10
	upstreamReaderSize = 32 << 10
	writerSize         = 8 << 10
)

var (
	clientReaders   = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, clientReaderSize) }}
	upstreamReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, upstreamReaderSize) }}
	writers         = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writerSize) }}
)

func getReader(c net.Conn, size int) *bufio.Reader {
	pool := &clientReaders
	if size == upstreamReaderSize {
		pool = &upstreamReaders
	}
	br := pool.Get().(*bufio.Reader)
	br.Reset(c)
	return br
}

func putReader(br *bufio.Reader, size int) {
	br.Reset(nil)
	if size == upstreamReaderSize {
		upstreamReaders.Put(br)
	} else {
		clientReaders.Put(br)
	}
}

func getWriter(c net.Conn) *bufio.Writer {
	bw := writers.Get().(*bufio.Writer)
	bw.Reset(c)
	return bw
}

func putWriter(bw *bufio.Writer) {
	bw.Reset(nil)
	writers.Put(bw)
}
