package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/compiler/pathglob"
	"github.com/paddock-sh/paddock/compiler/policy"
	"github.com/paddock-sh/paddock/compiler/syscalls"
)

func cmdPlan(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("plan", "[flags] POLICY", stderr)
	threshold := fs.Float64("threshold", -1, "exit 1 when the exposure score is above this (0-10); for CI")
	jsonOut := fs.Bool("json", false, "print the plan as JSON")
	vars := policy.VarFlags{}
	fs.Var(vars, "var", "set a policy variable, NAME=VALUE; repeatable")
	if code, done := parse(fs, args, stdout); done {
		return code
	}
	arg, ok := oneArg(fs, stderr)
	if !ok {
		return exitUsage
	}
	if *threshold > 10 {
		fmt.Fprintln(stderr, "policyc plan: --threshold is a score from 0 to 10")
		return exitUsage
	}
	l, code := load(arg, vars, true, stderr, *jsonOut)
	if code != 0 {
		return code
	}
	b := l.bundle
	score, factors := bundle.Exposure(b)
	if *jsonOut {
		writeJSON(stdout, map[string]any{
			"policy": b.Metadata, "filesystem": b.Filesystem, "uncovered_without_daemon": uncovered(b),
			"network": b.Network, "credentials": redacted(b.Credentials),
			"syscalls": map[string]any{"errno": b.Syscalls.Errno, "allowed": names(b.Syscalls.Allowed), "denied": names(b.Syscalls.Denied), "restrictions": b.Syscalls.Restrictions},
			"process":  b.Process, "exposure": map[string]any{"score": score, "factors": factors},
		})
	} else {
		printPlan(stdout, b, score, factors)
	}
	if *threshold >= 0 && score > *threshold {
		fmt.Fprintf(stderr, "policyc plan: exposure %.1f is above the threshold %.1f\n", score, *threshold)
		return exitPolicy
	}
	return exitOK
}

func names(rs []bundle.SyscallRule) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
	}
	return out
}

// redacted drops the credential source locations' details a reviewer does
// not need; the secret itself is never in a bundle.
func redacted(cs []bundle.Credential) []map[string]any {
	out := []map[string]any{}
	for _, c := range cs {
		out = append(out, map[string]any{"name": c.Name, "hosts": c.Hosts, "paths": c.Paths, "methods": c.Methods, "env": c.Env, "header": c.Header, "source": c.Source,
			"strip_response_headers": c.StripHeaders, "base_url_env": c.BaseURLEnv})
	}
	return out
}

// uncovered lists deny rules that can match inside a writable tree. Without
// the daemon, Landlock enforces them only on files that exist at launch.
func uncovered(b *bundle.Bundle) []string {
	out := []string{}
	r, err := b.Filesystem.Resolve(bundle.SampleVars)
	if err != nil {
		return out
	}
	for i, d := range r.Deny {
		for _, g := range r.Grants {
			if g.Access&bundle.Changes != 0 && mayMatchIn(d.Pattern, g.Path) {
				out = append(out, b.Filesystem.Deny[i].Pattern)
				break
			}
		}
	}
	return out
}

func mayMatchIn(p *pathglob.Pattern, dir string) bool {
	return p.Match(dir) || p.MayMatchUnder(dir)
}

