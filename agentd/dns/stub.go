// Package dns is the DNS stub that every sandbox's port-53 traffic (UDP and
// TCP, to any address) is redirected to (DESIGN D3, D4).
//
// The stub answers only names the sandbox's policy allows, and it resolves
// those itself: a name no rule allows never leaves the host, in any
// spelling, so DNS cannot carry data out ("secret-data.evil.test" is
// answered NXDOMAIN here and no upstream server ever sees it). Answers are
// checked before they go back: addresses of this host, of the link and of
// cloud metadata services are dropped unless the policy names them by
// address (DNS rebinding).
//
// Replies, by case:
//
//	not a DNS query (short header, QR=1)    no reply
//	unparseable, zero or several questions  FORMERR
//	opcode other than QUERY                 NOTIMP
//	class other than IN                     REFUSED
//	name that is not a canonical host name  REFUSED (control bytes, '%', '@',
//	                                        '\', non-ASCII, an odd spelling)
//	PTR (reverse lookup)                    NXDOMAIN, never forwarded
//	name no rule allows, or an IP literal   NXDOMAIN, never forwarded
//	allowed name, A or AAAA                 resolved upstream; CNAME chain
//	                                        plus addresses, TTLs at most 60 s
//	allowed loopback name (localhost)       127.0.0.1 or ::1, never forwarded
//	allowed name, AXFR or IXFR              REFUSED
//	allowed name, any other type            NOERROR without records (NODATA)
//	upstream failure, CNAME loop or a       SERVFAIL
//	chain longer than 8
//
// NXDOMAIN says "no such name" to the workload, which is what a denied name
// must look like to it; REFUSED marks input the stub will not even judge.
//
// Every query that reaches the stub becomes one event (layer "dns").
package dns

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/paddock-sh/paddock/agentd/events"
	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/compiler/hostpattern"
)

const (
	// minUDPReply and maxUDPReply bound a UDP reply: 512 bytes without
	// EDNS(0), the client's advertised size with it, never above 1232 (no
	// fragmentation on any common path).
	minUDPReply = 512
	maxUDPReply = 1232
	// maxTCPReply is the most a length-prefixed message can hold.
	maxTCPReply = 65535

	// maxTTL caps every TTL the stub hands out or caches, so a policy
	// change or a rebinding attempt ages out quickly.
	maxTTL = 60
	// maxChain bounds the CNAME chain followed for one question.
	maxChain = 8
	// maxAddrs bounds the address records kept from one answer.
	maxAddrs = 32
	// maxInFlight bounds the upstream exchanges in flight per stub.
	maxInFlight = 64
	// maxHandlers bounds the queries being answered per UDP socket; the
	// reader stops reading while they are all busy.
	maxHandlers = 64
	// cacheEntries bounds the positive-answer cache.
	cacheEntries = 4096

	defaultTimeout = 2 * time.Second
	// budgetFactor times the per-query timeout bounds the whole
	// resolution of one question (every upstream, every CNAME hop).
	budgetFactor = 4
)

// Sandbox is what the stub needs to know about the sandbox a query came
// from.
type Sandbox struct {
	ID      string
	Network *bundle.Network
}

// Config configures a Stub.
type Config struct {
	// Upstream lists the recursive servers allowed names are resolved
	// against, tried in order. Empty: the nameservers of /etc/resolv.conf.
	Upstream []netip.AddrPort
	// Events receives one event per query; nil discards them.
	Events events.Sink
	// Logger receives diagnostics (upstream failures); nil discards them.
	Logger *slog.Logger
	// Timeout bounds one upstream exchange; zero means 2 s.
	Timeout time.Duration
}

// Stub answers the DNS queries of sandboxes. It is safe for concurrent use
// by any number of sockets and sandboxes.
type Stub struct {
	upstream []netip.AddrPort
	events   events.Sink
	log      *slog.Logger
	timeout  time.Duration
	inFlight chan struct{}
	cache    *cache
	// roundTrip sends one query to one server and returns a reply whose ID
	// matches; tests replace it.
	roundTrip func(ctx context.Context, server netip.AddrPort, query []byte, tcp bool) ([]byte, error)
}

