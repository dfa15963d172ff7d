package pathglob

import (
	"math/rand/v2"
	"path"
	"strings"
	"testing"
	"time"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern string
		path    string
		match   bool // Match: the path or an ancestor
		self    bool // MatchSelf: the path itself
	}{
		// Literal paths and their subtrees.
		{"/home/u/.ssh", "/home/u/.ssh", true, true},
		{"/home/u/.ssh", "/home/u/.ssh/id_rsa", true, false},
		{"/home/u/.ssh", "/home/u/.ssh/a/b/c/d", true, false},
		{"/home/u/.ssh", "/home/u", false, false},
		{"/home/u/.ssh", "/home/u/.sshx", false, false},
		{"/home/u/.ssh", "/home/u/.ss", false, false},
		{"/home/u/.ssh", "/home/U/.ssh", false, false}, // case-sensitive
		{"/home/u/.ssh", "/", false, false},
		{"/w/.git/hooks", "/w/.git/hooks/pre-commit", true, false},
		{"/w/.git/hooks", "/w/.git/hook", false, false},

		// "**" at the start: any depth, including directly under "/".
		{"**/.env*", "/.env", true, true},
		{"**/.env*", "/w/.env", true, true},
		{"**/.env*", "/w/.env.local", true, true},
		{"**/.env*", "/w/a/b/c/.envrc", true, true},
		{"**/.env*", "/w/.env.d/prod", true, false},
		{"**/.env*", "/w/x.env", false, false},
		{"**/.env*", "/w/env", false, false},
		{"**/.env*", "/", false, false},
		{"**/*.pem", "/home/u/.config/x/key.pem", true, true},
		{"**/*.pem", "/.pem", true, true}, // '*' matches an empty run
		{"**/*.pem", "/a/b.pem.bak", false, false},
		{"**/*.pem", "/a/b.pem/c", true, false},
		{"**/.git/hooks", "/w/.git/hooks", true, true},
		{"**/.git/hooks", "/w/sub/.git/hooks/x", true, false},
		{"**/.git/hooks", "/w/.git/x/hooks", false, false},
		{"/**/id_rsa", "/id_rsa", true, true},
		{"/**/id_rsa", "/a/b/id_rsa", true, true},

		// "**" in the middle, including zero components.
		{"/home/u/**/*.pem", "/home/u/k.pem", true, true},
		{"/home/u/**/*.pem", "/home/u/a/b/k.pem", true, true},
		{"/home/u/**/*.pem", "/home/u/.hidden/k.pem", true, true},
		{"/home/u/**/*.pem", "/home/v/k.pem", false, false},
		{"/home/u/**/*.pem", "/home/k.pem", false, false},
		{"/a/**/b/c", "/a/b/c", true, true},
		{"/a/**/b/c", "/a/x/b/c", true, true},
		{"/a/**/b/c", "/a/b/b/c", true, true},
		{"/a/**/b/c", "/a/b/x/c", false, false},
		{"/a/**/b/**/c", "/a/b/c", true, true},
		{"/a/**/b/**/c", "/a/x/b/y/z/c/d", true, false},
		{"/a/**/**/b", "/a/b", true, true},

		// "**" at the end: the directory itself and everything below.
		{"/home/u/**", "/home/u", true, true},
		{"/home/u/**", "/home/u/x/y", true, true},
		{"/home/u/**", "/home", false, false},
		{"/home/u/**", "/home/uu", false, false},

		// Single-component wildcards never cross '/'.
		{"/a/*", "/a/b", true, true},
		{"/a/*", "/a/b/c", true, false},
		{"/a/*", "/a", false, false},
		{"/a/*/c", "/a/b/c", true, true},
		{"/a/*/c", "/a/b/x/c", false, false},
		{"/a/?", "/a/b", true, true},
		{"/a/?", "/a/bc", false, false},
		{"/a/?", "/a/é", false, false}, // two bytes; '?' is one byte
		{"/a/??", "/a/é", true, true},
		{"/a/b*c*d", "/a/bxxcxxd", true, true},
		{"/a/b*c*d", "/a/bcd", true, true},
		{"/a/b*c*d", "/a/bdc", false, false},
		{"/a/*x*", "/a/x", true, true},
		{"/a/*.*.*", "/a/a.b.c", true, true},
		{"/a/*.*.*", "/a/a.b", false, false},

		// Dotfiles: '*' matches a leading dot.
		{"/home/u/*", "/home/u/.bashrc", true, true},
		{"/home/u/*rc", "/home/u/.zshrc", true, true},
		{"/home/u/?bashrc", "/home/u/.bashrc", true, true},

		// Classes.
		{"/a/[abc]", "/a/b", true, true},
		{"/a/[abc]", "/a/d", false, false},
		{"/a/[a-z]1", "/a/q1", true, true},
		{"/a/[a-z]1", "/a/Q1", false, false},
		{"/a/[!a-z]1", "/a/Q1", true, true},
		{"/a/[!a-z]1", "/a/q1", false, false},
		{"/a/[!a-z]", "/a/.", false, false}, // "/a/." cleans to "/a"
		{"/a/[a-]", "/a/-", true, true},
		{"/a/[-a]", "/a/-", true, true},
		{"/a/[\\]]", "/a/]", true, true},
		{"/a/[\\!x]", "/a/!", true, true},
		{"/a/[.]env", "/a/.env", true, true},
		{"/a/id_[rd]sa*", "/a/id_rsa.pub", true, true},
		{"/a/id_[rd]sa*", "/a/id_ed25519", false, false},

		// Escapes.
		{"/a/\\*", "/a/*", true, true},
		{"/a/\\*", "/a/b", false, false},
		{"/a/\\?", "/a/?", true, true},
		{"/a/\\?", "/a/b", false, false},
		{"/a/\\[b\\]", "/a/[b]", true, true},
		{"/a/\\[b\\]", "/a/b", false, false},
		{"/a/\\\\", "/a/\\", true, true},
		{"/a/x\\*y*", "/a/x*yz", true, true},
		{"/a/x\\*y*", "/a/xzyz", false, false},

		// Deep paths.
		{"**/secret", "/" + strings.Repeat("d/", 500) + "secret", true, true},
		{"**/secret", "/" + strings.Repeat("d/", 500) + "secret/x", true, false},
		{"/d/**/d/secret", "/" + strings.Repeat("d/", 500) + "secret", true, true},
		{"**/secret", "/" + strings.Repeat("d/", 500) + "secrets", false, false},

		// Unclean paths are cleaned; relative paths never match.
		{"/home/u/.ssh", "/home/u//.ssh/", true, true},
		{"/home/u/.ssh", "/home/u/x/../.ssh/k", true, false},
		{"/home/u/.ssh", "/home/u/.ssh/.", true, true},
		{"/home/u/.ssh", "home/u/.ssh", false, false},
		{"**/.env", ".env", false, false},
		{"**/.env", "", false, false},
	}
	for _, tt := range tests {
		p := MustParse(tt.pattern)
		if got := p.Match(tt.path); got != tt.match {
			t.Errorf("Parse(%q).Match(%q) = %v, want %v", tt.pattern, tt.path, got, tt.match)
		}
		if got := p.MatchSelf(tt.path); got != tt.self {
			t.Errorf("Parse(%q).MatchSelf(%q) = %v, want %v", tt.pattern, tt.path, got, tt.self)
		}
	}
}

