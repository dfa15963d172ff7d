package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/compiler/hostpattern"
)

// outcome is one decision as the client and the event log see it.
type outcome struct {
	allowed bool   // the policy allowed the destination
	host    string // canonical host, or "" when the text was refused
	port    uint16
	rule    string // the deciding rule, as Rule.String(), or ""
	reason  string
	status  int  // HTTP status for the client when the connection fails: 403, 502
	socks   byte // SOCKS5 reply code likewise
}

// orAllow returns o, or the allow record of d when o is nil.
func (o *outcome) orAllow(d *dest) *outcome {
	if o != nil {
		return o
	}
	return &d.allow
}

// SOCKS5 reply codes (RFC 1928).
const (
	socksSucceeded      = 0x00
	socksFailure        = 0x01
	socksNotAllowed     = 0x02
	socksHostUnreach    = 0x04
	socksConnRefused    = 0x05
	socksCmdUnsupported = 0x07
	socksAddrUnsupport  = 0x08
)

func refused(host string, port uint16, rule, reason string) *outcome {
	return &outcome{host: host, port: port, rule: rule, reason: reason, status: 403, socks: socksNotAllowed}
}

// dest is a destination that passed every check: its canonical host and
// port, the addresses that may be dialled, in order, and its allow record.
type dest struct {
	host     hostpattern.Host
	port     uint16
	addrs    []netip.AddrPort
	allow    outcome
	hostLine []byte // "Host: name[:port]\r\n" as forwarded upstream
}

// check decides whether c's sandbox may reach hostText:port. hostText is
// canonicalised once here; every later step uses the canonical value. A
// destination the policy leaves to a person holds c until the answer
// (ask.go); op says how c asked.
func (p *Proxy) check(c *conn, op, hostText string, port uint16) (*dest, *outcome) {
	sb := c.cl.Sandbox
	h, err := hostpattern.Canonical(hostText)
	if err != nil {
		return nil, refused("", port, "", fmt.Sprintf("destination refused: %v", err))
	}
	name := h.String()
	if port == 0 {
		return nil, refused(name, port, "", "destination refused: port 0 is not a valid port")
	}
	if sb.Network == nil {
		return nil, refused(name, port, "", "the sandbox has no network policy; every destination is denied")
	}
	dec, err := sb.Network.Decide(name, port)
	if err != nil {
		return nil, refused(name, port, "", fmt.Sprintf("destination refused: %v", err))
	}
	rule := ""
	if dec.Rule != nil {
		rule = dec.Rule.String()
	}
	ruleText := ""
	if dec.Rule != nil {
		ruleText = dec.Rule.Text
	}
	d := &dest{host: h, port: port}
	d.allow = outcome{allowed: true, host: name, port: port, rule: rule,
		reason: fmt.Sprintf("%s:%d is allowed by %q", name, port, ruleText)}
	switch dec.Verdict {
	case bundle.VerdictAllow, bundle.VerdictRedirect:
	case bundle.VerdictAsk:
		ans, o := p.hold(c, op, h, port, rule)
		if o != nil {
			return nil, o
		}
		d.allow.rule, d.allow.reason = ans.Rule, fmt.Sprintf("%s:%d: %s", name, port, ans.Reason)
	default:
		return nil, refused(name, port, rule, dec.Reason)
	}

	var ips []netip.Addr
	if h.IsIP() {
		ips = []netip.Addr{h.IP}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.ResolveTimeout)
		ips, err = p.cfg.Resolver.LookupNetIP(ctx, "ip", name)
		cancel()
		if err != nil {
			o := d.allow
			o.status, o.socks = 502, socksHostUnreach
			o.reason = fmt.Sprintf("%s, but it does not resolve (%v)", o.reason, err)
			return nil, &o
		}
	}
	var first *outcome
	for _, ip := range ips {
		ip = ip.Unmap()
		if !ip.IsValid() || ip.Zone() != "" {
			continue
		}
		if o := p.checkAddr(sb, h, ip, port); o != nil {
			if first == nil {
				first = o
			}
			continue
		}
		d.addrs = append(d.addrs, netip.AddrPortFrom(ip, port))
	}
	if len(d.addrs) == 0 {
		if first == nil {
			first = refused(name, port, rule, fmt.Sprintf("%s has no usable address", name))
		}
		return nil, first
	}
	return d, nil
}

