package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/compiler/hostpattern"
	"github.com/paddock-sh/paddock/compiler/seccomp"
	"github.com/paddock-sh/paddock/compiler/syscalls"
)

// CompilerVersion is recorded in every bundle.
const CompilerVersion = "policyc 0.1.0"

// Defaults for settings a policy leaves out.
const (
	defaultErrno      = "EPERM"
	defaultAskTimeout = 60
	defaultHeader     = "Authorization"
	defaultFormat     = "Bearer %s"
)

// Compile turns a loaded, valid policy into a bundle. Its output depends only
// on the policy's sources and variables, so the same input gives the same
// bytes.
func Compile(p *Policy) (*bundle.Bundle, error) {
	c := &compiler{p: p, names: map[string]string{}}
	for _, s := range p.Sources {
		c.names[s.Display] = s.Name
	}
	b := &bundle.Bundle{
		Metadata:    c.metadata(),
		Filesystem:  c.filesystem(),
		Network:     c.network(),
		Credentials: c.credentials(),
		Process:     c.process(),
	}
	var err error
	if b.Syscalls, err = c.syscalls(); err != nil {
		return nil, err
	}
	b.Metadata.Requires = bundle.Features(b)
	return b, b.Validate()
}

type compiler struct {
	p     *Policy
	names map[string]string // display name -> bundle source name
}

func (c *compiler) rule(e Entry) bundle.Rule {
	return bundle.Rule{File: c.names[e.Range.Filename], Line: e.Range.Start.Line, Col: e.Range.Start.Column, Field: e.Field, Text: e.Value}
}

func valueOr(e *Entry, def string) string {
	if e == nil {
		return def
	}
	return e.Value
}

func (c *compiler) metadata() bundle.Metadata {
	m := bundle.Metadata{
		Policy:      c.p.Name,
		Description: valueOr(c.p.Description, ""),
		Mode:        valueOr(c.p.Mode, bundle.ModeEnforce),
		Compiler:    CompilerVersion,
		Catalogue:   syscalls.CatalogueVersion,
		Sources:     []bundle.Source{},
		BestEffort:  []string{},
	}
	all := newSourceHash()
	for _, s := range c.p.Sources {
		sum := sha256.Sum256(s.Data)
		m.Sources = append(m.Sources, bundle.Source{Name: s.Name, SHA256: hex.EncodeToString(sum[:])})
		all.add(s.Name, s.Data)
	}
	m.SourceSHA256 = all.sum()
	for _, e := range c.p.BestEffort {
		if !slices.Contains(m.BestEffort, e.Value) {
			m.BestEffort = append(m.BestEffort, e.Value)
		}
	}
	sort.Strings(m.BestEffort)
	return m
}

func (c *compiler) filesystem() bundle.Filesystem {
	fs := bundle.Filesystem{Grants: []bundle.Grant{}, Deny: []bundle.Deny{}}
	for _, g := range []struct {
		list   []Entry
		access bundle.Access
	}{{c.p.Read, bundle.ReadAccess}, {c.p.Write, bundle.WriteAccess}} {
		for _, e := range g.list {
			fs.Grants = append(fs.Grants, bundle.Grant{Path: e.Value, Access: g.access, Rule: c.rule(e)})
		}
	}
	for _, e := range c.p.Deny {
		fs.Deny = append(fs.Deny, bundle.Deny{Pattern: e.Value, Rule: c.rule(e)})
	}
	for _, e := range c.p.DenyWrite {
		fs.Deny = append(fs.Deny, bundle.Deny{Pattern: e.Value, WriteOnly: true, Rule: c.rule(e)})
	}
	return fs
}

func (c *compiler) hosts(list []Entry) []bundle.HostRule {
	out := []bundle.HostRule{}
	seen := map[string]bool{}
	for _, e := range list {
		pat, err := hostpattern.ParsePattern(e.Value)
		if err != nil || seen[pat.String()] {
			continue
		}
		seen[pat.String()] = true
		out = append(out, bundle.HostRule{Pattern: pat.String(), Rule: c.rule(e)})
	}
	return out
}

