package bundle

import (
	"fmt"
	"net/netip"

	"github.com/paddock-sh/paddock/compiler/hostpattern"
)

// Network is the network section.
type Network struct {
	Allow []HostRule `json:"allow"`
	Deny  []HostRule `json:"deny"`
	// UnixSockets lists the path templates of unix sockets the sandbox may
	// connect to; every other pathname socket is refused.
	UnixSockets []PathRule `json:"unix_sockets"`
	Listen      string     `json:"listen"`     // ListenNone, ListenLoopback or ListenAny
	OnUnknown   string     `json:"on_unknown"` // VerdictDeny or VerdictAsk
	// AskTimeoutSeconds bounds how long a held connection waits for an
	// answer before it is denied.
	AskTimeoutSeconds int `json:"ask_timeout_seconds"`
}

// HostRule is a destination pattern (hostpattern syntax, canonical).
type HostRule struct {
	Pattern string `json:"pattern"`
	Rule    Rule   `json:"rule"`
}

// PathRule is a path template with its origin.
type PathRule struct {
	Path string `json:"path"`
	Rule Rule   `json:"rule"`
}

// Listen settings.
const (
	ListenNone     = "none"
	ListenLoopback = "loopback"
	ListenAny      = "any"
)

func (n *Network) validate() error {
	for i, h := range n.Allow {
		if err := h.validate(); err != nil {
			return fmt.Errorf("allow[%d]: %w", i, err)
		}
	}
	for i, h := range n.Deny {
		if err := h.validate(); err != nil {
			return fmt.Errorf("deny[%d]: %w", i, err)
		}
	}
	for i, u := range n.UnixSockets {
		if err := CheckTemplate(u.Path); err != nil {
			return fmt.Errorf("unix_sockets[%d]: %w", i, err)
		}
	}
	switch n.Listen {
	case ListenNone, ListenLoopback, ListenAny:
	default:
		return fmt.Errorf("listen: %q is not none, loopback or any", n.Listen)
	}
	if n.OnUnknown != VerdictDeny && n.OnUnknown != VerdictAsk {
		return fmt.Errorf("on_unknown: %q is not deny or ask", n.OnUnknown)
	}
	if n.AskTimeoutSeconds < 1 || n.AskTimeoutSeconds > 3600 {
		return fmt.Errorf("ask_timeout_seconds: %d is not 1..3600", n.AskTimeoutSeconds)
	}
	return nil
}

func (h HostRule) validate() error {
	p, err := hostpattern.ParsePattern(h.Pattern)
	if err != nil {
		return err
	}
	if p.String() != h.Pattern {
		return fmt.Errorf("%q is not in canonical form (%q)", h.Pattern, p.String())
	}
	return nil
}

// Addresses no sandbox reaches unless the policy names them: the kernel
// routes them to this host or its hypervisor, where the proxy, the daemon
// and cloud credentials live.
var guarded = []struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local (cloud metadata)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "cloud metadata"},
	{netip.MustParsePrefix("100.100.100.200/32"), "cloud metadata"},
}

// Guarded reports why an address is refused unless a policy allows it
// explicitly by address or prefix, or "" when it is an ordinary address.
func Guarded(ip netip.Addr) string {
	ip = ip.Unmap()
	for _, g := range guarded {
		if g.prefix.Contains(ip) {
			return g.why
		}
	}
	return ""
}

// GuardedIn reports why some address of p is refused unless a policy
// allows it explicitly (as Guarded does for one address), or "" when p
// holds no such address. Loopback and unspecified addresses count only
// when withLocal is set.
func GuardedIn(p netip.Prefix, withLocal bool) string {
	for _, g := range guarded {
		if !withLocal && (g.prefix.Addr().IsLoopback() || g.prefix.Addr().IsUnspecified()) {
			continue
		}
		if g.prefix.Overlaps(p) {
			return g.why
		}
	}
	return ""
}

