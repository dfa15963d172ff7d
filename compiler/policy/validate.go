package policy

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/compiler/hostpattern"
	"github.com/paddock-sh/paddock/compiler/pathglob"
	"github.com/paddock-sh/paddock/compiler/suggest"
	"github.com/paddock-sh/paddock/compiler/syscalls"
)

// validate checks a merged policy. It reports every problem it finds, not
// only the first, so one run of policyc check shows them all.
func validate(p *Policy) hcl.Diagnostics {
	v := &validator{}
	v.settings(p)
	v.filesystem(p)
	v.network(p)
	v.credentials(p)
	v.syscalls(p)
	v.process(p)
	return v.diags
}

type validator struct{ diags hcl.Diagnostics }

func (v *validator) add(d *hcl.Diagnostic) { v.diags = append(v.diags, d) }

// oneOf checks an optional setting against its allowed values.
func (v *validator) oneOf(e *Entry, allowed ...string) {
	if e != nil && !contains(allowed, e.Value) {
		v.add(errAt(e.Range, hintFor(e.Value, allowed), "%s must be %s, not %q", e.Field, orList(allowed), e.Value))
	}
}

func (v *validator) settings(p *Policy) {
	if !policyName().MatchString(p.Name) {
		v.add(errAt(p.NameRange, "use lower-case letters, digits, '-' and '_', starting with a letter", "policy name %q is not a valid name", p.Name))
	}
	v.oneOf(p.Mode, bundle.ModeEnforce, bundle.ModeAudit)
	for _, e := range p.BestEffort {
		v.oneOf(&e, bundle.Layers...)
	}
}

var policyName = lazyRegexp(`^[a-z][a-z0-9_-]{0,62}$`)

// filesystem: grants are absolute trees, deny rules are patterns, and no rule
// may make another meaningless.
func (v *validator) filesystem(p *Policy) {
	for _, e := range p.Read {
		v.grantPath(e, false)
	}
	for _, e := range p.Write {
		v.grantPath(e, true)
	}
	for _, e := range p.UnixSockets {
		v.grantPath(e, false)
	}
	denies := make([]*pathglob.Pattern, len(p.Deny))
	for i, e := range p.Deny {
		denies[i] = v.denyPattern(e)
	}
	for _, e := range p.DenyWrite {
		v.denyPattern(e)
	}
	// A grant that a deny rule covers entirely grants nothing: the author
	// meant one of the two, and the policy cannot say which.
	for _, g := range append(append([]Entry{}, p.Read...), p.Write...) {
		sample := bundle.SampleExpand(g.Value)
		for i, d := range p.Deny {
			if denies[i] != nil && denies[i].Match(sample) {
				v.add(errAt(g.Range, fmt.Sprintf("remove one of them (the deny rule is at %s)", where(d.Range)), "%s %q is entirely denied by filesystem.deny %q", g.Field, g.Value, d.Value))
				break
			}
		}
	}
}

func (v *validator) grantPath(e Entry, write bool) {
	if v.template(e) != nil {
		return
	}
	if bundle.IsGlob(e.Value) {
		v.add(errAt(e.Range, "to keep something out of a granted tree, grant the tree and list the pattern under deny", "%s %q is a pattern; grants are paths", e.Field, e.Value))
		return
	}
	if !absoluteTemplate(e.Value) {
		v.add(errAt(e.Range, relativeHint(e.Value), "%s %q is a relative path", e.Field, e.Value))
		return
	}
	sample := bundle.SampleExpand(e.Value)
	if clean := filepath.Clean(sample); clean != sample {
		v.add(errAt(e.Range, "write it without '.', '..', '//' or a trailing '/'", "%s %q is not a clean path", e.Field, e.Value))
		return
	}
	if write && e.Value == "/" {
		v.add(errAt(e.Range, "grant the directories the agent works in", "%s \"/\" would make the whole filesystem writable", e.Field))
	}
}

func (v *validator) denyPattern(e Entry) *pathglob.Pattern {
	if v.template(e) != nil {
		return nil
	}
	if strings.HasPrefix(e.Value, "${") && !absoluteTemplate(e.Value) {
		v.add(errAt(e.Range, relativeHint(e.Value), "%s %q is a relative pattern", e.Field, e.Value))
		return nil
	}
	// pathglob words relative patterns best ("match at any depth with **/x").
	pat, err := pathglob.Parse(bundle.SampleExpand(e.Value))
	if err != nil {
		v.add(errAt(e.Range, "", "%s: %s", e.Field, bundle.UnsampleText(err.Error())))
		return nil
	}
	return pat
}

func (v *validator) template(e Entry) error {
	err := bundle.CheckTemplate(e.Value)
	if err != nil {
		v.add(errAt(e.Range, "", "%s: %v", e.Field, err))
	}
	return err
}

