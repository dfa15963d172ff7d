package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/compiler/policy"
)

func cmdBuild(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("build", "[flags] POLICY", stderr)
	out := fs.String("o", "", "write the bundle here (default: POLICY with .bundle, beside it; NAME.bundle for builtin:NAME)")
	jsonOut := fs.Bool("json", false, "print the summary as JSON")
	vars := policy.VarFlags{}
	fs.Var(vars, "var", "set a policy variable, NAME=VALUE (lists: comma-separated); repeatable")
	if code, done := parse(fs, args, stdout); done {
		return code
	}
	arg, ok := oneArg(fs, stderr)
	if !ok {
		return exitUsage
	}
	l, code := load(arg, vars, false, stderr, *jsonOut)
	if code != 0 {
		return code
	}
	data, err := bundle.Encode(l.bundle)
	if err != nil {
		fmt.Fprintf(stderr, "policyc: %s: %v\n", arg, err)
		return exitPolicy
	}
	path := *out
	if path == "" {
		path = l.base + ".bundle"
	}
	if err := writeAtomic(path, data, 0o644); err != nil {
		fmt.Fprintf(stderr, "policyc: %v\n", err)
		return exitUsage
	}
	s := summarize(l.bundle, path)
	if *jsonOut {
		writeJSON(stdout, s)
	} else {
		s.print(stdout)
	}
	return exitOK
}

// writeAtomic writes through a temporary file and a rename, so a reader
// never sees half a bundle.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".policyc-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// summary is build's one-screen report.
type summary struct {
	Output       string            `json:"output"`
	Policy       string            `json:"policy"`
	Mode         string            `json:"mode"`
	Checksum     string            `json:"checksum"`
	Sources      []string          `json:"sources"`
	ReadGrants   int               `json:"read_grants"`
	WriteGrants  int               `json:"write_grants"`
	Deny         int               `json:"deny"`
	DenyWrite    int               `json:"deny_write"`
	HostsAllowed int               `json:"hosts_allowed"`
	HostsDenied  int               `json:"hosts_denied"`
	OnUnknown    string            `json:"on_unknown"`
	Listen       string            `json:"listen"`
	Credentials  []string          `json:"credentials"`
	Syscalls     int               `json:"syscalls_allowed"`
	Restricted   int               `json:"syscalls_restricted"`
	Errno        string            `json:"errno"`
	Programs     map[string][2]int `json:"programs"` // arch -> [instructions, longest path]
	Requires     []string          `json:"requires"`
	Exposure     float64           `json:"exposure"`
}

func summarize(b *bundle.Bundle, out string) summary {
	s := summary{
		Output: out, Policy: b.Metadata.Policy, Mode: b.Metadata.Mode, Checksum: b.Checksum,
		HostsAllowed: len(b.Network.Allow), HostsDenied: len(b.Network.Deny),
		OnUnknown: b.Network.OnUnknown, Listen: b.Network.Listen,
		Syscalls: len(b.Syscalls.Allowed), Errno: b.Syscalls.Errno,
		Programs: map[string][2]int{}, Requires: b.Metadata.Requires, Credentials: []string{},
	}
	for _, src := range b.Metadata.Sources {
		s.Sources = append(s.Sources, src.Name)
	}
	for _, g := range b.Filesystem.Grants {
		if g.Access&bundle.Changes != 0 {
			s.WriteGrants++
		} else {
			s.ReadGrants++
		}
	}
	for _, d := range b.Filesystem.Deny {
		if d.WriteOnly {
			s.DenyWrite++
		} else {
			s.Deny++
		}
	}
	for _, c := range b.Credentials {
		s.Credentials = append(s.Credentials, fmt.Sprintf("%s (%s)", c.Name, strings.Join(c.Hosts, ", ")))
	}
	restricted := map[string]bool{}
	for _, r := range b.Syscalls.Restrictions {
		restricted[r.Syscall] = true
	}
	s.Restricted = len(restricted)
	for _, p := range b.Syscalls.Programs {
		s.Programs[p.Arch] = [2]int{len(p.Code) / 8, p.LongestPath}
	}
	s.Exposure, _ = bundle.Exposure(b)
	return s
}

func (s summary) print(w io.Writer) {
	fmt.Fprintf(w, "policyc: compiled %s (%s) -> %s\n", s.Policy, s.Mode, s.Output)
	row := func(k, format string, args ...any) { fmt.Fprintf(w, "  %-12s %s\n", k, fmt.Sprintf(format, args...)) }
	row("sources", "%s", strings.Join(s.Sources, " <- "))
	row("filesystem", "%d read and %d write grants; %d deny and %d deny-write rules (deny wins)", s.ReadGrants, s.WriteGrants, s.Deny, s.DenyWrite)
	row("network", "%d destinations allowed, %d denied; unknown: %s; listen: %s", s.HostsAllowed, s.HostsDenied, s.OnUnknown, s.Listen)
	if len(s.Credentials) > 0 {
		row("credentials", "%s", strings.Join(s.Credentials, "; "))
	}
	row("syscalls", "%d allowed (%d with argument checks); everything else fails with %s", s.Syscalls, s.Restricted, s.Errno)
	var progs []string
	for _, arch := range sortedKeys(s.Programs) {
		p := s.Programs[arch]
		progs = append(progs, fmt.Sprintf("%s %d instructions, worst path %d", arch, p[0], p[1]))
	}
	row("seccomp", "%s", strings.Join(progs, "; "))
	row("requires", "%s", strings.Join(s.Requires, ", "))
	row("exposure", "%.1f / 10 (policyc plan lists why)", s.Exposure)
	row("bundle", "%s, %s", s.Checksum, policy.CompilerVersion)
}