// The root itself is never matched: "/" and the all-wildcard patterns that
// could match it are rejected by Parse.
func TestMatchRootNever(t *testing.T) {
	for _, s := range []string{"/a", "**/a", "/**/a", "**/.env*", "/a/**", "/??", "/[!x]"} {
		p := MustParse(s)
		if p.Match("/") || p.MatchSelf("/") {
			t.Errorf("Parse(%q) matches \"/\"", s)
		}
	}
}

func TestMayMatchUnder(t *testing.T) {
	tests := []struct {
		pattern string
		dir     string
		want    bool
	}{
		{"/home/u/.ssh", "/", true},
		{"/home/u/.ssh", "/home", true},
		{"/home/u/.ssh", "/home/u", true},
		{"/home/u/.ssh", "/home/u/.ssh", true}, // matched itself: all below is denied
		{"/home/u/.ssh", "/home/u/.ssh/x", true},
		{"/home/u/.ssh", "/home/v", false},
		{"/home/u/.ssh", "/home/u/src", false},
		{"/home/u/.ssh", "/etc", false},
		{"/home/u/.ssh", "/home/u/.sshx", false},
		{"**/.env*", "/", true},
		{"**/.env*", "/usr/share/doc", true},
		{"**/.env*", "/w/.env.d", true},
		{"/home/u/**/*.pem", "/home/u/a/b", true},
		{"/home/u/**/*.pem", "/home/u", true},
		{"/home/u/**/*.pem", "/home/v", false},
		{"/home/u/**/*.pem", "/usr", false},
		{"/a/*/c", "/a/b", true},
		{"/a/*/c", "/a/b/c", true},
		{"/a/*/c", "/a/b/d", false},
		{"/a/*/c", "/a/b/c/d", true},
		{"/a/*/c", "/b", false},
		{"/a/?/c", "/a/bb", false},
		{"/a/[xy]/c", "/a/z", false},
		{"/a/[xy]/c", "/a/x", true},
		{"/a/**/b/c", "/a/q/r/s", true},
		{"/a/**/b/c", "/b", false},
		{"/w/.git/hooks", "/w/.git", true},
		{"/w/.git/hooks", "/w/src", false},
		{"/w/.git/hooks", "/w/.git/objects", false},
		{"/home/u/.ssh", "home/u", true}, // relative: nothing can be ruled out
	}
	for _, tt := range tests {
		p := MustParse(tt.pattern)
		if got := p.MayMatchUnder(tt.dir); got != tt.want {
			t.Errorf("Parse(%q).MayMatchUnder(%q) = %v, want %v", tt.pattern, tt.dir, got, tt.want)
		}
	}
}

