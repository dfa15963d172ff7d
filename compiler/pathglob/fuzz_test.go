package pathglob

import (
	"path"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

var seedPatterns = []string{
	"/home/u/.ssh", "/home/u/.aws", "/home/u/.bashrc", "/w/.git/hooks", "/w/.claude/settings.json",
	"**/.env*", "**/*.pem", "**/*.key", "**/.git/hooks", "/**/id_rsa",
	"/home/u/**/*.pem", "/home/u/**", "/a/**/b/**/c", "/a/**/**/b", "/a/*/c", "/*/x",
	"/a/?", "/a/??", "/a/[abc]", "/a/[a-z]1", "/a/[!a-z]", "/a/[a-]", "/a/[-a]", "/a/[\\]]",
	"/a/\\*", "/a/\\[b\\]", "/a/\\\\", "/a/x\\*y*", "/a/*\\**", "/a/b*c*d", "/a/*.*.*",
	"/home/ü/.ssh", "/a b/c", "/a/]", "/a/^x",
	// Rejected ones, so the fuzzer starts from every error path.
	"", "foo", "./x", "~/x", "${home}/x", "/", "/a/", "/a//b", "/a/./b", "/a/..", "/a/\\.",
	"/a/\x00", "/a/\xff", "/a/[b", "/a/[]", "/a/[^a]", "/a/[z-a]", "/a/[é]", "/a/b\\", "/a**",
	"**b/c", "**", "**/*", "/*", "/**", "**/?",
}

var seedPaths = []string{
	"/", "/home", "/home/u/.ssh", "/home/u/.ssh/id_rsa", "/w/.env.local", "/w/.env.d/prod",
	"/home/u/a/b/k.pem", "/a/b/c", "/a/x/b/y/c/d", "/a/é", "/a/*", "/a/[b]", "/a/\\", "/a/-",
	"/home/u//.ssh/", "/a/../b", "relative/x", "",
}

func FuzzParse(f *testing.F) {
	for _, s := range seedPatterns {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			msg := err.Error()
			if !strings.Contains(msg, strconv.Quote(s)) {
				t.Fatalf("Parse(%q) error %q does not quote the pattern", s, msg)
			}
			return
		}
		q, err := Parse(p.String())
		if err != nil {
			t.Fatalf("Parse(%q) ok, but Parse(String()) = %v", s, err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("Parse(%q) and Parse(String()) differ: %+v vs %+v", s, p, q)
		}
		base := p.Base()
		if !strings.HasPrefix(base, "/") || path.Clean(base) != base {
			t.Fatalf("Parse(%q).Base() = %q is not absolute and clean", s, base)
		}
		if p.Literal() && !p.MatchSelf(base) {
			t.Fatalf("literal Parse(%q) does not match its Base %q", s, base)
		}
		if !p.MayMatchUnder(base) {
			t.Fatalf("Parse(%q).MayMatchUnder(Base %q) = false", s, base)
		}
		if p.Match("/") {
			t.Fatalf("Parse(%q) matches \"/\"", s)
		}
	})
}

func FuzzMatch(f *testing.F) {
	for _, s := range seedPatterns {
		for _, q := range seedPaths {
			f.Add(s, q)
		}
	}
	f.Fuzz(func(t *testing.T, s, q string) {
		p, err := Parse(s)
		if err != nil {
			return
		}
		if !strings.HasPrefix(q, "/") {
			if p.Match(q) || p.MatchSelf(q) || !p.MayMatchUnder(q) {
				t.Fatalf("Parse(%q) on relative %q: Match %v, MatchSelf %v, MayMatchUnder %v",
					s, q, p.Match(q), p.MatchSelf(q), p.MayMatchUnder(q))
			}
			return
		}
		c := path.Clean(q)
		if p.Match(q) != p.Match(c) || p.MatchSelf(q) != p.MatchSelf(c) || p.MayMatchUnder(q) != p.MayMatchUnder(c) {
			t.Fatalf("Parse(%q): %q and its clean form %q disagree", s, q, c)
		}
		checkPath(t, p, c)
		checkCursor(t, p, c)
	})
}
