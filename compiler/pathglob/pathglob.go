// Package pathglob parses and matches the path patterns of a policy's
// filesystem deny rules.
//
// Patterns reach this package after the policy compiler has substituted
// variables such as ${home} and ${workspace}, so a pattern is plain text. It
// is either absolute or starts with "**/":
//
//	/home/u/.ssh        the directory and everything below it
//	/home/u/**/*.pem    any *.pem at any depth under /home/u
//	**/.env*            any component named .env* anywhere
//
// # Syntax
//
// Components are separated by '/'. Within one component:
//
//   - any run of bytes except '/', possibly empty
//     ?        exactly one byte except '/'
//     [abc]    one byte of the set; [a-z] a range; [!a-z] any byte not in it
//     \c       the byte c itself: \* \? \[ \] \\ \! \-
//
// "**" must be a whole component and matches zero or more components. A
// leading "**/" means the same as "/**/". Inside a class, ']' must be escaped,
// '-' is literal when first or last, and only ASCII is allowed; "[^...]" is
// rejected because shells disagree on it (write "[!...]").
//
// # Deny semantics
//
// A pattern matches a path if it matches the path itself or any ancestor of
// it, because denying a directory denies its whole subtree: "/home/u/.ssh"
// matches "/home/u/.ssh/id_rsa", and "**/.env*" matches "/w/.env.d/prod".
//
// Wildcards match a leading dot: "*" matches ".bashrc" and "**" descends into
// hidden directories, so "**/.env*" matches "/w/.env.local" and "**/*.pem"
// matches "/home/u/.config/x/key.pem". Shells hide dotfiles from "*", but a
// deny rule that silently skipped them would be a hole.
//
// Matching is byte-wise and case-sensitive, as Linux file names are. '?' and
// classes see single bytes, so a non-ASCII character is matched by '*' or
// written literally.
//
// Paths given to Match, MatchSelf and MayMatchUnder must be absolute; they are
// cleaned lexically (as filepath.Clean does) before matching. Matching runs
// over all pattern positions at once, one path component at a time, so its
// cost is bounded by the product of the pattern and path lengths whatever the
// pattern holds; patterns are limited to MaxLen bytes.
//
// # Rejected patterns
//
// Parse rejects, with a message that quotes the pattern and says how to fix
// it: the empty pattern; relative patterns ("foo", "./x", "~/x": expand "~" to
// ${home} first); "." and ".." components; empty components ("//"); a
// trailing '/'; the root "/" (it would deny everything); control characters,
// invisible formatting characters (zero-width, bidi) and invalid UTF-8;
// unterminated or empty classes, reversed ranges, a lone trailing '\'; "**"
// glued to other characters ("a**", "**b"); and patterns made only of "**"
// and "*"-like components ("**", "**/*", "/*"), which match nearly every
// path.
package pathglob

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxLen bounds the length of a pattern, so the cost of matching is bounded
// too. It is Linux's PATH_MAX.
const MaxLen = 4096

// Pattern is a parsed, validated deny pattern. Its zero value is not useful;
// use Parse.
type Pattern struct {
	raw   string
	comps []comp // "**/x" is stored as if written "/**/x"
	base  string
	lit   bool
}

type compKind uint8

const (
	compLiteral    compKind = iota // matched by string equality
	compGlob                       // matched element by element
	compDoubleStar                 // zero or more whole components
)

type comp struct {
	kind  compKind
	lit   string // the unescaped name, for compLiteral
	elems []elem // for compGlob
}

type elemKind uint8

const (
	elemLit   elemKind = iota // a run of literal bytes
	elemAny                   // ?
	elemStar                  // *
	elemClass                 // [...]
)

type elem struct {
	kind  elemKind
	lit   string
	class *byteSet // negation already applied
}

type byteSet [4]uint64

func (s *byteSet) add(b byte)      { s[b>>6] |= 1 << (b & 63) }
func (s *byteSet) has(b byte) bool { return s[b>>6]&(1<<(b&63)) != 0 }
func (s *byteSet) invert()         { s[0], s[1], s[2], s[3] = ^s[0], ^s[1], ^s[2], ^s[3] }
func (s *byteSet) addRange(lo, hi byte) {
	for c := int(lo); c <= int(hi); c++ {
		s.add(byte(c))
	}
}

// MustParse is Parse for patterns known to be valid, such as built-in
// defaults; it panics on error.
func MustParse(pattern string) *Pattern {
	p, err := Parse(pattern)
	if err != nil {
		panic(err)
	}
	return p
}

