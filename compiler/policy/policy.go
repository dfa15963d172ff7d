// Package policy reads Paddock's HCL policy language, checks it, and compiles
// it into a bundle.
//
// A policy is one file plus the files it extends (other files, or builtin
// policies as builtin:NAME). Extending composes: lists are joined, parents
// first; a setting written by a child overrides its parents'. Deny rules
// always win over grants, so a policy that extends another can add grants
// and denials but never lift the other's denials.
//
// Every value keeps the source range it was written at, so every problem is
// reported as file:line:col with a caret under the offending token, and every
// rule in the compiled bundle can say where it came from.
package policy

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
)

// Entry is one value of a policy and where it was written.
type Entry struct {
	Value string
	Range hcl.Range
	Field string // the list and index it sits at, e.g. filesystem.deny[2]
}

// Policy is a loaded policy: the root file merged with everything it extends.
type Policy struct {
	Name        string
	NameRange   hcl.Range
	Description *Entry
	Mode        *Entry
	BestEffort  []Entry

	Read, Write, Deny, DenyWrite []Entry

	Allow, DenyHosts, UnixSockets []Entry
	Listen, OnUnknown, AskTimeout *Entry

	Credentials []*Credential

	SyscallAllow, SyscallDeny []Entry
	Errno                     *Entry
	Restrictions              []*Restriction

	User         *Entry
	Capabilities []Entry
	Limits       []Limit // in the order written; later ones override earlier ones by key
	EnvPass      []Entry
	EnvSet       []EnvSet

	// Sources are the files that made the policy, parents first.
	Sources []Source
}

// Credential is a credential block.
type Credential struct {
	Name         string
	Range        hcl.Range
	Hosts, Paths []Entry
	Methods      []Entry
	Env, Header  *Entry
	Format       *Entry
	Source       *Entry
	// StripResponseHeaders are removed from every response of the bound
	// hosts before the sandbox sees it.
	StripResponseHeaders []Entry
	// BaseURLEnv names the variable that gets the plain-HTTP reverse
	// listener's URL (the ANTHROPIC_BASE_URL pattern).
	BaseURLEnv *Entry
}

// Restriction is a restrict block: an argument condition on an allowed syscall.
type Restriction struct {
	Syscall    string
	Range      hcl.Range // the block's label
	Arg        *Entry
	Mask       []Entry // ORed
	In, NotIn  []Entry
	Errno      *Entry
	BlockRange hcl.Range
}

// Limit is one key of process.limits.
type Limit struct {
	Key   string
	Value Entry
}

// EnvSet is one variable of process.env.set.
type EnvSet struct {
	Name  string
	Value Entry
}

// Source is one file of a policy.
type Source struct {
	Name    string // relative to the root file's directory, or builtin:NAME
	Display string // how diagnostics name it
	Data    []byte
}

// merge appends child's lists to p's and lets child's settings override.
func (p *Policy) merge(c *Policy) {
	p.Name, p.NameRange = c.Name, c.NameRange
	set := func(dst **Entry, src *Entry) {
		if src != nil {
			*dst = src
		}
	}
	set(&p.Description, c.Description)
	set(&p.Mode, c.Mode)
	set(&p.Listen, c.Listen)
	set(&p.OnUnknown, c.OnUnknown)
	set(&p.AskTimeout, c.AskTimeout)
	set(&p.Errno, c.Errno)
	set(&p.User, c.User)
	p.BestEffort = append(p.BestEffort, c.BestEffort...)
	p.Read = append(p.Read, c.Read...)
	p.Write = append(p.Write, c.Write...)
	p.Deny = append(p.Deny, c.Deny...)
	p.DenyWrite = append(p.DenyWrite, c.DenyWrite...)
	p.Allow = append(p.Allow, c.Allow...)
	p.DenyHosts = append(p.DenyHosts, c.DenyHosts...)
	p.UnixSockets = append(p.UnixSockets, c.UnixSockets...)
	p.Credentials = append(p.Credentials, c.Credentials...)
	p.SyscallAllow = append(p.SyscallAllow, c.SyscallAllow...)
	p.SyscallDeny = append(p.SyscallDeny, c.SyscallDeny...)
	p.Restrictions = append(p.Restrictions, c.Restrictions...)
	p.Capabilities = append(p.Capabilities, c.Capabilities...)
	p.Limits = append(p.Limits, c.Limits...)
	p.EnvPass = append(p.EnvPass, c.EnvPass...)
	p.EnvSet = append(p.EnvSet, c.EnvSet...)
}

func errAt(r hcl.Range, hint, format string, args ...any) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf(format, args...), Detail: hint, Subject: r.Ptr(), Extra: ownDiag{}}
}

func warnAt(r hcl.Range, hint, format string, args ...any) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: fmt.Sprintf(format, args...), Detail: hint, Subject: r.Ptr(), Extra: ownDiag{}}
}

// where names a range for messages that point at a second place.
func where(r hcl.Range) string { return fmt.Sprintf("%s:%d", r.Filename, r.Start.Line) }