// Random patterns and trees: if a path strictly under dir matches, then
// MayMatchUnder(dir) must be true, whatever dir's own state. Both Match and
// MatchSelf are also checked against an independent reference matcher.
func TestMayMatchUnderProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	paths := treePaths([]string{"a", "b", "ab", ".env.x", "k.pem", "*", "-"}, 4)
	parsed, matches := 0, 0
	for range 300 {
		s := randomPattern(rng)
		p, err := Parse(s)
		if err != nil {
			continue
		}
		parsed++
		for _, q := range paths {
			checkPath(t, p, q)
			checkCursor(t, p, q)
			if p.MatchSelf(q) {
				matches++
			}
		}
	}
	// Guard against a generator that stops exercising anything.
	if parsed < 200 || matches < 1000 {
		t.Fatalf("only %d patterns parsed and %d self-matches; the generator is too weak", parsed, matches)
	}
	t.Logf("%d patterns, %d paths, %d self-matches", parsed, len(paths), matches)
}

// checkCursor checks that stepping a cursor from each ancestor of q to q,
// one component at a time, decides as MatchSelf and MayMatchUnder of q do.
func checkCursor(t *testing.T, p *Pattern, q string) {
	t.Helper()
	if q == "/" {
		return
	}
	dir, name := path.Split(q)
	c, ok := p.Cursor(path.Clean(dir))
	if !ok {
		t.Fatalf("Parse(%q).Cursor(%q): not ok", p, dir)
	}
	if c.Accepts(name) != p.MatchSelf(q) {
		t.Fatalf("Parse(%q): Cursor(%q).Accepts(%q) = %v, MatchSelf(%q) = %v", p, dir, name, c.Accepts(name), q, p.MatchSelf(q))
	}
	c = c.Step(name)
	if c.MatchSelf() != p.MatchSelf(q) || c.MayMatchUnder() != p.MayMatchUnder(q) {
		t.Fatalf("Parse(%q): a cursor stepped to %q says MatchSelf %v, MayMatchUnder %v; the path says %v, %v",
			p, q, c.MatchSelf(), c.MayMatchUnder(), p.MatchSelf(q), p.MayMatchUnder(q))
	}
	// From the root, a component at a time.
	c, _ = p.Cursor("/")
	for _, e := range strings.Split(q[1:], "/") {
		c = c.Step(e)
	}
	if c.MatchSelf() != p.MatchSelf(q) || c.MayMatchUnder() != p.MayMatchUnder(q) {
		t.Fatalf("Parse(%q): a cursor stepped from / to %q disagrees with the path", p, q)
	}
}

// checkPath checks every invariant that links Match, MatchSelf and
// MayMatchUnder for one path q, and compares with the reference when it can.
func checkPath(t *testing.T, p *Pattern, q string) {
	t.Helper()
	m, self := p.Match(q), p.MatchSelf(q)
	if self && !m {
		t.Fatalf("Parse(%q): MatchSelf(%q) but not Match", p, q)
	}
	parent := path.Dir(q)
	if q != "/" {
		if want := self || p.Match(parent); m != want {
			t.Fatalf("Parse(%q).Match(%q) = %v, but MatchSelf = %v and Match(%q) = %v", p, q, m, self, parent, p.Match(parent))
		}
	}
	if m {
		for a := parent; ; a = path.Dir(a) {
			if a == q {
				break
			}
			if !p.MayMatchUnder(a) {
				t.Fatalf("Parse(%q).MayMatchUnder(%q) = false, but %q below it matches", p, a, q)
			}
			if a == "/" {
				break
			}
		}
	}
	if want, ok := refMatchSelf(p.String(), q); ok && want != self {
		t.Fatalf("Parse(%q).MatchSelf(%q) = %v, reference says %v", p, q, self, want)
	}
}

