package hostpattern

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// Kind says what a Pattern's host part names.
type Kind int

const (
	// Exact matches one DNS name.
	Exact Kind = iota + 1
	// Wildcard matches the strict subdomains of Domain, never Domain itself.
	Wildcard
	// Addr matches one IP address (Prefix is a /32 or /128).
	Addr
	// Prefix matches the IP addresses in a CIDR prefix.
	Prefix
)

func (k Kind) String() string {
	switch k {
	case Exact:
		return "exact"
	case Wildcard:
		return "wildcard"
	case Addr:
		return "addr"
	case Prefix:
		return "prefix"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// PortSet is the set of ports a Pattern covers. The zero value contains no
// port, so a Pattern built by hand without ports matches nothing.
type PortSet struct {
	kind portKind
	port uint16
}

type portKind uint8

const (
	portsNone portKind = iota
	portsDefault
	portsOne
	portsAny
)

var (
	// DefaultPorts is 80 and 443, for entries that name no port.
	DefaultPorts = PortSet{kind: portsDefault}
	// AnyPort is every port from 1 to 65535, written "host:*".
	AnyPort = PortSet{kind: portsAny}
)

// OnePort is the set holding only port.
func OnePort(port uint16) PortSet { return PortSet{kind: portsOne, port: port} }

// Contains reports whether port is in the set. Port 0 is in no set: it is
// "absent", and the caller must decide the real port (80, 443) first.
func (p PortSet) Contains(port uint16) bool {
	if port == 0 {
		return false
	}
	switch p.kind {
	case portsDefault:
		return port == 80 || port == 443
	case portsOne:
		return port == p.port
	case portsAny:
		return true
	}
	return false
}

// Single returns the port of a one-port set.
func (p PortSet) Single() (uint16, bool) { return p.port, p.kind == portsOne }

// String returns "80,443", the single port, "*", or "none".
func (p PortSet) String() string {
	switch p.kind {
	case portsDefault:
		return "80,443"
	case portsOne:
		return strconv.Itoa(int(p.port))
	case portsAny:
		return "*"
	}
	return "none"
}

// Pattern is one entry of a policy's allow or deny list.
type Pattern struct {
	Kind   Kind
	Domain string       // Exact and Wildcard: canonical name ("example.com" for "*.example.com")
	Prefix netip.Prefix // Addr (a /32 or /128) and Prefix; always IPv4 for IPv4 addresses
	Ports  PortSet
	Text   string // the entry as written, for messages
}

// Narrowest prefixes accepted: anything broader is almost certainly a
// mistake or an attempt to open everything.
const (
	minBits4 = 8
	minBits6 = 32
)

// ParsePattern validates one policy entry and returns it canonicalised.
//
// Accepted forms: "api.example.com", "*.example.com", "localhost", an IPv4
// address in any inet_aton spelling, an IPv6 address with or without
// brackets, a CIDR prefix ("10.0.0.0/8", "2001:db8::/32"), each optionally
// followed by ":port" or ":*". An IPv6 address or prefix with a port is
// bracketed whole: "[2001:db8::1]:443", "[2001:db8::/32]:443". Without a
// port, the default ports 80 and 443 apply.
//
// Rejected: wildcards other than one leading "*." label, wildcards over a
// public suffix ("*.com", "*.co.uk", "*.github.io"), URLs, paths, user info,
// prefixes broader than /8 (IPv4) or /32 (IPv6), prefixes with host bits set,
// and anything Canonical rejects.
func ParsePattern(s string) (Pattern, error) {
	if s == "" {
		return Pattern{}, errors.New("empty entry")
	}
	if len(s) > maxInput {
		return Pattern{}, fmt.Errorf("entry %s is too long (%d bytes)", quoteStart(s), len(s))
	}
	if err := checkNotURL(s); err != nil {
		return Pattern{}, err
	}
	hostText, portText, hasPort, err := splitPort(s)
	if err != nil {
		return Pattern{}, err
	}
	p := Pattern{Text: s, Ports: DefaultPorts}
	if hasPort {
		if portText == "*" {
			p.Ports = AnyPort
		} else {
			port, err := parsePort(portText)
			if err != nil {
				return Pattern{}, fmt.Errorf("%q: %v", s, err)
			}
			p.Ports = OnePort(port)
		}
	}

	switch {
	case strings.IndexByte(hostText, '*') >= 0:
		err = p.parseWildcard(hostText)
	case strings.IndexByte(hostText, '/') >= 0:
		err = p.parsePrefix(hostText)
	default:
		var h Host
		h, err = Canonical(hostText)
		if err == nil {
			p.setHost(h)
		}
	}
	if err != nil {
		return Pattern{}, err
	}
	return p, nil
}

// checkNotURL gives a useful message for the usual ways a URL ends up in a
// host list: a scheme, user info or a path.
func checkNotURL(s string) error {
	if i := strings.Index(s, "://"); i >= 0 {
		host := s[i+3:]
		if j := strings.IndexByte(host, '/'); j >= 0 {
			host = host[:j]
		}
		return fmt.Errorf("%q is a URL; write only the host, as in %q", s, host)
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		return fmt.Errorf("%q has user info; write only the host, as in %q", s, s[i+1:])
	}
	// A '/' followed by a digit may be a prefix length; anything else is a path.
	if i := strings.IndexByte(s, '/'); i >= 0 {
		if i+1 == len(s) || s[i+1] < '0' || s[i+1] > '9' {
			return fmt.Errorf("%q has a path; write only the host, as in %q", s, s[:i])
		}
	}
	return nil
}

func (p *Pattern) setHost(h Host) {
	if h.IsIP() {
		p.Kind = Addr
		p.Prefix = netip.PrefixFrom(h.IP, h.IP.BitLen())
		return
	}
	p.Kind = Exact
	p.Domain = h.Name
}

func (p *Pattern) parseWildcard(host string) error {
	if host == "*" {
		return fmt.Errorf("%q matches every host; name the hosts you mean", p.Text)
	}
	base, ok := strings.CutPrefix(host, "*.")
	if !ok || strings.IndexByte(base, '*') >= 0 {
		return fmt.Errorf("%q: a wildcard is allowed only as the whole first label, as in \"*.example.com\"", p.Text)
	}
	h, err := Canonical(base)
	if err != nil {
		return err
	}
	if h.IsIP() {
		return fmt.Errorf("%q: a wildcard needs a domain name, not the IP address %s", p.Text, h.IP)
	}
	// Both ICANN and private sections count: "*.github.io" opens every
	// user's site, just as "*.com" opens every company's.
	if suffix, _ := publicsuffix.PublicSuffix(h.Name); suffix == h.Name {
		return fmt.Errorf("%q covers a whole public suffix; name the registrable domains you mean", p.Text)
	}
	p.Kind = Wildcard
	p.Domain = h.Name
	return nil
}

// parsePrefix reads a CIDR prefix. Its address must be a plain dotted quad
// or IPv6 address: inet_aton shorthand such as "10/8" reads as 0.0.0.10 and
// would surprise the author.
func (p *Pattern) parsePrefix(host string) error {
	addrText, bitsText, _ := strings.Cut(host, "/")
	a, err := netip.ParseAddr(addrText)
	if err != nil || a.Zone() != "" {
		if h, cerr := Canonical(addrText); cerr == nil && h.IsIP() {
			return fmt.Errorf("%q: write the network address of a prefix as a dotted quad or IPv6 address", p.Text)
		}
		return fmt.Errorf("%q has a path or an invalid prefix; write only the host, or a network like \"10.0.0.0/8\"", p.Text)
	}
	if length, port, ok := strings.Cut(bitsText, ":"); ok && a.Is6() {
		return fmt.Errorf("%q: an IPv6 prefix with a port is bracketed; write it as %q", p.Text, "["+addrText+"/"+length+"]:"+port)
	}
	bits, ok := parseBits(bitsText, a.BitLen())
	if !ok {
		return fmt.Errorf("%q: prefix length %q is not a number from 0 to %d", p.Text, bitsText, a.BitLen())
	}
	pfx := netip.PrefixFrom(a, bits)
	if masked := pfx.Masked(); masked != pfx {
		return fmt.Errorf("%q has host bits set; did you mean %q?", p.Text, masked.String())
	}
	if a.Is4In6() {
		// ::ffff:a.b.c.d/n (n >= 96, since host bits are clear) is an
		// IPv4 prefix, and canonical hosts never carry the mapped form.
		pfx = netip.PrefixFrom(a.Unmap(), bits-96)
	} else if a.Is6() && bits >= 96 && bits < 128 && isCompatible(a) {
		return fmt.Errorf("%q is an IPv4-compatible IPv6 prefix; write the IPv4 prefix instead", p.Text)
	}

	widest := minBits6
	if pfx.Addr().Is4() {
		widest = minBits4
	}
	switch {
	case pfx.Bits() == 0:
		return fmt.Errorf("%q matches every %s address; name the networks you mean", p.Text, family(pfx))
	case pfx.Bits() < widest:
		return fmt.Errorf("%q is broader than /%d, the widest %s prefix a policy may name", p.Text, widest, family(pfx))
	case pfx.IsSingleIP():
		p.setHost(Host{IP: canonicalIP(pfx.Addr())})
		return nil
	}
	p.Kind = Prefix
	p.Prefix = pfx
	return nil
}

func parseBits(text string, max int) (int, bool) {
	if text == "" || len(text) > 3 || !allDigits(text, 10) || len(text) > 1 && text[0] == '0' {
		return 0, false
	}
	n, _ := strconv.Atoi(text)
	return n, n <= max
}

// isCompatible reports whether a is in ::/96, the deprecated IPv4-compatible
// range.
func isCompatible(a netip.Addr) bool {
	b := a.As16()
	for _, x := range b[:12] {
		if x != 0 {
			return false
		}
	}
	return true
}

func family(p netip.Prefix) string {
	if p.Addr().Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// String returns the canonical text of the pattern, which ParsePattern reads
// back to an equal Pattern: "api.example.com", "*.example.com:443",
// "10.0.0.0/8:*", "[2001:db8::/32]:443". Default ports print as nothing.
func (p Pattern) String() string {
	var host string
	switch p.Kind {
	case Exact:
		host = p.Domain
	case Wildcard:
		host = "*." + p.Domain
	case Addr:
		host = p.Prefix.Addr().String()
	case Prefix:
		host = p.Prefix.String()
	default:
		return ""
	}
	if p.Ports == DefaultPorts {
		return host
	}
	if (p.Kind == Addr || p.Kind == Prefix) && p.Prefix.Addr().Is6() {
		host = "[" + host + "]"
	}
	return host + ":" + p.Ports.String()
}

// Match reports whether the canonical host h and port are covered by p.
// A name never matches an IP pattern and an IP never matches a name
// pattern: the proxy checks resolved addresses separately.
func (p Pattern) Match(h Host, port uint16) bool {
	return p.Ports.Contains(port) && p.MatchHost(h)
}

// MatchHost reports whether p covers the canonical host h on at least one
// port: Match without the port check. The DNS stub uses it to decide
// whether a name may be resolved at all. A Pattern whose port set is empty
// (a hand-built zero value) matches nothing here either.
func (p Pattern) MatchHost(h Host) bool {
	if p.Ports.kind == portsNone {
		return false
	}
	switch p.Kind {
	case Exact:
		return !h.IsIP() && p.Domain != "" && h.Name == p.Domain
	case Wildcard:
		// A strict subdomain: something, a dot, then Domain.
		n, d := len(h.Name), len(p.Domain)
		return !h.IsIP() && d > 0 && n > d+1 && h.Name[n-d-1] == '.' && h.Name[n-d:] == p.Domain
	case Addr, Prefix:
		// Canonical hosts are already unmapped; a hand-built one may not be,
		// and a deny rule must still see it.
		return h.IsIP() && p.Prefix.IsValid() && p.Prefix.Contains(canonicalIP(h.IP))
	}
	return false
}

// Broad returns an exposure weight in [0, 1] for the exposure score:
//
//	exact name or single address   0.2
//	wildcard                       0.6
//	prefix                         0.3 (/31, /127) up to 0.8 (/8, /32), linear in bits
//
// plus 0.05 for the default ports (two of them) or 0.2 for any port; a
// single named port adds nothing.
func (p Pattern) Broad() float64 {
	var w float64
	switch p.Kind {
	case Exact, Addr:
		w = 0.2
	case Wildcard:
		w = 0.6
	case Prefix:
		maxBits, minBits := 32.0, float64(minBits4)
		if p.Prefix.Addr().Is6() {
			maxBits, minBits = 128, minBits6
		}
		open := (maxBits - float64(p.Prefix.Bits())) / (maxBits - minBits)
		w = 0.3 + 0.5*min(max(open, 0), 1)
	default:
		return 0
	}
	switch p.Ports.kind {
	case portsDefault:
		w += 0.05
	case portsAny:
		w += 0.2
	}
	return min(w, 1)
}

// Loopback reports whether p can match this machine: "localhost" and names
// under it, loopback addresses, and prefixes holding a loopback or
// unspecified address (0.0.0.0 and :: reach the local host on Linux).
// Policies treat such destinations specially.
func (p Pattern) Loopback() bool {
	switch p.Kind {
	case Exact, Wildcard:
		return isLocalhostName(p.Domain)
	case Addr, Prefix:
		for _, local := range localPrefixes {
			if p.Prefix.Overlaps(local) {
				return true
			}
		}
	}
	return false
}

var localPrefixes = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("0.0.0.0/32"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("::/128"),
}