// New returns a stub. It fails when no upstream server is configured and
// /etc/resolv.conf names none.
func New(cfg Config) (*Stub, error) {
	s := &Stub{
		upstream:  append([]netip.AddrPort(nil), cfg.Upstream...),
		events:    cfg.Events,
		log:       cfg.Logger,
		timeout:   cfg.Timeout,
		inFlight:  make(chan struct{}, maxInFlight),
		cache:     newCache(cacheEntries),
		roundTrip: netRoundTrip,
	}
	if len(s.upstream) == 0 {
		servers, err := readResolvConf(resolvConfPath)
		if err != nil {
			return nil, fmt.Errorf("dns: no upstream configured and %w", err)
		}
		if len(servers) == 0 {
			return nil, fmt.Errorf("dns: no upstream configured and %s names no nameserver", resolvConfPath)
		}
		s.upstream = servers
	}
	for _, u := range s.upstream {
		if !u.IsValid() || u.Port() == 0 {
			return nil, fmt.Errorf("dns: upstream %v is not an address and port", u)
		}
	}
	if s.events == nil {
		s.events = events.Discard
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.timeout <= 0 {
		s.timeout = defaultTimeout
	}
	return s, nil
}

// Answer builds the reply to one query message from sb as if it had come
// over UDP (with no client address in the event), or returns nil when the
// message deserves no reply. Apart from upstream queries for allowed names
// and the cache, it has no effects but the event it emits.
func (s *Stub) Answer(ctx context.Context, sb *Sandbox, query []byte) []byte {
	return s.answer(ctx, sb, query, origin{proto: "udp"})
}

// origin is where a query came from.
type origin struct {
	proto  string // "udp" or "tcp"
	client netip.AddrPort
}

// outcome is one decision: the reply and what the event says about it.
type outcome struct {
	reply
	action string
	rule   *bundle.Rule
	reason string
	host   string // canonical name, or a quoted prefix of a rejected one
	drop   bool   // send nothing
}

func (s *Stub) answer(ctx context.Context, sb *Sandbox, msg []byte, o origin) []byte {
	q, out := parseQuery(msg)
	if out == nil {
		out = s.decide(ctx, sb, &q)
	}
	ev := events.Event{
		Time:   time.Now(),
		Layer:  events.LayerDNS,
		Action: out.action,
		Reason: out.reason,
		Net:    &events.Net{Op: "dns", Proto: o.proto, Client: o.client, Host: out.host},
	}
	if sb != nil {
		ev.Sandbox = sb.ID
	}
	if out.rule != nil {
		ev.Rule = out.rule.String()
	}
	if q.hasQuestion {
		ev.Net.Query = typeName(q.question.Type)
	}
	s.events.Emit(ev)
	if out.drop {
		return nil
	}
	limit := maxTCPReply
	if o.proto != "tcp" {
		limit = q.udpLimit()
	}
	return q.pack(&out.reply, limit)
}

// decide answers a well-formed query: one question, opcode QUERY.
func (s *Stub) decide(ctx context.Context, sb *Sandbox, q *query) *outcome {
	raw := q.question.Name.String()
	if q.question.Class != dnsmessage.ClassINET {
		return refuse(quoteName(raw), fmt.Sprintf("class %d is not served; only IN", q.question.Class))
	}
	host, err := hostpattern.Canonical(raw)
	if err != nil {
		return refuse(quoteName(raw), fmt.Sprintf("the question is not a host name: %v", err))
	}
	if !host.IsIP() && host.Name+"." != lowerASCII(raw) {
		// The stub resolves exactly the name it was asked, so it must
		// already be in canonical form (ASCII, punycode for IDNs).
		return refuse(quoteName(raw), fmt.Sprintf("%s is not written in canonical form (%s); only canonical ASCII names are resolved", quoteName(raw), host))
	}
	name := host.String()
	if q.question.Type == dnsmessage.TypePTR {
		return &outcome{reply: reply{rcode: dnsmessage.RCodeNameError}, action: events.ActionDeny, host: name,
			reason: fmt.Sprintf("reverse lookup of %s answered NXDOMAIN; PTR queries are never forwarded", name)}
	}
	if sb == nil || sb.Network == nil {
		return &outcome{reply: reply{rcode: dnsmessage.RCodeNameError}, action: events.ActionDeny, host: name,
			reason: fmt.Sprintf("the sandbox has no network policy; %s answered NXDOMAIN", name)}
	}
	d, err := sb.Network.DecideName(name)
	if err != nil {
		return refuse(quoteName(raw), fmt.Sprintf("the question is not a host name: %v", err))
	}
	if d.Verdict != bundle.VerdictAllow {
		return &outcome{reply: reply{rcode: dnsmessage.RCodeNameError}, action: events.ActionDeny, rule: d.Rule, host: name,
			reason: d.Reason + "; answered NXDOMAIN and not forwarded"}
	}
	out := &outcome{action: events.ActionAllow, rule: d.Rule, host: name}
	typ := q.question.Type
	switch typ {
	case dnsmessage.TypeA, dnsmessage.TypeAAAA:
	case typeAXFR, typeIXFR:
		out.rcode = dnsmessage.RCodeRefused
		out.reason = fmt.Sprintf("%s; zone transfers (%s) are not served", d.Reason, typeName(typ))
		return out
	default:
		out.reason = fmt.Sprintf("%s; only A and AAAA records are served, so %s is answered with no records", d.Reason, typeName(typ))
		return out
	}
	if host.IsLoopback() {
		// RFC 6761: loopback names are answered locally, never forwarded.
		a := netip.IPv6Loopback()
		if typ == dnsmessage.TypeA {
			a = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
		out.addrs, out.ttl = []netip.Addr{a}, maxTTL
		out.reason = fmt.Sprintf("%s; a loopback name, answered locally with %s", d.Reason, a)
		return out
	}

	ctx, cancel := context.WithTimeout(ctx, budgetFactor*s.timeout)
	defer cancel()
	res, err := s.resolve(ctx, name+".", typ)
	if err != nil {
		s.log.Debug("dns: resolution failed", "name", name, "type", typeName(typ), "err", err)
		out.rcode = dnsmessage.RCodeServerFailure
		out.reason = fmt.Sprintf("%s; resolution failed (%v), answered SERVFAIL", d.Reason, err)
		return out
	}
	out.rcode, out.targets, out.ttl = res.rcode, res.targets, res.ttl
	var dropped []string
	for _, a := range res.addrs {
		if why := bundle.Guarded(a); why != "" && !addrAllowed(sb.Network, a) {
			dropped = append(dropped, fmt.Sprintf("%s (%s)", a, why))
			continue
		}
		out.addrs = append(out.addrs, a)
	}
	switch {
	case res.rcode == dnsmessage.RCodeNameError:
		out.reason = fmt.Sprintf("%s; the name does not exist upstream (NXDOMAIN)", d.Reason)
	case len(dropped) > 0 && len(out.addrs) == 0:
		out.action = events.ActionDeny
		out.reason = fmt.Sprintf("%s, but every address it resolves to was dropped: %s is not allowed by address (DNS rebinding)", d.Reason, strings.Join(dropped, ", "))
	case len(dropped) > 0:
		out.reason = fmt.Sprintf("%s; answered %s, dropped %s: not allowed by address (DNS rebinding)", d.Reason, joinAddrs(out.addrs), strings.Join(dropped, ", "))
	case len(out.addrs) == 0:
		out.reason = fmt.Sprintf("%s; it has no %s records", d.Reason, typeName(typ))
	default:
		out.reason = fmt.Sprintf("%s; answered %s", d.Reason, joinAddrs(out.addrs))
	}
	return out
}

func refuse(host, reason string) *outcome {
	return &outcome{reply: reply{rcode: dnsmessage.RCodeRefused}, action: events.ActionDeny, host: host, reason: reason + "; answered REFUSED"}
}

// addrAllowed reports whether an allow rule names a by address or prefix
// and no rule denies it on every port.
func addrAllowed(n *bundle.Network, a netip.Addr) bool {
	h := hostpattern.Host{IP: a.Unmap().WithZone("")}
	for _, d := range n.Deny {
		p, err := hostpattern.ParsePattern(d.Pattern)
		if err == nil && p.Ports == hostpattern.AnyPort && p.MatchHost(h) {
			return false
		}
	}
	for _, r := range n.Allow {
		p, err := hostpattern.ParsePattern(r.Pattern)
		if err == nil && (p.Kind == hostpattern.Addr || p.Kind == hostpattern.Prefix) && p.MatchHost(h) {
			return true
		}
	}
	return false
}

func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// quoteName quotes the start of a name the stub rejected, with every byte
// outside printable ASCII escaped, for events and messages.
func quoteName(raw string) string {
	const max = 40
	if len(raw) > max {
		return strconv.QuoteToASCII(raw[:max]) + "..."
	}
	return strconv.QuoteToASCII(raw)
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Query types dnsmessage has no names for.
const (
	typeIXFR dnsmessage.Type = 251
	typeAXFR dnsmessage.Type = 252
	typeANY  dnsmessage.Type = 255
)

var typeNames = map[dnsmessage.Type]string{
	dnsmessage.TypeA: "A", dnsmessage.TypeNS: "NS", dnsmessage.TypeCNAME: "CNAME",
	dnsmessage.TypeSOA: "SOA", dnsmessage.TypePTR: "PTR", dnsmessage.TypeMX: "MX",
	dnsmessage.TypeTXT: "TXT", dnsmessage.TypeAAAA: "AAAA", dnsmessage.TypeSRV: "SRV",
	dnsmessage.TypeOPT: "OPT", dnsmessage.TypeSVCB: "SVCB", dnsmessage.TypeHTTPS: "HTTPS",
	typeIXFR: "IXFR", typeAXFR: "AXFR", typeANY: "ANY",
}

// typeName is the mnemonic of a query type, or TYPEn (RFC 3597).
func typeName(t dnsmessage.Type) string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return "TYPE" + strconv.Itoa(int(t))
}