// checkAddr checks one address a destination resolves to (or is). A deny
// rule covering the address refuses it; a guarded or local address is
// refused unless an allow rule names it by address or prefix.
func (p *Proxy) checkAddr(sb *Sandbox, h hostpattern.Host, ip netip.Addr, port uint16) *outcome {
	name := h.String()
	subject := name + " resolves to " + ip.String()
	if h.IsIP() {
		subject = name + " is"
	}
	dec, err := sb.Network.Decide(ip.String(), port)
	if err != nil {
		return refused(name, port, "", fmt.Sprintf("%s, which cannot be decided: %v", subject, err))
	}
	if dec.Verdict == bundle.VerdictDeny && dec.Rule != nil {
		return refused(name, port, dec.Rule.String(), fmt.Sprintf("%s, which is denied by %q", subject, dec.Rule.Text))
	}
	named := (dec.Verdict == bundle.VerdictAllow || dec.Verdict == bundle.VerdictRedirect) && dec.Rule != nil
	if named {
		return nil
	}
	if why := bundle.Guarded(ip); why != "" {
		return refused(name, port, "", fmt.Sprintf("%s, %s %s address; no rule allows it", subject, article(why), why))
	}
	if p.locals.contains(ip) {
		return refused(name, port, "", fmt.Sprintf("%s, an address of this host; no rule allows it", subject))
	}
	return nil
}

func article(s string) string {
	if s != "" && (s[0] == 'a' || s[0] == 'e' || s[0] == 'i' || s[0] == 'o' || s[0] == 'u') {
		return "an"
	}
	return "a"
}

// hostLine returns the Host field forwarded upstream for d: the canonical
// name, with the port unless it is 80.
func (d *dest) hostField() []byte {
	if d.hostLine == nil {
		b := []byte("Host: ")
		if d.host.IsIP() && d.host.IP.Is6() {
			b = append(b, '[')
			b = d.host.IP.AppendTo(b)
			b = append(b, ']')
		} else {
			b = append(b, d.host.String()...)
		}
		if d.port != 80 {
			b = append(b, ':')
			b = strconv.AppendUint(b, uint64(d.port), 10)
		}
		d.hostLine = append(b, "\r\n"...)
	}
	return d.hostLine
}

// upstream is a connection to a checked address.
type upstream struct {
	c    net.Conn
	addr netip.AddrPort
	br   *bufio.Reader
	bw   *bufio.Writer
}

func (u *upstream) reader() *bufio.Reader {
	if u.br == nil {
		u.br = getReader(u.c, upstreamReaderSize)
	}
	return u.br
}

func (u *upstream) writer() *bufio.Writer {
	if u.bw == nil {
		u.bw = getWriter(u.c)
	}
	return u.bw
}

// release returns the buffers; the connection stays open.
func (u *upstream) release() {
	if u.br != nil {
		putReader(u.br, upstreamReaderSize)
		u.br = nil
	}
	if u.bw != nil {
		putWriter(u.bw)
		u.bw = nil
	}
}

func (u *upstream) close() {
	u.c.Close()
	u.release()
}

// dial connects to the first of d's checked addresses that answers. It
// never dials a name.
func (p *Proxy) dial(d *dest) (*upstream, *outcome) {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.DialTimeout)
	defer cancel()
	var lastErr error
	for i, a := range d.addrs {
		actx, acancel := ctx, context.CancelFunc(func() {})
		if i < len(d.addrs)-1 {
			actx, acancel = context.WithTimeout(ctx, p.cfg.DialAttemptTimeout)
		}
		c, err := p.cfg.Dial(actx, "tcp", a)
		acancel()
		if err == nil {
			return &upstream{c: c, addr: a}, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	o := d.allow
	o.status, o.socks = 502, socksHostUnreach
	if errors.Is(lastErr, syscall.ECONNREFUSED) {
		o.socks = socksConnRefused
	}
	o.reason = fmt.Sprintf("%s, but no checked address answered (%v)", o.reason, lastErr)
	return nil, &o
}

// localAddrs caches this host's addresses.
type localAddrs struct {
	get   func() []netip.Addr
	mu    sync.Mutex
	at    time.Time
	addrs []netip.Addr
}

const localAddrsTTL = 5 * time.Second

func (l *localAddrs) contains(ip netip.Addr) bool {
	var addrs []netip.Addr
	if l.get != nil {
		addrs = l.get()
	} else {
		l.mu.Lock()
		if l.addrs == nil || time.Since(l.at) > localAddrsTTL {
			l.addrs = interfaceAddrs()
			l.at = time.Now()
		}
		addrs = l.addrs
		l.mu.Unlock()
	}
	for _, a := range addrs {
		if a.Unmap().WithZone("") == ip {
			return true
		}
	}
	return false
}

func interfaceAddrs() []netip.Addr {
	out := []netip.Addr{}
	as, err := net.InterfaceAddrs()
	if err != nil {
		return out
	}
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}