func (c *compiler) network() bundle.Network {
	n := bundle.Network{
		Allow:             c.hosts(c.p.Allow),
		Deny:              c.hosts(c.p.DenyHosts),
		UnixSockets:       []bundle.PathRule{},
		Listen:            valueOr(c.p.Listen, bundle.ListenLoopback),
		OnUnknown:         valueOr(c.p.OnUnknown, bundle.VerdictDeny),
		AskTimeoutSeconds: defaultAskTimeout,
	}
	if c.p.AskTimeout != nil {
		n.AskTimeoutSeconds, _ = askTimeout(c.p.AskTimeout.Value)
	}
	for _, e := range c.p.UnixSockets {
		n.UnixSockets = append(n.UnixSockets, bundle.PathRule{Path: e.Value, Rule: c.rule(e)})
	}
	return n
}

func (c *compiler) credentials() []bundle.Credential {
	out := []bundle.Credential{}
	for _, cr := range c.p.Credentials {
		bc := bundle.Credential{
			Name:         cr.Name,
			Hosts:        []string{},
			Paths:        values(cr.Paths),
			Methods:      values(cr.Methods),
			Env:          valueOr(cr.Env, ""),
			Header:       valueOr(cr.Header, defaultHeader),
			Format:       valueOr(cr.Format, defaultFormat),
			Source:       valueOr(cr.Source, ""),
			Placeholder:  bundle.PlaceholderFor(cr.Name),
			StripHeaders: values(cr.StripResponseHeaders),
			BaseURLEnv:   valueOr(cr.BaseURLEnv, ""),
			Rule:         bundle.Rule{File: c.names[cr.Range.Filename], Line: cr.Range.Start.Line, Col: cr.Range.Start.Column, Field: "credential." + cr.Name, Text: cr.Name},
		}
		for _, h := range cr.Hosts {
			if pat, err := hostpattern.ParsePattern(h.Value); err == nil && !slices.Contains(bc.Hosts, pat.Domain) {
				bc.Hosts = append(bc.Hosts, pat.Domain)
			}
		}
		out = append(out, bc)
	}
	return out
}

func values(es []Entry) []string {
	out := []string{}
	for _, e := range es {
		if !slices.Contains(out, e.Value) {
			out = append(out, e.Value)
		}
	}
	return out
}

func (c *compiler) process() bundle.Process {
	pr := bundle.Process{
		User:         valueOr(c.p.User, "inherit"),
		EnvPass:      values(c.p.EnvPass),
		EnvSet:       []bundle.EnvVar{},
		Capabilities: values(c.p.Capabilities),
	}
	sort.Strings(pr.Capabilities)
	for _, l := range c.p.Limits { // later entries (children) override earlier ones
		v, _ := limitValue(l.Key, l.Value.Value)
		switch l.Key {
		case "memory":
			pr.Limits.MemoryBytes = v
		case "pids":
			pr.Limits.Pids = v
		case "cpus":
			pr.Limits.MilliCPUs = v
		case "open_files":
			pr.Limits.OpenFiles = v
		case "file_size":
			pr.Limits.FileBytes = v
		case "cpu_time":
			pr.Limits.CPUSeconds = v
		}
	}
	for _, s := range c.p.EnvSet {
		i := slices.IndexFunc(pr.EnvSet, func(v bundle.EnvVar) bool { return v.Name == s.Name })
		if i < 0 {
			pr.EnvSet = append(pr.EnvSet, bundle.EnvVar{Name: s.Name, Value: s.Value.Value})
		} else {
			pr.EnvSet[i].Value = s.Value.Value
		}
	}
	return pr
}