// Parse validates pattern and compiles it for matching.
func Parse(pattern string) (*Pattern, error) {
	if pattern == "" {
		return nil, bad(pattern, "is empty; write an absolute path such as \"${home}/.ssh\" or a pattern such as \"**/.env*\"")
	}
	if len(pattern) > MaxLen {
		return nil, bad(pattern, "is %d bytes long; the limit is %d", len(pattern), MaxLen)
	}
	if err := checkChars(pattern); err != nil {
		return nil, err
	}
	if pattern == "/" {
		return nil, bad(pattern, "is the root directory and would deny everything; name the directory or files to deny")
	}

	var body string
	switch {
	case pattern[0] == '/':
		body = pattern[1:]
	case pattern == "**" || strings.HasPrefix(pattern, "**/"):
		body = pattern // the leading "**" becomes the first component
	default:
		// A glued "**" or a bad class is the more specific mistake; report
		// it first so the hint below does not suggest another bad pattern.
		if pattern[0] != '~' && pattern[0] != '.' && !strings.Contains(pattern, "${") {
			for c := range strings.SplitSeq(pattern, "/") {
				if _, err := parseComp(pattern, c); err != nil && c != "" {
					return nil, err
				}
			}
		}
		return nil, relativeError(pattern)
	}
	if strings.HasSuffix(body, "/") {
		return nil, bad(pattern, "ends with \"/\"; remove it (a directory pattern already covers everything below it)")
	}

	p := &Pattern{raw: pattern}
	for c := range strings.SplitSeq(body, "/") {
		cp, err := parseComp(pattern, c)
		if err != nil {
			return nil, err
		}
		// Consecutive "**" mean the same as one; keeping one keeps matching cheap.
		if cp.kind == compDoubleStar && len(p.comps) > 0 && p.comps[len(p.comps)-1].kind == compDoubleStar {
			continue
		}
		p.comps = append(p.comps, cp)
	}

	if onlyWildcards(p.comps) {
		return nil, bad(pattern, "has only wildcard components and would deny nearly every path; start it with a directory (\"${home}/**/x\") or name the file (\"**/x\")")
	}

	var lits []string
	for _, c := range p.comps {
		if c.kind != compLiteral {
			break
		}
		lits = append(lits, c.lit)
	}
	p.base = "/" + strings.Join(lits, "/")
	p.lit = len(lits) == len(p.comps)
	return p, nil
}

func bad(pattern, format string, args ...any) error {
	return fmt.Errorf("path pattern %q "+format, append([]any{pattern}, args...)...)
}

func checkChars(pattern string) error {
	for i, r := range pattern {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(pattern[i:]); size == 1 {
				return bad(pattern, "is not valid UTF-8 at byte %d; write the policy file in UTF-8", i)
			}
		}
		if unicode.IsControl(r) {
			return bad(pattern, "contains control character %U at byte %d; remove it", r, i)
		}
		// An invisible character (zero-width space, bidi override) makes a
		// rule look like "~/.ssh" while naming another path, so it would
		// protect nothing; no real deny target needs one.
		if unicode.Is(unicode.Cf, r) {
			return bad(pattern, "contains invisible formatting character %U at byte %d; remove it", r, i)
		}
	}
	return nil
}

func relativeError(pattern string) error {
	switch {
	case pattern[0] == '~':
		return bad(pattern, "starts with \"~\", which is not expanded here; write \"${home}\" instead")
	case strings.Contains(pattern, "${"):
		return bad(pattern, "contains an unexpanded variable; use a known one (${home}, ${workspace}) at the start of the pattern")
	case pattern[0] == '.':
		return bad(pattern, "is relative; write it from \"/\", \"${home}/\" or \"${workspace}/\"")
	}
	// Only suggest the any-depth form when it would itself be accepted.
	if _, err := Parse("**/" + pattern); err != nil {
		return bad(pattern, "is relative, and even at any depth (\"**/%s\") it would match nearly every path; name what to deny", pattern)
	}
	return bad(pattern, "is relative; make it absolute (\"/\", \"${home}/\", \"${workspace}/\") or match at any depth with \"**/%s\"", pattern)
}