func printPlan(w io.Writer, b *bundle.Bundle, score float64, factors []bundle.Factor) {
	m := b.Metadata
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	at := func(r bundle.Rule) string { return fmt.Sprintf("%s:%d", r.File, r.Line) }
	p("Policy %s (%s)", m.Policy, m.Mode)
	if m.Description != "" {
		p("  %s", m.Description)
	}
	var srcs []string
	for _, s := range m.Sources {
		srcs = append(srcs, s.Name)
	}
	p("  sources: %s", strings.Join(srcs, " <- "))
	if len(m.BestEffort) > 0 {
		p("  best effort (may run degraded): %s", strings.Join(m.BestEffort, ", "))
	}

	p("\nFilesystem (Landlock grants; deny rules win over them)")
	for _, kind := range []struct {
		title string
		write bool
	}{{"read", false}, {"write", true}} {
		var rights bundle.Access
		var rows []string
		for _, g := range b.Filesystem.Grants {
			if (g.Access&bundle.Changes != 0) == kind.write {
				rights |= g.Access
				rows = append(rows, fmt.Sprintf("    %-40s %s", g.Path, at(g.Rule)))
			}
		}
		p("  %s [%s]:", kind.title, rights)
		printRows(w, rows)
	}
	for _, kind := range []struct {
		title string
		write bool
	}{{"deny (no access)", false}, {"deny_write (no changes)", true}} {
		var rows []string
		for _, d := range b.Filesystem.Deny {
			if d.WriteOnly == kind.write {
				rows = append(rows, fmt.Sprintf("    %-40s %s", d.Pattern, at(d.Rule)))
			}
		}
		p("  %s:", kind.title)
		printRows(w, rows)
	}
	if u := uncovered(b); len(u) > 0 {
		p("  inside writable trees, so without the daemon (BPF-LSM) files created after launch are not covered:")
		p("    %s", wrap(strings.Join(u, ", "), 100, "    "))
	}

	n := b.Network
	p("\nNetwork (every connection goes through the egress proxy)")
	var rows []string
	for _, a := range n.Allow {
		rows = append(rows, fmt.Sprintf("    %-40s %s", a.Pattern, at(a.Rule)))
	}
	p("  allow (no port: 80 and 443):")
	printRows(w, rows)
	rows = nil
	for _, d := range n.Deny {
		rows = append(rows, fmt.Sprintf("    %-40s %s", d.Pattern, at(d.Rule)))
	}
	p("  deny:")
	printRows(w, rows)
	p("  always denied unless allowed by address: loopback, unspecified, link-local and cloud metadata addresses")
	p("  unknown destinations: %s", n.OnUnknown)
	if n.OnUnknown == bundle.VerdictAsk {
		p("  (held for an answer, denied after %ds)", n.AskTimeoutSeconds)
	}
	p("  listen: %s", n.Listen)
	var socks []string
	for _, u := range n.UnixSockets {
		socks = append(socks, u.Path)
	}
	p("  unix sockets: %s", orNone(socks))

	p("\nCredentials (the sandbox sees a placeholder; names only, never values)")
	if len(b.Credentials) == 0 {
		p("  (none)")
	}
	for _, c := range b.Credentials {
		scope := "all paths"
		if len(c.Paths) > 0 {
			scope = "paths " + strings.Join(c.Paths, ", ")
		}
		methods := "all methods"
		if len(c.Methods) > 0 {
			methods = strings.Join(c.Methods, ", ")
		}
		p("  %-10s $%s -> %s header on %s (%s; %s); read from %s", c.Name, c.Env, c.Header, strings.Join(c.Hosts, ", "), scope, methods, c.Source)
		if c.BaseURLEnv != "" {
			p("  %-10s $%s -> a plain-HTTP reverse listener on loopback that forwards to https://%s with the key", "", c.BaseURLEnv, c.Hosts[0])
		}
		if len(c.StripHeaders) > 0 {
			p("  %-10s response headers stripped: %s", "", strings.Join(c.StripHeaders, ", "))
		}
	}

	s := b.Syscalls
	p("\nSyscalls (seccomp, catalogue %s)", m.Catalogue)
	byRule := map[string][]string{}
	var order []string
	for _, a := range s.Allowed {
		key := fmt.Sprintf("%s (%s)", a.Rule.Text, at(a.Rule))
		if _, ok := byRule[key]; !ok {
			order = append(order, key)
		}
		byRule[key] = append(byRule[key], a.Name)
	}
	p("  allowed: %d", len(s.Allowed))
	for _, k := range order {
		p("    %s: %d", k, len(byRule[k]))
		p("      %s", wrap(strings.Join(byRule[k], " "), 100, "      "))
	}
	p("  argument checks (a call that fails a check gets the errno shown):")
	for _, r := range s.Restrictions {
		p("    %-50s -> %-16s %s", r.Rule.Text, r.Errno, at(r.Rule))
	}
	denied := slices.Clone(s.Denied)
	slices.SortStableFunc(denied, func(a, b bundle.SyscallRule) int {
		return cmp.Or(cmp.Compare(a.Rule.File, b.Rule.File), cmp.Compare(a.Rule.Line, b.Rule.Line), cmp.Compare(a.Rule.Col, b.Rule.Col))
	})
	byRule, order = map[string][]string{}, nil
	for _, d := range denied {
		key := fmt.Sprintf("%s (%s)", d.Rule.Text, at(d.Rule))
		if _, ok := byRule[key]; !ok {
			order = append(order, key)
		}
		byRule[key] = append(byRule[key], d.Name)
	}
	p("  denied by name or group:")
	for _, k := range order {
		p("    %s: %s", k, wrap(strings.Join(byRule[k], " "), 100, "      "))
	}
	p("  everything else: %s. Always: clone3 and numbers newer than the catalogue get ENOSYS; other ABIs (i386, x32) are killed or refused.", s.Errno)
	for _, pr := range s.Programs {
		p("  %s program: %d instructions, worst path %d", pr.Arch, len(pr.Code)/8, pr.LongestPath)
	}

	pr := b.Process
	p("\nProcess")
	p("  user: %s; capabilities kept: %s", pr.User, orNone(pr.Capabilities))
	lim := pr.Limits
	p("  limits: memory %s, pids %s, cpus %s, open files %s, file size %s, cpu time %s",
		size(lim.MemoryBytes), count(lim.Pids), milli(lim.MilliCPUs), count(lim.OpenFiles), size(lim.FileBytes), seconds(lim.CPUSeconds))
	p("  environment passed: %s", orNone(pr.EnvPass))
	var set []string
	for _, e := range pr.EnvSet {
		set = append(set, e.Name+"="+e.Value)
	}
	p("  environment set: %s", orNone(set))

	p("\nExposure: %.1f / 10", score)
	if len(factors) == 0 {
		p("  nothing an attacker wants was found reachable")
	}
	for _, f := range factors {
		p("  +%.1f  %s", f.Points, f.What)
	}
}