// Decide answers whether the sandbox may open a connection to host:port.
// Deny rules are checked first and win. An allowed loopback destination is
// reached directly; every other allowed destination is redirected through
// the egress proxy, which checks it again and dials what it checked. For a
// name, the proxy also checks the addresses it resolves to, which this
// function cannot know.
func (n *Network) Decide(hostText string, port uint16) (Decision, error) {
	host, err := hostpattern.Canonical(hostText)
	if err != nil {
		return Decision{}, err
	}
	for _, d := range n.Deny {
		if p, err := hostpattern.ParsePattern(d.Pattern); err == nil && p.Match(host, port) {
			return Decision{Verdict: VerdictDeny, Rule: &d.Rule, Reason: fmt.Sprintf("%s:%d is denied by %q", host, port, d.Rule.Text)}, nil
		}
	}
	for _, a := range n.Allow {
		p, err := hostpattern.ParsePattern(a.Pattern)
		if err != nil || !p.Match(host, port) {
			continue
		}
		if host.IsLoopback() {
			return Decision{Verdict: VerdictAllow, Rule: &a.Rule, Reason: fmt.Sprintf("%s:%d is a loopback destination the policy allows; it is reached directly", host, port)}, nil
		}
		return Decision{Verdict: VerdictRedirect, Rule: &a.Rule, Reason: fmt.Sprintf("%s:%d is allowed; the connection goes through the egress proxy", host, port)}, nil
	}
	if host.IsIP() {
		if why := Guarded(host.IP); why != "" {
			return Decision{Verdict: VerdictDeny, Reason: fmt.Sprintf("%s is a %s address; no rule allows it", host, why)}, nil
		}
	} else if host.IsLoopback() {
		return Decision{Verdict: VerdictDeny, Reason: fmt.Sprintf("%s names this host; no rule allows it", host)}, nil
	}
	if n.OnUnknown == VerdictAsk {
		return Decision{Verdict: VerdictAsk, Reason: fmt.Sprintf("no rule names %s:%d; the connection is held until someone answers (denied after %ds)", host, port, n.AskTimeoutSeconds)}, nil
	}
	return Decision{Verdict: VerdictDeny, Reason: fmt.Sprintf("no rule allows %s:%d", host, port)}, nil
}

// DecideName answers whether the sandbox may resolve a name at all; the DNS
// stub asks it before any query leaves the host. A deny rule over every
// port ("evil.example:*") denies the name; a deny rule for some ports only
// leaves it resolvable, since the other ports may still be reached. Then an
// allow rule that matches the name on any port allows it. Everything else
// is denied: on_unknown = "ask" holds connections, not names, because
// resolving an unknown name would already carry it to the upstream server.
// An IP address is not a name to resolve and is denied. Loopback names
// ("localhost") follow the rules like any other name.
func (n *Network) DecideName(hostText string) (Decision, error) {
	host, err := hostpattern.Canonical(hostText)
	if err != nil {
		return Decision{}, err
	}
	if host.IsIP() {
		return Decision{Verdict: VerdictDeny, Reason: fmt.Sprintf("%s is an IP address, not a name to resolve", host)}, nil
	}
	for _, d := range n.Deny {
		p, err := hostpattern.ParsePattern(d.Pattern)
		if err == nil && p.Ports == hostpattern.AnyPort && p.MatchHost(host) {
			return Decision{Verdict: VerdictDeny, Rule: &d.Rule, Reason: fmt.Sprintf("resolving %s is denied by %q", host, d.Rule.Text)}, nil
		}
	}
	for _, a := range n.Allow {
		if p, err := hostpattern.ParsePattern(a.Pattern); err == nil && p.MatchHost(host) {
			return Decision{Verdict: VerdictAllow, Rule: &a.Rule, Reason: fmt.Sprintf("%s may be resolved; %q allows it", host, a.Rule.Text)}, nil
		}
	}
	if n.OnUnknown == VerdictAsk {
		return Decision{Verdict: VerdictDeny, Reason: fmt.Sprintf("no rule allows %s; unknown names are not resolved (on_unknown = ask holds connections, not lookups)", host)}, nil
	}
	return Decision{Verdict: VerdictDeny, Reason: fmt.Sprintf("no rule allows %s", host)}, nil
}
