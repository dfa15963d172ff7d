package credential

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/paddock-sh/paddock/compiler/bundle"
)

// Binding is one credential of a sandbox with its secret.
type Binding struct {
	c      bundle.Credential
	header string // canonical form of c.Header
	value  string // the header value: c.Format with the secret
}

// Name is the credential's name, as the policy gives it.
func (b *Binding) Name() string { return b.c.Name }

// Rule is where the policy defines the credential.
func (b *Binding) Rule() bundle.Rule { return b.c.Rule }

// Header is the request header the secret goes into.
func (b *Binding) Header() string { return b.header }

// Value is the header value, secret included. Only the proxy's request to
// the bound host may carry it.
func (b *Binding) Value() string { return b.value }

// Set is the credentials of one sandbox. The zero of *Set (nil) has none.
type Set struct {
	all    []*Binding
	byHost map[string][]*Binding
	scrub  scrubber
	// reverse maps a base URL variable to the credential it forwards for.
	reverse map[string]*Binding
}

// New binds each credential to its secret, read by load (Load for the
// sandbox's owner). Any failure fails the whole set: a sandbox never starts
// with some of its credentials.
func New(creds []bundle.Credential, load func(bundle.Credential) ([]byte, error)) (*Set, error) {
	if len(creds) == 0 {
		return nil, nil
	}
	s := &Set{byHost: map[string][]*Binding{}, reverse: map[string]*Binding{}}
	for _, c := range creds {
		secret, err := load(c)
		if err != nil {
			return nil, err
		}
		b := &Binding{c: c, header: canonicalHeader(c.Header), value: strings.Replace(c.Format, "%s", string(secret), 1)}
		// The header is written into requests as it is: a name that is not
		// a token, or a value with a control byte, would split the head.
		if !isToken(b.header) {
			return nil, fmt.Errorf("credential %s: header %q is not an HTTP header name", c.Name, c.Header)
		}
		if strings.ContainsFunc(b.value, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return nil, fmt.Errorf("credential %s: format %q makes a header value with a control character", c.Name, c.Format)
		}
		s.all = append(s.all, b)
		for _, h := range c.Hosts {
			s.byHost[h] = append(s.byHost[h], b)
		}
		if c.BaseURLEnv != "" && len(c.Hosts) == 1 {
			s.reverse[c.BaseURLEnv] = b
		}
		s.scrub.add(secret, c.Placeholder)
	}
	return s, nil
}

// Bound reports whether some credential names host (canonical): the proxy
// terminates TLS to it, and to no other host.
func (s *Set) Bound(host string) bool {
	return s != nil && len(s.byHost[host]) > 0
}

// Reverse lists the credentials that have a plain-HTTP reverse listener,
// by the variable that carries its URL.
func (s *Set) Reverse() map[string]*Binding {
	if s == nil {
		return nil
	}
	return s.reverse
}

// Host is the host a reverse binding forwards to.
func (b *Binding) Host() string { return b.c.Hosts[0] }

// Match returns the credentials to inject into a request to host with
// method and path (the escaped path, without the query), and, for each
// bound credential that does not apply, why not.
func (s *Set) Match(host, method, path string) (apply []*Binding, skipped []string) {
	if s == nil {
		return nil, nil
	}
	clean := cleanPath(path)
	for _, b := range s.byHost[host] {
		switch {
		case len(b.c.Methods) > 0 && !slices.Contains(b.c.Methods, method):
			skipped = append(skipped, fmt.Sprintf("credential %s is bound to %s for %s only, not %s", b.c.Name, host, strings.Join(b.c.Methods, ", "), method))
		case len(b.c.Paths) > 0 && !clean:
			skipped = append(skipped, fmt.Sprintf("credential %s is bound to paths of %s and the request path is not a plain path (dot segments, encoded separators)", b.c.Name, host))
		case len(b.c.Paths) > 0 && !slices.ContainsFunc(b.c.Paths, func(p string) bool { return underPrefix(path, p) }):
			skipped = append(skipped, fmt.Sprintf("credential %s is bound to %s under %s only", b.c.Name, host, strings.Join(b.c.Paths, ", ")))
		default:
			if !slices.ContainsFunc(apply, func(a *Binding) bool { return a.header == b.header }) {
				apply = append(apply, b)
			}
		}
	}
	return apply, skipped
}

// StripHeaders lists the response headers to remove for host.
func (s *Set) StripHeaders(host string) []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, b := range s.byHost[host] {
		out = append(out, b.c.StripHeaders...)
	}
	return out
}

// underPrefix reports whether path is prefix or below it, at a segment
// boundary: "/v1" covers "/v1" and "/v1/x", not "/v10".
func underPrefix(path, prefix string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || strings.HasSuffix(prefix, "/") || path[len(prefix)] == '/'
}

// cleanPath reports whether an escaped request path means what it says to
// any server: no dot segments, no empty segments, no encoded or backslash
// separators, no parameters. A path-bound credential goes only with such
// paths, so "/repos/ours/../../theirs" never carries it.
func cleanPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\;") {
		return false
	}
	lower := strings.ToLower(p)
	for _, enc := range []string{"%2e", "%2f", "%5c", "%00", "%3b"} {
		if strings.Contains(lower, enc) {
			return false
		}
	}
	for _, seg := range strings.Split(p[1:], "/")[0:] {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return !strings.Contains(p, "//")
}

// Scrub replaces every secret of the set (and its common encodings) in v
// with the credential's placeholder.
func (s *Set) Scrub(v string) string {
	if s == nil {
		return v
	}
	return s.scrub.replaceString(v)
}

// Scrubs reports whether the set has secrets to scrub.
func (s *Set) Scrubs() bool { return s != nil && len(s.scrub.pats) > 0 }

// Placeholders returns the names of the credentials whose placeholder
// appears in v (any name, known or not).
func Placeholders(v string) []string {
	const p = "paddock:cred:"
	var out []string
	for {
		i := strings.Index(v, p)
		if i < 0 {
			return out
		}
		v = v[i+len(p):]
		n := 0
		for n < len(v) && (v[n] >= 'a' && v[n] <= 'z' || v[n] >= '0' && v[n] <= '9' || v[n] == '-' || v[n] == '_') {
			n++
		}
		if name := v[:n]; !slices.Contains(out, name) {
			out = append(out, name)
		}
		v = v[n:]
	}
}

// canonicalHeader is the MIME canonical form of a header name.
func canonicalHeader(h string) string {
	b := []byte(h)
	upper := true
	for i, c := range b {
		switch {
		case upper && 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case !upper && 'A' <= c && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
		upper = c == '-'
	}
	return string(b)
}

// encodings are the spellings of a secret an echoing server might send
// back: as is, URL-escaped, JSON-escaped, base64.
func encodings(secret []byte) [][]byte {
	s := string(secret)
	out := [][]byte{secret}
	add := func(v string) {
		if v != "" && !slices.ContainsFunc(out, func(o []byte) bool { return string(o) == v }) {
			out = append(out, []byte(v))
		}
	}
	add(url.QueryEscape(s))
	add(url.PathEscape(s))
	if j, err := json.Marshal(s); err == nil {
		add(string(j[1 : len(j)-1]))
		add(strings.ReplaceAll(string(j[1:len(j)-1]), "/", `\/`))
	}
	add(base64.StdEncoding.EncodeToString(secret))
	add(base64.RawStdEncoding.EncodeToString(secret))
	add(base64.URLEncoding.EncodeToString(secret))
	add(base64.RawURLEncoding.EncodeToString(secret))
	return out
}

// isToken reports whether s is an HTTP token (RFC 9110 tchar+).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