// syscalls resolves groups, subtracts denials, attaches argument checks, and
// emits a program per architecture.
func (c *compiler) syscalls() (bundle.Syscalls, error) {
	s := bundle.Syscalls{Errno: valueOr(c.p.Errno, defaultErrno), Allowed: []bundle.SyscallRule{}, Denied: []bundle.SyscallRule{}, Restrictions: []bundle.Restriction{}}
	allowed := map[string]bundle.Rule{}
	for _, e := range c.p.SyscallAllow {
		names, _ := syscalls.Expand(e.Value)
		for _, n := range names {
			if _, ok := allowed[n]; !ok {
				allowed[n] = c.rule(e)
			}
		}
	}
	denied := map[string]bundle.Rule{}
	for _, e := range c.p.SyscallDeny {
		names, _ := syscalls.Expand(e.Value)
		for _, n := range names {
			delete(allowed, n)
			if _, ok := denied[n]; !ok {
				denied[n] = c.rule(e)
			}
		}
	}
	s.Allowed = sortedRules(allowed)
	s.Denied = sortedRules(denied)

	errno, _ := syscalls.Errno(s.Errno)
	spec := seccomp.Spec{Allowed: map[string][]seccomp.Check{}, Deny: seccomp.Errno(unix.Errno(errno)), Audit: valueOr(c.p.Mode, bundle.ModeEnforce) == bundle.ModeAudit}
	for name := range allowed {
		spec.Allowed[name] = nil
	}
	for _, r := range c.p.Restrictions {
		if _, ok := allowed[r.Syscall]; !ok {
			continue // denied after all: deny wins, the restriction is moot
		}
		br := c.restriction(r, s.Errno)
		s.Restrictions = append(s.Restrictions, br)
		spec.Allowed[r.Syscall] = append(spec.Allowed[r.Syscall], br.Check())
	}
	for _, arch := range seccomp.Arches() {
		f, err := seccomp.Lower(spec, arch)
		if err != nil {
			return s, fmt.Errorf("syscalls (%s): %w", arch.Name, err)
		}
		prog, err := f.Assemble()
		if err != nil {
			return s, fmt.Errorf("syscalls (%s): %w", arch.Name, err)
		}
		s.Programs = append(s.Programs, bundle.Program{Arch: arch.Name, Code: seccomp.Marshal(prog), LongestPath: seccomp.LongestPath(prog)})
	}
	return s, nil
}

func sortedRules(m map[string]bundle.Rule) []bundle.SyscallRule {
	out := make([]bundle.SyscallRule, 0, len(m))
	for n, r := range m {
		out = append(out, bundle.SyscallRule{Name: n, Rule: r})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (c *compiler) restriction(r *Restriction, defErrno string) bundle.Restriction {
	idx, bits, _ := syscalls.ArgIndex(r.Syscall, r.Arg.Value)
	mask := ^uint64(0)
	if len(r.Mask) > 0 {
		mask = 0
		for _, e := range r.Mask {
			v, _ := syscalls.ParseValue(e.Value)
			mask |= v
		}
	}
	if bits == 32 {
		mask &= 0xffffffff
	}
	br := bundle.Restriction{
		Syscall: r.Syscall, Arg: r.Arg.Value, Index: idx, Bits: bits, Mask: bundle.Hex(mask),
		Op: "in", Errno: valueOr(r.Errno, defErrno), Values: []bundle.Hex{}, Names: []string{},
	}
	list := r.In
	if len(r.NotIn) > 0 {
		br.Op, list = "not_in", r.NotIn
	}
	for _, e := range list {
		v, _ := syscalls.ParseValue(e.Value)
		br.Values = append(br.Values, bundle.Hex(v))
		br.Names = append(br.Names, e.Value)
	}
	texts := []string{}
	for _, e := range r.Mask {
		texts = append(texts, e.Value)
	}
	text := fmt.Sprintf("%s %s %s [%s]", r.Syscall, r.Arg.Value, br.Op, strings.Join(br.Names, ", "))
	if len(texts) > 0 {
		text = fmt.Sprintf("%s (%s & %s) %s [%s]", r.Syscall, r.Arg.Value, strings.Join(texts, "|"), br.Op, strings.Join(br.Names, ", "))
	}
	br.Rule = bundle.Rule{File: c.names[r.Range.Filename], Line: r.Range.Start.Line, Col: r.Range.Start.Column, Field: fmt.Sprintf("syscalls.restrict[%q]", r.Syscall), Text: text}
	return br
}