// absoluteTemplate: a path that is absolute once its leading variable is
// resolved. ${user} is a name, not a directory, so it cannot lead.
func absoluteTemplate(t string) bool {
	for _, lead := range []string{"/", "${workspace}", "${home}", "${tmp}", "${env:"} {
		if strings.HasPrefix(t, lead) {
			return true
		}
	}
	return false
}

func relativeHint(s string) string {
	if strings.HasPrefix(s, "~") {
		return "policies do not expand ~; write ${home}" + strings.TrimPrefix(s, "~")
	}
	return "start it with /, ${workspace}, ${home} or ${tmp}"
}

func (v *validator) network(p *Policy) {
	allowed := map[string]Entry{}
	for _, e := range p.Allow {
		if pat, ok := v.host(e); ok {
			allowed[pat.String()] = e
		}
	}
	for _, e := range p.DenyHosts {
		if pat, ok := v.host(e); ok {
			if a, dup := allowed[pat.String()]; dup {
				v.add(errAt(e.Range, fmt.Sprintf("remove one of them (the allow rule is at %s)", where(a.Range)), "%q is both allowed and denied", e.Value))
			}
		}
	}
	v.oneOf(p.Listen, bundle.ListenNone, bundle.ListenLoopback, bundle.ListenAny)
	v.oneOf(p.OnUnknown, bundle.VerdictDeny, bundle.VerdictAsk)
	if e := p.AskTimeout; e != nil {
		if _, err := askTimeout(e.Value); err != nil {
			v.add(errAt(e.Range, `write a duration such as "30s" or "2m"`, "%s: %v", e.Field, err))
		}
	}
}

func (v *validator) host(e Entry) (hostpattern.Pattern, bool) {
	pat, err := hostpattern.ParsePattern(e.Value)
	if err != nil {
		v.add(errAt(e.Range, "", "%s: %v", e.Field, err))
		return pat, false
	}
	return pat, true
}

func askTimeout(s string) (int, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration", s)
	}
	if d < time.Second || d > time.Hour {
		return 0, fmt.Errorf("%v is outside 1s..1h", d)
	}
	return int(d / time.Second), nil
}

