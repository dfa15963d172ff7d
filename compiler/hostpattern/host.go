// Package hostpattern defines the network destinations a Paddock policy names
// and the canonical form of a host name.
//
// A host arrives in many spellings: upper case, a trailing dot, Unicode,
// punycode, "127.1", "0x7f000001", "[::ffff:127.0.0.1]". Canonical turns each
// into exactly one value, or refuses it. A name is canonicalised once, and
// that value is matched, logged and dialled: nothing downstream re-parses the
// original text, so a name cannot mean one thing to the matcher and another
// to the resolver.
//
// Patterns are the entries of a policy's network.allow and network.deny lists
// and of credential host lists: an exact name, a "*." wildcard over strict
// subdomains, an IP address, or a CIDR prefix, each with a set of ports.
package hostpattern

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Host is a canonical destination name: either a DNS name (lower-case,
// ASCII/punycode, no trailing dot) or an IP address. Exactly one field is
// set; IP is never a v4-mapped IPv6 address and never has a zone.
type Host struct {
	Name string
	IP   netip.Addr
}

// String returns the name, or the IP address (IPv6 without brackets).
func (h Host) String() string {
	if h.IP.IsValid() {
		return h.IP.String()
	}
	return h.Name
}

// IsIP reports whether h is an IP address rather than a name.
func (h Host) IsIP() bool { return h.IP.IsValid() }

// IsLoopback reports whether h names this machine: "localhost" and its
// subdomains (RFC 6761), loopback addresses, and the unspecified addresses
// 0.0.0.0 and ::, which Linux connects to the local host.
func (h Host) IsLoopback() bool {
	if h.IP.IsValid() {
		return h.IP.IsLoopback() || h.IP.IsUnspecified()
	}
	return isLocalhostName(h.Name)
}

func isLocalhostName(name string) bool {
	return name == "localhost" || strings.HasSuffix(name, ".localhost")
}

const (
	// maxInput bounds the work done on hostile input. A valid name is at
	// most 253 bytes of ASCII; its Unicode spelling may be longer, but not
	// four times longer in any real name.
	maxInput    = 1024
	maxName     = 253
	maxLabel    = 63
	quotePrefix = 40
)

// lookup is the IDNA profile for names: the UTS #46 lookup mapping
// (case folding, width and compatibility mappings), STD3 ASCII rules,
// hyphen and joiner checks, the Bidi rule across the whole name, and DNS
// length limits. It is idna.Lookup plus VerifyDNSLength.
var lookup = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.BidiRule(),
	idna.CheckHyphens(true),
	idna.CheckJoiners(true),
	idna.StrictDomainName(true),
	idna.VerifyDNSLength(true),
)

// Canonical turns an untrusted host string into its one canonical value, or
// explains what is wrong with it.
//
// Names: one trailing dot is removed; ASCII letters are lower-cased; labels
// may hold letters, digits, '-' (not first or last) and '_'. A name with any
// non-ASCII character or any "xn--" label goes through the IDNA lookup
// profile instead, which has no '_' and no "--" in the third and fourth
// positions. A character that IDNA maps to a dot (U+3002, U+FF0E, U+FF61) is
// rejected rather than allowed to split a label in two, and so is one that
// IDNA silently removes (U+00AD, U+200B, U+FEFF and the other "ignored"
// runes of UTS #46).
//
// IP addresses: IPv4 in every spelling inet_aton(3) accepts is decoded, with
// range checks instead of wrap-around; a name whose last label is a number
// must be such a spelling. IPv6 may be bracketed; zones are rejected;
// v4-mapped (::ffff:a.b.c.d) and v4-compatible (::a.b.c.d, except :: and
// ::1) addresses become IPv4.
func Canonical(s string) (Host, error) {
	if s == "" {
		return Host{}, errors.New("empty host")
	}
	if len(s) > maxInput {
		return Host{}, fmt.Errorf("host %s is too long (%d bytes; a name has at most %d)", quoteStart(s), len(s), maxName)
	}
	if err := checkRunes(s); err != nil {
		return Host{}, err
	}
	if s[0] == '[' {
		return canonicalBracketed(s)
	}
	if strings.IndexByte(s, ':') >= 0 {
		return canonicalIPv6(s, s)
	}
	return canonicalName(s)
}

// checkRunes rejects the characters that are never part of a host and that
// other parsers are known to treat as separators or terminators.
func checkRunes(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("host %q is not valid UTF-8", s)
	}
	for _, r := range s {
		switch {
		case r == 0:
			return fmt.Errorf("host %q contains a NUL byte", s)
		case r == '%':
			return fmt.Errorf("host %q contains '%%' (percent-encoding and IPv6 zones are not accepted)", s)
		case r == '@':
			return fmt.Errorf("host %q contains '@' (user info is not part of a host)", s)
		case r == '\\':
			return fmt.Errorf("host %q contains a backslash", s)
		case r == '/':
			return fmt.Errorf("host %q contains '/' (a host has no path)", s)
		case unicode.IsSpace(r):
			return fmt.Errorf("host %q contains whitespace (%U)", s, r)
		case unicode.IsControl(r):
			return fmt.Errorf("host %q contains control character %U", s, r)
		}
	}
	return nil
}

func canonicalBracketed(s string) (Host, error) {
	end := strings.IndexByte(s, ']')
	if end != len(s)-1 {
		return Host{}, fmt.Errorf("host %q has '[' without a final ']'", s)
	}
	inner := s[1:end]
	if strings.IndexByte(inner, ':') < 0 {
		return Host{}, fmt.Errorf("host %q: brackets are only for IPv6 addresses", s)
	}
	return canonicalIPv6(inner, s)
}