func printRows(w io.Writer, rows []string) {
	if len(rows) == 0 {
		fmt.Fprintln(w, "    (none)")
	}
	for _, r := range rows {
		fmt.Fprintln(w, r)
	}
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, ", ")
}

func wrap(s string, width int, indent string) string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	if line != "" {
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n"+indent)
}

func size(b uint64) string {
	if b == 0 {
		return "unlimited"
	}
	for _, u := range []struct {
		n    uint64
		name string
	}{{1 << 40, "TiB"}, {1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if b%u.n == 0 {
			return fmt.Sprintf("%d %s", b/u.n, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", b)
}

func count(n uint64) string {
	if n == 0 {
		return "unlimited"
	}
	return fmt.Sprint(n)
}

func milli(n uint64) string {
	if n == 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%g", float64(n)/1000)
}

func seconds(n uint64) string {
	if n == 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%ds", n)
}

func cmdGroups(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("groups", "[--json] [@GROUP]", stderr)
	jsonOut := fs.Bool("json", false, "print as JSON")
	if code, done := parse(fs, args, stdout); done {
		return code
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return exitUsage
	}
	if fs.NArg() == 1 {
		name := fs.Arg(0)
		g, ok := syscalls.Lookup(name)
		if !ok {
			_, err := syscalls.Expand(name)
			if err == nil {
				err = fmt.Errorf("%q is a syscall, not a group", name)
			}
			fmt.Fprintf(stderr, "policyc groups: %v\n", err)
			return exitUsage
		}
		members, _ := syscalls.Expand(name)
		if *jsonOut {
			writeJSON(stdout, map[string]any{"name": g.Name, "description": g.Description, "includes": g.Includes, "syscalls": members})
			return exitOK
		}
		fmt.Fprintf(stdout, "%s: %s\n", g.Name, g.Description)
		if len(g.Includes) > 0 {
			fmt.Fprintf(stdout, "includes: %s\n", strings.Join(g.Includes, " "))
		}
		fmt.Fprintf(stdout, "%d syscalls:\n  %s\n", len(members), wrap(strings.Join(members, " "), 100, "  "))
		return exitOK
	}
	type row struct {
		Name        string   `json:"name"`
		Description string   `json:"description"`
		Includes    []string `json:"includes"`
		Count       int      `json:"syscalls"`
	}
	var rows []row
	for _, g := range syscalls.Groups() {
		members, _ := syscalls.Expand(g.Name)
		rows = append(rows, row{g.Name, g.Description, g.Includes, len(members)})
	}
	if *jsonOut {
		writeJSON(stdout, map[string]any{"catalogue": syscalls.CatalogueVersion, "groups": rows})
		return exitOK
	}
	fmt.Fprintf(stdout, "Syscall groups, catalogue %s (policyc groups @NAME lists the members)\n", syscalls.CatalogueVersion)
	for _, r := range rows {
		fmt.Fprintf(stdout, "  %-18s %4d  %s\n", r.Name, r.Count, r.Description)
	}
	return exitOK
}