// parseComp parses one component c of pattern.
func parseComp(pattern, c string) (comp, error) {
	switch c {
	case "":
		return comp{}, bad(pattern, "contains an empty component (\"//\"); remove the extra \"/\"")
	case ".", "..":
		return comp{}, bad(pattern, "contains a %q component; write the path in clean form without \".\" or \"..\"", c)
	case "**":
		return comp{kind: compDoubleStar}, nil
	}

	var elems []elem
	var lit []byte // pending literal bytes
	flush := func() {
		if len(lit) > 0 {
			elems = append(elems, elem{kind: elemLit, lit: string(lit)})
			lit = nil
		}
	}
	wild := false
	for i := 0; i < len(c); i++ {
		switch c[i] {
		case '\\':
			if i+1 == len(c) {
				return comp{}, bad(pattern, "has a \"\\\\\" that escapes nothing at the end of component %q; remove it (\"/\" cannot be escaped)", c)
			}
			i++
			lit = append(lit, c[i])
		case '?':
			flush()
			elems = append(elems, elem{kind: elemAny})
			wild = true
		case '*':
			if i+1 < len(c) && c[i+1] == '*' {
				return comp{}, bad(pattern, "has \"**\" inside component %q; \"**\" must be a whole component (\"/x/**/y\"), use a single \"*\" within a name", c)
			}
			flush()
			elems = append(elems, elem{kind: elemStar})
			wild = true
		case '$':
			// A variable left here is one the compiler did not know; the
			// rule would name a path that does not exist and deny nothing.
			if i+1 < len(c) && c[i+1] == '{' {
				return comp{}, bad(pattern, "contains an unexpanded variable; use a known one (${home}, ${workspace}), or write \"\\${\" for a literal \"${\"")
			}
			lit = append(lit, c[i])
		case '[':
			set, n, err := parseClass(pattern, c[i:])
			if err != nil {
				return comp{}, err
			}
			flush()
			elems = append(elems, elem{kind: elemClass, class: set})
			wild = true
			i += n - 1
		default:
			lit = append(lit, c[i])
		}
	}
	if !wild {
		name := string(lit)
		if name == "." || name == ".." {
			return comp{}, bad(pattern, "contains an escaped %q component, which no clean path has; remove it", name)
		}
		return comp{kind: compLiteral, lit: name}, nil
	}
	flush()
	return comp{kind: compGlob, elems: elems}, nil
}

// parseClass parses the class at the start of s (s[0] == '[') and returns it
// with the number of bytes it spans.
func parseClass(pattern, s string) (*byteSet, int, error) {
	unterminated := bad(pattern, "has an unterminated \"[\" class; close it with \"]\" or write \"\\\\[\" for a literal bracket")
	i := 1
	negate := false
	if i < len(s) && s[i] == '!' {
		negate = true
		i++
	}
	if i < len(s) && s[i] == '^' {
		return nil, 0, bad(pattern, "has a class starting with \"^\"; write \"[!...]\" to negate, or \"\\\\^\" for a literal caret")
	}
	// next reads one class byte, unescaping it; ok is false at the end.
	next := func() (b byte, ok bool, err error) {
		if i >= len(s) {
			return 0, false, unterminated
		}
		b = s[i]
		if b == '\\' {
			i++
			if i >= len(s) {
				return 0, false, unterminated
			}
			b = s[i]
		}
		if b >= utf8.RuneSelf {
			return 0, false, bad(pattern, "has a non-ASCII byte in a class; classes match single bytes, so use \"*\" or write the character literally")
		}
		i++
		return b, true, nil
	}

	set := new(byteSet)
	empty := true
	for {
		if i >= len(s) {
			return nil, 0, unterminated
		}
		if s[i] == ']' {
			i++
			break
		}
		lo, _, err := next()
		if err != nil {
			return nil, 0, err
		}
		hi := lo
		if i+1 < len(s) && s[i] == '-' && s[i+1] != ']' {
			i++
			if hi, _, err = next(); err != nil {
				return nil, 0, err
			}
			if hi < lo {
				return nil, 0, bad(pattern, "has reversed range %q in a class; write it low to high", string([]byte{lo, '-', hi}))
			}
		}
		set.addRange(lo, hi)
		empty = false
	}
	if empty {
		return nil, 0, bad(pattern, "has an empty class \"[]\"; put bytes in it or write \"\\\\[\\\\]\" for literal brackets")
	}
	if negate {
		set.invert()
	}
	return set, i, nil
}

// onlyWildcards reports whether every component is "**" or matches every
// name ("*", "?", "*?*"...), since file names are never empty. Such a pattern
// denies everything at some depth and below.
func onlyWildcards(comps []comp) bool {
	for _, c := range comps {
		switch c.kind {
		case compLiteral:
			return false
		case compGlob:
			ones := 0
			for _, e := range c.elems {
				switch e.kind {
				case elemAny:
					ones++
				case elemStar:
				default:
					return false
				}
			}
			if ones > 1 {
				return false
			}
		}
	}
	return true
}

// String returns the pattern as it was given to Parse.
func (p *Pattern) String() string { return p.raw }

// Literal reports whether the pattern has no wildcard: it names one path
// (Base) and, by the deny semantics, its subtree.
func (p *Pattern) Literal() bool { return p.lit }

// Base returns the longest leading run of literal components as an absolute
// path with escapes removed: "/home/u" for "/home/u/**/*.pem", "/" for
// "**/.env*", the whole path for a literal pattern. Every path the pattern
// matches lies under Base.
func (p *Pattern) Base() string { return p.base }