func canonicalIPv6(text, orig string) (Host, error) {
	a, err := netip.ParseAddr(text)
	if err != nil || !a.Is6() || a.Zone() != "" {
		return Host{}, fmt.Errorf("host %q contains ':' but is not a valid IPv6 address", orig)
	}
	return Host{IP: canonicalIP(a)}, nil
}

// canonicalIP turns IPv6 forms that carry an IPv4 address into that address,
// so that an IPv4 rule sees them. :: and ::1 keep their IPv6 meaning.
func canonicalIP(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if !a.Is6() {
		return a
	}
	b := a.As16()
	for _, x := range b[:12] {
		if x != 0 {
			return a
		}
	}
	if a == netip.IPv6Unspecified() || a == netip.IPv6Loopback() {
		return a
	}
	return netip.AddrFrom4([4]byte(b[12:]))
}

func canonicalName(s string) (Host, error) {
	name := strings.TrimSuffix(s, ".")
	if name == "" {
		return Host{}, fmt.Errorf("host %q has no labels", s)
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" {
			return Host{}, fmt.Errorf("host %q has an empty label", s)
		}
	}

	var err error
	if isASCII(name) && !hasACELabel(name) {
		name, err = asciiName(name, s)
	} else {
		name, err = idnaName(name, s)
	}
	if err != nil {
		return Host{}, err
	}

	if len(name) > maxName {
		return Host{}, fmt.Errorf("host %q is %d bytes long; a name has at most %d", s, len(name), maxName)
	}
	for label := range strings.SplitSeq(name, ".") {
		if len(label) > maxLabel {
			return Host{}, fmt.Errorf("host %q has a label of %d bytes; a label has at most %d", s, len(label), maxLabel)
		}
	}

	// WHATWG URL and libc both read such names as IPv4; DNS would not.
	// Deciding here removes the disagreement.
	if endsInNumber(name) {
		a, err := parseInetAton(name)
		if err != nil {
			return Host{}, fmt.Errorf("host %q ends in a number but is not a valid IPv4 address: %v", s, err)
		}
		return Host{IP: a}, nil
	}
	return Host{Name: name}, nil
}

// asciiName lower-cases an ASCII name and checks each label. It accepts '_'
// and labels like "r3---sn-abc" that real services use but IDNA rejects.
func asciiName(name, orig string) (string, error) {
	name = lowerASCII(name)
	for label := range strings.SplitSeq(name, ".") {
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !isLDH(c) && c != '_' {
				return "", fmt.Errorf("host %q contains %q, which is not allowed in a host name", orig, c)
			}
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("host %q has label %q, which starts or ends with '-'", orig, label)
		}
	}
	return name, nil
}

// idnaName converts a name with Unicode or punycode labels to its ASCII form.
func idnaName(name, orig string) (string, error) {
	// Two mappings would change the name's shape without anyone seeing it:
	// U+3002 and friends become '.', splitting one label into two, and
	// "ignored" runes (U+00AD, U+200B, U+FEFF, variation selectors) vanish.
	// Refuse both rather than trim or split silently.
	for _, r := range name {
		if r < utf8.RuneSelf {
			continue
		}
		switch m := mapRune(r); {
		case m == "":
			return "", fmt.Errorf("host %q contains the invisible character %U, which IDNA removes", orig, r)
		case strings.IndexByte(m, '.') >= 0:
			return "", fmt.Errorf("host %q contains %U, which IDNA maps to the label separator '.'; write an ASCII dot", orig, r)
		}
	}
	out, err := lookup.ToASCII(name)
	if err != nil {
		return "", fmt.Errorf("host %q is not a valid internationalised domain name (%v)", orig, err)
	}
	// The profile must accept its own output. It does not always: it takes
	// the Bidi class of a mapped rune from the rune before mapping, so
	// U+2137 (class L) passes, while the Hebrew letter it maps to (class R)
	// fails the Bidi rule once the punycode is decoded. Checking the output
	// keeps Canonical idempotent.
	if again, err := lookup.ToASCII(out); err != nil || again != out {
		return "", fmt.Errorf("host %q maps to %q under IDNA, which is not itself a valid name", orig, out)
	}
	// The output must be as many non-empty LDH labels as went in. (The
	// profile does not report an empty last label itself.)
	if strings.Count(out, ".") != strings.Count(name, ".") {
		return "", fmt.Errorf("host %q changes its number of labels under IDNA", orig)
	}
	for label := range strings.SplitSeq(out, ".") {
		if label == "" {
			return "", fmt.Errorf("host %q has a label that IDNA maps to nothing", orig)
		}
	}
	for i := 0; i < len(out); i++ {
		if c := out[i]; !isLDH(c) && c != '.' {
			return "", fmt.Errorf("host %q maps to %q under IDNA, which is not a valid host name", orig, out)
		}
	}
	return out, nil
}

// mapRune returns what the lookup profile makes of r on its own; errors are
// ignored because only the shape of the result matters here.
func mapRune(r rune) string {
	out, _ := lookup.ToASCII(string(r))
	return out
}

func hasACELabel(name string) bool {
	for label := range strings.SplitSeq(name, ".") {
		if len(label) >= 4 && strings.EqualFold(label[:4], "xn--") {
			return true
		}
	}
	return false
}

func isLDH(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-'
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// quoteStart quotes the beginning of an over-long input for a message.
func quoteStart(s string) string {
	if len(s) <= quotePrefix {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q...", s[:quotePrefix])
}