func TestHostilePatterns(t *testing.T) {
	// Sizes are kept small so the test is fast even under -race on a loaded
	// machine, yet a backtracking matcher would need more steps on them
	// than there are atoms in the universe (C(300,60) ways to place the
	// "**"s, 2^100 ways to split the "*a" runs).
	deep := "/" + strings.Repeat("a/", 300) + "c"
	var names []string
	for range 60 {
		names = append(names, "a*")
	}
	tests := []struct {
		pattern, path string
		under         bool // MayMatchUnder(path): false only where no state survives
	}{
		{"/a/**/**/**/**/**/**/**/**/b", deep, true},
		{"/" + strings.Repeat("**/a/", 60) + "b", deep, true},
		{"**/" + strings.Repeat("a/**/", 60) + "b", deep, true},
		{"/" + strings.Repeat("*a", 100) + "b", "/" + strings.Repeat("a", 1000), false},
		{"**/" + strings.Join(names, "/") + "/b", deep, true},
		{"**/" + strings.Repeat("?", 100) + "*b", "/" + strings.Repeat("a/", 10) + strings.Repeat("a", 1000), true},
	}
	start := time.Now()
	for _, tt := range tests {
		p := MustParse(tt.pattern)
		if p.Match(tt.path) || p.MatchSelf(tt.path) {
			t.Errorf("Parse(%.40q...) matches a path that ends in a non-b name", tt.pattern)
		}
		if got := p.MayMatchUnder(tt.path); got != tt.under {
			t.Errorf("Parse(%.40q...).MayMatchUnder = %v, want %v", tt.pattern, got, tt.under)
		}
	}
	// The bound is loose on purpose: it tells the complexity class apart,
	// not speed (this takes about a millisecond).
	if d := time.Since(start); d > time.Second {
		t.Errorf("hostile patterns took %v; matching must stay polynomial", d)
	}
}

// treePaths returns every path of up to depth components over names.
func treePaths(names []string, depth int) []string {
	out := []string{"/"}
	level := []string{""}
	for range depth {
		var next []string
		for _, d := range level {
			for _, n := range names {
				next = append(next, d+"/"+n)
			}
		}
		out = append(out, next...)
		level = next
	}
	return out
}

var patternParts = []string{
	"a", "b", "ab", ".env", "k.pem", "\\*", "-",
	"*", "?", "a*", "*b", "*.pem", ".env*", "*a*", "[ab]", "[!a]", "[a-b]*", "?b", "[-]", "[.]*",
	"**", "**",
}

func randomPattern(rng *rand.Rand) string {
	var b strings.Builder
	if rng.IntN(3) == 0 {
		b.WriteString("**")
	}
	for range 1 + rng.IntN(4) {
		b.WriteString("/")
		b.WriteString(patternParts[rng.IntN(len(patternParts))])
	}
	return b.String()
}

// refMatchSelf is an independent reference for MatchSelf built on
// path.Match for single components. ok is false where path.Match cannot
// stand in: non-ASCII paths ('?' is a rune there), classes path.Match does
// not parse, and inputs big enough to make the plain recursion slow.
func refMatchSelf(pattern, name string) (match, ok bool) {
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 {
			return false, false
		}
	}
	if strings.HasPrefix(pattern, "/") {
		pattern = pattern[1:]
	}
	pcs := strings.Split(pattern, "/")
	var ncs []string
	if name != "/" {
		ncs = strings.Split(name[1:], "/")
	}
	if len(pcs) > 12 || len(ncs) > 12 || len(pattern) > 256 || len(name) > 256 {
		return false, false
	}
	for i, c := range pcs {
		pcs[i] = toGoClass(c)
		if c != "**" {
			if _, err := path.Match(pcs[i], ""); err != nil {
				return false, false
			}
		}
	}
	var rec func(pi, ni int) bool
	rec = func(pi, ni int) bool {
		if pi == len(pcs) {
			return ni == len(ncs)
		}
		if pcs[pi] == "**" {
			for k := ni; k <= len(ncs); k++ {
				if rec(pi+1, k) {
					return true
				}
			}
			return false
		}
		if ni == len(ncs) {
			return false
		}
		ok, _ := path.Match(pcs[pi], ncs[ni])
		return ok && rec(pi+1, ni+1)
	}
	return rec(0, 0), true
}

// toGoClass rewrites "[!" as "[^", the negation path.Match understands.
func toGoClass(c string) string {
	var b strings.Builder
	inClass := false
	for i := 0; i < len(c); i++ {
		switch {
		case c[i] == '\\' && i+1 < len(c):
			b.WriteString(c[i : i+2])
			i++
			continue
		case !inClass && c[i] == '[':
			inClass = true
			b.WriteByte('[')
			if i+1 < len(c) && c[i+1] == '!' {
				b.WriteByte('^')
				i++
			}
			continue
		case inClass && c[i] == ']':
			inClass = false
		}
		b.WriteByte(c[i])
	}
	return b.String()
}