var (
	credName   = lazyRegexp(`^[a-z][a-z0-9_-]{0,62}$`)
	headerName = lazyRegexp("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	methods    = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
)

func (v *validator) credentials(p *Policy) {
	names := map[string]*Credential{}
	envs := map[string]*Credential{}
	passed := map[string]Entry{}
	for _, e := range p.EnvPass {
		passed[e.Value] = e
	}
	var allow []hostpattern.Pattern
	for _, e := range p.Allow {
		if pat, err := hostpattern.ParsePattern(e.Value); err == nil {
			allow = append(allow, pat)
		}
	}
	reachable := func(h hostpattern.Pattern) bool {
		host := hostpattern.Host{Name: h.Domain}
		for _, a := range allow {
			if a.Match(host, 443) {
				return true
			}
		}
		return false
	}
	for _, c := range p.Credentials {
		if prev, ok := names[c.Name]; ok {
			v.add(errAt(c.Range, "", "credential %q is defined twice; the first is at %s", c.Name, where(prev.Range)))
			continue
		}
		names[c.Name] = c
		if !credName().MatchString(c.Name) {
			v.add(errAt(c.Range, "use lower-case letters, digits, '-' and '_'", "credential name %q is not a valid name", c.Name))
		}
		for _, h := range c.Hosts {
			pat, ok := v.host(h)
			if !ok {
				continue
			}
			if pat.Kind != hostpattern.Exact || pat.Ports != hostpattern.DefaultPorts {
				v.add(errAt(h.Range, "name each host exactly, without wildcard, address or port", "%s %q: a credential binds to exact host names", h.Field, h.Value))
			} else if !reachable(pat) {
				v.add(errAt(h.Range, "add it to network.allow, or drop it from the credential", "%s %q: network.allow does not allow this host on port 443, so the credential could never be used", h.Field, h.Value))
			}
		}
		if c.Env != nil {
			if !envName().MatchString(c.Env.Value) {
				v.add(errAt(c.Env.Range, "", "%s %q is not an environment variable name", c.Env.Field, c.Env.Value))
			} else if prev, ok := envs[c.Env.Value]; ok {
				v.add(errAt(c.Env.Range, "", "credentials %q and %q both use %s", prev.Name, c.Name, c.Env.Value))
			} else if pe, ok := passed[c.Env.Value]; ok {
				v.add(errAt(pe.Range, fmt.Sprintf("remove it from process.env.pass; credential %q sets it to a placeholder", c.Name), "process.env.pass would hand the real %s to the sandbox", c.Env.Value))
			}
			envs[c.Env.Value] = c
		}
		if c.BaseURLEnv != nil {
			switch {
			case !envName().MatchString(c.BaseURLEnv.Value):
				v.add(errAt(c.BaseURLEnv.Range, "", "%s %q is not an environment variable name", c.BaseURLEnv.Field, c.BaseURLEnv.Value))
			case envs[c.BaseURLEnv.Value] != nil:
				v.add(errAt(c.BaseURLEnv.Range, "", "credentials %q and %q both use %s", envs[c.BaseURLEnv.Value].Name, c.Name, c.BaseURLEnv.Value))
			case c.Env != nil && c.Env.Value == c.BaseURLEnv.Value:
				v.add(errAt(c.BaseURLEnv.Range, "", "%s and %s are the same variable", c.Env.Field, c.BaseURLEnv.Field))
			default:
				if pe, ok := passed[c.BaseURLEnv.Value]; ok {
					v.add(errAt(pe.Range, fmt.Sprintf("remove it from process.env.pass; credential %q sets it", c.Name), "process.env.pass and %s both set %s", c.BaseURLEnv.Field, c.BaseURLEnv.Value))
				}
				envs[c.BaseURLEnv.Value] = c
			}
			if len(c.Hosts) != 1 {
				v.add(errAt(c.BaseURLEnv.Range, "split it into one credential per host", "%s needs exactly one host to forward to, not %d", c.BaseURLEnv.Field, len(c.Hosts)))
			}
		}
		for _, e := range c.StripResponseHeaders {
			if !headerName().MatchString(e.Value) {
				v.add(errAt(e.Range, "", "%s %q is not an HTTP header name", e.Field, e.Value))
			}
		}
		if c.Header != nil && !headerName().MatchString(c.Header.Value) {
			v.add(errAt(c.Header.Range, "", "%s %q is not an HTTP header name", c.Header.Field, c.Header.Value))
		}
		if c.Format != nil && (strings.Count(c.Format.Value, "%s") != 1 || strings.Count(c.Format.Value, "%") != 1) {
			v.add(errAt(c.Format.Range, `for example "Bearer %s"`, "%s %q must contain %%s exactly once", c.Format.Field, c.Format.Value))
		}
		if c.Source != nil {
			scheme, rest, _ := strings.Cut(c.Source.Value, ":")
			switch {
			case scheme == "file" && strings.HasPrefix(rest, "/"):
			case scheme == "env" && envName().MatchString(rest):
			default:
				v.add(errAt(c.Source.Range, `write "file:/path/readable/by/root/only" or "env:NAME" (the daemon's environment); a secret never goes in a policy`, "%s %q does not say where the daemon reads the secret", c.Source.Field, c.Source.Value))
			}
		}
		for _, e := range c.Paths {
			if !strings.HasPrefix(e.Value, "/") || strings.ContainsAny(e.Value, "?#%\\") || strings.Contains(e.Value, "..") {
				v.add(errAt(e.Range, `write a plain path prefix such as "/repos/"`, "%s %q is not a path prefix", e.Field, e.Value))
			}
		}
		for _, e := range c.Methods {
			if !contains(methods, e.Value) {
				v.add(errAt(e.Range, hintFor(e.Value, methods), "%s %q is not one of %s", e.Field, e.Value, strings.Join(methods, ", ")))
			}
		}
	}
}

func (v *validator) syscalls(p *Policy) {
	v.oneOfErrno(p.Errno)
	allowed := map[string]bool{} // allowed by some rule, before denials
	byName := map[string]Entry{}
	for _, e := range p.SyscallAllow {
		names, err := syscalls.Expand(e.Value)
		if err != nil {
			v.addErr(e, err)
			continue
		}
		for _, n := range names {
			allowed[n] = true
		}
		if !strings.HasPrefix(e.Value, "@") {
			byName[e.Value] = e
		}
		if e.Value == "clone3" {
			v.add(warnAt(e.Range, "glibc falls back to clone, whose flags the policy can check", "clone3 always fails with ENOSYS in a sandbox"))
		}
	}
	for _, e := range p.SyscallDeny {
		if _, err := syscalls.Expand(e.Value); err != nil {
			v.addErr(e, err)
			continue
		}
		if a, ok := byName[e.Value]; ok {
			v.add(errAt(e.Range, fmt.Sprintf("remove one of them (the allow rule is at %s)", where(a.Range)), "syscall %s is both allowed and denied by name", e.Value))
		}
	}
	for _, r := range p.Restrictions {
		v.restriction(r, allowed)
	}
}

func (v *validator) oneOfErrno(e *Entry) {
	if e == nil {
		return
	}
	if _, ok := syscalls.Errno(e.Value); !ok {
		v.add(errAt(e.Range, hintFor(e.Value, syscalls.ErrnoNames()), "%s %q is not an errno name", e.Field, e.Value))
	}
}

// addErr reports a catalogue error, moving its "(did you mean ...)" into
// the hint line.
func (v *validator) addErr(e Entry, err error) {
	msg, hint := splitSuggestion(err.Error())
	v.add(errAt(e.Range, hint, "%s: %s", e.Field, msg))
}

// splitSuggestion takes "(did you mean X?)" out of a message, wherever it
// sits, and returns it as a hint.
func splitSuggestion(s string) (msg, hint string) {
	i := strings.Index(s, " (did you mean ")
	if i < 0 {
		return s, ""
	}
	j := strings.Index(s[i:], "?)")
	if j < 0 {
		return s, ""
	}
	return s[:i] + s[i+j+2:], strings.TrimPrefix(s[i+1:i+j+1], "(")
}

func (v *validator) restriction(r *Restriction, allowed map[string]bool) {
	if !syscalls.Known(r.Syscall) {
		_, err := syscalls.Expand(r.Syscall)
		v.addErr(Entry{Value: r.Syscall, Range: r.Range, Field: "syscalls.restrict"}, err)
		return
	}
	// A restriction on a syscall that a deny rule then removes is moot, not
	// wrong: a child policy may deny what its parent restricts.
	if !allowed[r.Syscall] {
		v.add(errAt(r.Range, "allow it in syscalls.allow, or drop this block", "restrict %q: the policy does not allow %s, so there is nothing to restrict", r.Syscall, r.Syscall))
		return
	}
	if r.Arg == nil {
		return // HCL already reported the missing argument
	}
	_, bits, err := syscalls.ArgIndex(r.Syscall, r.Arg.Value)
	if err != nil {
		v.addErr(*r.Arg, err)
		return
	}
	if (len(r.In) == 0) == (len(r.NotIn) == 0) {
		v.add(errAt(r.BlockRange, `write in = [...] (the values allowed) or not_in = [...] (the values refused)`, "restrict %q needs exactly one of in or not_in", r.Syscall))
		return
	}
	mask, ok := v.values(r.Mask, 0)
	if len(r.Mask) == 0 {
		mask, ok = ^uint64(0), true
	}
	if !ok {
		return
	}
	if bits == 32 {
		mask &= 0xffffffff
	}
	for _, e := range append(append([]Entry{}, r.In...), r.NotIn...) {
		val, ok := v.values([]Entry{e}, 0)
		if ok && val&^mask != 0 {
			v.add(errAt(e.Range, "the value must fit in the argument and the mask", "%s %q (%#x) has bits outside the mask %#x (a %d-bit argument), so it can never match", e.Field, e.Value, val, mask, bits))
		}
	}
	v.oneOfErrno(r.Errno)
}

// values ORs parsed argument values; ok is false after reporting an error.
func (v *validator) values(es []Entry, acc uint64) (uint64, bool) {
	ok := true
	for _, e := range es {
		val, err := syscalls.ParseValue(e.Value)
		if err != nil {
			v.addErr(e, err)
			ok = false
			continue
		}
		acc |= val
	}
	return acc, ok
}

var capName = lazyRegexp(`^CAP_[A-Z_]+$`)

func (v *validator) process(p *Policy) {
	if e := p.User; e != nil && e.Value != "inherit" {
		if _, err := strconv.ParseUint(e.Value, 10, 32); err != nil && !userName().MatchString(e.Value) {
			v.add(errAt(e.Range, `"inherit", a user name or a numeric uid`, "%s %q is not a user", e.Field, e.Value))
		}
	}
	for _, e := range p.Capabilities {
		if !capName().MatchString(e.Value) || !contains(bundle.Capabilities, e.Value) {
			v.add(errAt(e.Range, hintFor(e.Value, bundle.Capabilities), "%s %q is not a capability", e.Field, e.Value))
		}
	}
	for _, l := range p.Limits {
		if _, err := limitValue(l.Key, l.Value.Value); err != nil {
			v.add(errAt(l.Value.Range, "", "%s: %v", l.Value.Field, err))
		}
	}
	for _, e := range p.EnvPass {
		if !envName().MatchString(e.Value) {
			v.add(errAt(e.Range, "", "%s %q is not an environment variable name", e.Field, e.Value))
		}
	}
	for _, s := range p.EnvSet {
		if !envName().MatchString(s.Name) {
			v.add(errAt(s.Value.Range, "", "process.env.set: %q is not an environment variable name", s.Name))
		}
		if err := bundle.CheckTemplate(s.Value.Value); err != nil {
			v.add(errAt(s.Value.Range, "", "%s: %v", s.Value.Field, err))
		}
	}
}

var userName = lazyRegexp(`^[a-z_][a-z0-9_-]{0,31}\$?$`)

func hintFor(input string, candidates []string) string {
	if n := suggest.Nearest(input, candidates); n != "" {
		return fmt.Sprintf("did you mean %q?", n)
	}
	return ""
}

func orList(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = strconv.Quote(x)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
