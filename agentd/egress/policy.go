//go:build linux

package egress

import (
	"github.com/paddock-sh/paddock/bpf"
	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/compiler/hostpattern"
)

// policy lowers a sandbox's network policy to what the hooks enforce in
// the kernel: loopback ports reached directly, whether guarded addresses
// go to the proxy, binds, and unix socket paths. Everything else the
// hooks send to the proxy, which applies the whole policy. Only unix
// paths with a pinned socket (pinned maps them to its mount) are listed.
func (sb *sandbox) policy(unixPaths map[string]bundle.Rule, pinned map[string]string) bpf.Policy {
	p := bpf.Policy{Loopback: map[uint16]bpf.PortRule{}, Unix: map[string]bpf.UnixRule{}, ListenAny: sb.net.Listen == bundle.ListenAny}
	rule := func(r bundle.Rule) uint32 {
		sb.rules = append(sb.rules, r.String())
		return uint32(len(sb.rules))
	}
	loopbackPorts := func(ps hostpattern.PortSet) []uint16 {
		if port, ok := ps.Single(); ok {
			return []uint16{port}
		}
		if ps == hostpattern.DefaultPorts {
			return []uint16{80, 443}
		}
		return nil // any port
	}
	for _, a := range sb.net.Allow {
		pat, err := hostpattern.ParsePattern(a.Pattern)
		if err != nil {
			continue
		}
		if (pat.Kind == hostpattern.Addr || pat.Kind == hostpattern.Prefix) && bundle.GuardedIn(pat.Prefix, false) != "" {
			p.GuardedOK = true
		}
		if !pat.Loopback() {
			continue
		}
		id := rule(a.Rule)
		ports := loopbackPorts(pat.Ports)
		if ports == nil && p.LoopbackAny == 0 {
			p.LoopbackAny = id
		}
		for _, port := range ports {
			if _, ok := p.Loopback[port]; !ok {
				p.Loopback[port] = bpf.PortRule{Rule: id, Allow: true}
			}
		}
	}
	// Deny rules win over allow rules.
	for _, d := range sb.net.Deny {
		pat, err := hostpattern.ParsePattern(d.Pattern)
		if err != nil || !pat.Loopback() {
			continue
		}
		id := rule(d.Rule)
		ports := loopbackPorts(pat.Ports)
		if ports == nil {
			p.LoopbackAny = 0
			for port := range p.Loopback {
				p.Loopback[port] = bpf.PortRule{Rule: id}
			}
			continue
		}
		for _, port := range ports {
			p.Loopback[port] = bpf.PortRule{Rule: id}
		}
	}
	// A reverse listener's port goes to the proxy, whatever the policy
	// says of loopback.
	for port, b := range sb.px.Reverse {
		p.Loopback[port] = bpf.PortRule{Rule: rule(b.Rule()), Proxy: true}
	}
	for path, r := range unixPaths {
		if t, ok := pinned[path]; ok {
			p.Unix[path] = bpf.UnixRule{Rule: rule(r), Target: t}
		}
	}
	return p
}
