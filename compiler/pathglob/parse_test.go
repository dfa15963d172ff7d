package pathglob

import (
	"strconv"
	"strings"
	"testing"
)

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		pattern string
		base    string
		literal bool
	}{
		{"/home/u/.ssh", "/home/u/.ssh", true},
		{"/home/u/.bashrc", "/home/u/.bashrc", true},
		{"/w/.git/hooks", "/w/.git/hooks", true},
		{"/a", "/a", true},
		{"/home/u/**/*.pem", "/home/u", false},
		{"/home/u/**", "/home/u", false},
		{"/home/u/*/x", "/home/u", false},
		{"**/.env*", "/", false},
		{"**/*.pem", "/", false},
		{"**/.git/hooks", "/", false},
		{"/**/id_rsa", "/", false},
		{"/a/**/**/b", "/a", false},
		{"/a/[abc]", "/a", false},
		{"/a/[a-z]x", "/a", false},
		{"/a/[!a-z]", "/a", false},
		{"/a/[a-]", "/a", false},
		{"/a/[-a]", "/a", false},
		{"/a/[\\]]", "/a", false},
		{"/a/?", "/a", false},
		{"/a/??", "/a", false}, // two bytes: not every name
		{"/*/x", "/", false},
		{"/a/\\*b/c", "/a/*b/c", true}, // escapes make it literal; Base unescapes
		{"/a/\\[x\\]", "/a/[x]", true},
		{"/a/\\\\", "/a/\\", true},
		{"/a/\\*\\*", "/a/**", true},
		{"/a/*\\**", "/a", false}, // "*", literal "*", "*": not a glued "**"
		{"/a/.../b", "/a/.../b", true},
		{"/a/..b", "/a/..b", true},
		{"/home/ü/.ssh", "/home/ü/.ssh", true},
		{"/a b/c", "/a b/c", true},
		{"/a/]", "/a/]", true},
		{"/a/!x", "/a/!x", true},
		{"/a/^x", "/a/^x", true},
		{"/a/[\\^]", "/a", false},
		{"/a/\\${x}", "/a/${x}", true},
		{"/a/$x{", "/a/$x{", true},
	}
	for _, tt := range tests {
		p, err := Parse(tt.pattern)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.pattern, err)
			continue
		}
		if p.String() != tt.pattern {
			t.Errorf("Parse(%q).String() = %q", tt.pattern, p.String())
		}
		if p.Base() != tt.base {
			t.Errorf("Parse(%q).Base() = %q, want %q", tt.pattern, p.Base(), tt.base)
		}
		if p.Literal() != tt.literal {
			t.Errorf("Parse(%q).Literal() = %v, want %v", tt.pattern, p.Literal(), tt.literal)
		}
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		pattern string
		want    string // a substring of the message besides the quoted pattern
	}{
		{"", "is empty"},
		{"foo/bar", "is relative"},
		{"foo", `"**/foo"`},
		{"*.pem", `"**/*.pem"`},
		{"./x", "is relative"},
		{"../x", "is relative"},
		{"~/x", "${home}"},
		{"~", "${home}"},
		{"${home}/.ssh", "unexpanded variable"},
		{"/w/${project}/.env", "unexpanded variable"},
		{"**/${x}", "unexpanded variable"},
		{"/a/./b", `"." component`},
		{"/a/../b", `".." component`},
		{"/a/..", `".." component`},
		{"/.", `"." component`},
		{"/a/\\.", "escaped"},
		{"/a//b", `empty component ("//")`},
		{"//a", `empty component ("//")`},
		{"/a/", `ends with "/"`},
		{"**/", `ends with "/"`},
		{"/", "root directory"},
		{"/a/\x00b", "control character"},
		{"/a/b\n", "control character"},
		{"/a/\tb", "control character"},
		{"/a/\x7f", "control character"},
		{"/a/\u0085", "control character"},
		{"/a/\xff", "not valid UTF-8"},
		{"/home/u/.s\u200bsh", "invisible formatting character U+200B"},
		{"/home/u/\u202e.ssh", "invisible formatting character U+202E"},
		{"/a/[b", `unterminated "["`},
		{"/a/[", `unterminated "["`},
		{"/a/[\\]", `unterminated "["`},
		{"/a/[!", `unterminated "["`},
		{"/a/[]", "empty class"},
		{"/a/[!]", "empty class"},
		{"/a/[^a]", `"[!...]"`},
		{"/a/[z-a]", "reversed range"},
		{"/a/[é]", "non-ASCII"},
		{"/a/b\\", "escapes nothing"},
		{"/a/b\\/c", "escapes nothing"},
		{"/a**", `"**" inside component`},
		{"/a/**b", `"**" inside component`},
		{"/a/***", `"**" inside component`},
		{"a**", `"**" inside component`},
		{"**b/c", `"**" inside component`},
		{"**", "only wildcard"},
		{"**/**", "only wildcard"},
		{"**/*", "only wildcard"},
		{"**/**/*", "only wildcard"},
		{"/*", "only wildcard"},
		{"/**", "only wildcard"},
		{"/*/*", "only wildcard"},
		{"/*/**", "only wildcard"},
		{"**/?", "only wildcard"},
		{"**/*?*", "only wildcard"},
		{"/" + strings.Repeat("a", MaxLen), "the limit is"},
	}
	for _, tt := range tests {
		p, err := Parse(tt.pattern)
		if err == nil {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tt.pattern, p, tt.want)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, strconv.Quote(tt.pattern)) {
			t.Errorf("Parse(%q) error %q does not quote the pattern", tt.pattern, msg)
		}
		if !strings.Contains(msg, tt.want) {
			t.Errorf("Parse(%q) error %q, want it to contain %q", tt.pattern, msg, tt.want)
		}
		if msg != strings.ToLower(msg[:1])+msg[1:] {
			t.Errorf("Parse(%q) error %q does not start in lower case", tt.pattern, msg)
		}
	}
}

func TestParseMaxLen(t *testing.T) {
	long := "/" + strings.Repeat("a/", MaxLen/2-1) + "b"
	if len(long) > MaxLen {
		t.Fatalf("test pattern is %d bytes", len(long))
	}
	if _, err := Parse(long); err != nil {
		t.Errorf("Parse of a %d-byte pattern: %v", len(long), err)
	}
}

func TestParseCollapsesDoubleStars(t *testing.T) {
	p := MustParse("/a/**/**/**/b")
	if len(p.comps) != 3 {
		t.Errorf("comps = %d, want 3 (a, **, b)", len(p.comps))
	}
	if p.String() != "/a/**/**/**/b" {
		t.Errorf("String() = %q, want the pattern as given", p.String())
	}
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustParse(\"foo\") did not panic")
		}
	}()
	MustParse("foo")
}
