package hostpattern

import (
	"strings"
	"testing"
	"unicode"
)

var hostSeeds = []string{
	"", ".", "..", "example.com", "Example.COM.", "example.com..", ".example.com",
	"localhost", "app.localhost", "_srv._tcp.example.com", "r3---sn-abc.googlevideo.com",
	"-a.com", "a-.com", "xn--", "xn--bcher-kva.example", "XN--BCHER-KVA.EXAMPLE", "xn--abc.com",
	"xn--zz", "bücher.example", "BÜCHER.example", "ß.de", "аpple.com", "ｅｘａｍｐｌｅ.com",
	"a\u3002b.com", "a\uff0eb.com", "a\uff61b", "evil.com\uff0f.good.com", "a\u2215b", "a\u2044b",
	"goo\u00adgle.com", "ab\u200dc", "\u2488.com", "\u05e9\u05dc\u05d5\u05dd.com", "\u05e9\u05dc\u05d5\u05dd.1abc",
	"\u0661\u0662.com", "١٢٧.0.0.1", "１２７.0.0.1", "\u212a.com", "\ufeffexample.com",
	"exa\x00mple.com", "example.com\x00.evil", "a%2eb", "u@x.com", "a\\b", "a/b", "a b", "a\tb", "\x7f",
	"\xff\xfe", "\xc0\xae", "127.0.0.1", "127.1", "127.0.1", "0x7f.1", "0x7F000001", "0177.0.0.1",
	"2130706433", "017700000001", "4294967295", "4294967296", "0x100000000", "256.1.1.1",
	"1.2.3.4.5", "08.1.1.1", "0x", "0x.0x.0x.0x", "1.2.3.999", "example.123", "example.0x",
	"1.2.3.0xg", "0xfoo", "00000000000000000000000000000000000000000000000000000000000000000001",
	"::", "::1", "[::1]", "[::1]]", "[[::1]]", "[::1", "::1]", "[1.2.3.4]", "fe80::1%eth0",
	"::ffff:1.2.3.4", "::ffff:7f00:1", "::1.2.3.4", "::0.0.0.1", "64:ff9b::1.2.3.4",
	"2001:db8::1:443", "1:2:3:4:5:6:7:8:9", "example.com:443",
	strings.Repeat("a", 63) + ".com", strings.Repeat("a", 64) + ".com", strings.Repeat("a.", 126) + "a",
	strings.Repeat("ü", 30) + ".com", strings.Repeat("\u00ad", 20) + ".com",
}

var patternSeeds = []string{
	"", "*", "*:443", "*.com", "*.co.uk", "*.github.io", "*.localhost", "*.corp", "*.рф",
	"a.*.com", "*foo.com", "**.x.com", "*.*.x.com", "*.", "*.10.0.0.1", "*.123",
	"api.example.com", "*.example.com", "api.example.com:8443", "api.example.com:*",
	"*.example.com:443", "localhost", "localhost:3000", "192.0.2.10", "192.0.2.10:5432",
	"[2001:db8::1]:443", "2001:db8::1", "10.0.0.0/8", "10.0.0.0/8:5432", "10.0.0.0/8:*",
	"[2001:db8::/32]:443", "2001:db8::/32", "2001:db8::/32:443", "10.0.0.1/8", "10.0.0.1/32",
	"0.0.0.0/0", "::/0", "::/64", "10.0.0.0/7", "10/8", "10.0.0.0/08", "10.0.0.0/33",
	"::ffff:10.0.0.0/104", "::10.0.0.0/104", "::1/128", "[::ffff:10.0.0.1]:22",
	"https://x.com", "x.com/path", "x.com/", "x.com:443/path", "u@x.com", "u:p@x.com:443",
	"x.com:0", "x.com:65536", "x.com:080", "x.com:", "x.com:+1", "[x.com]:443", "[10.0.0.0/8]:443",
	"2130706433", "127.1:8080", "*.bücher.example", "*.ｅｘａｍｐｌｅ.com", "*.a\u3002b.com",
}

func FuzzCanonical(f *testing.F) {
	for _, s := range hostSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := Canonical(s)
		if err != nil {
			if h != (Host{}) {
				t.Fatalf("Canonical(%q) returned %#v with error %v", s, h, err)
			}
			return
		}
		checkHost(t, s, h)
		again, err := Canonical(h.String())
		if err != nil {
			t.Fatalf("Canonical(%q) = %q, but Canonical(%q): %v", s, h, h, err)
		}
		if again != h {
			t.Fatalf("Canonical(%q) = %#v, but Canonical(%q) = %#v", s, h, h, again)
		}
	})
}

func FuzzParsePattern(f *testing.F) {
	for _, s := range patternSeeds {
		f.Add(s)
	}
	for _, s := range hostSeeds {
		f.Add(s)
		f.Add(s + ":443")
		f.Add("*." + s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePattern(s)
		if err != nil {
			return
		}
		text := p.String()
		if text == "" || strings.ContainsAny(text, "\x00%@\\ \t\r\n") || text != strings.ToLower(text) {
			t.Fatalf("ParsePattern(%q).String() = %q", s, text)
		}
		if p.Broad() <= 0 || p.Broad() > 1 {
			t.Fatalf("ParsePattern(%q).Broad() = %v", s, p.Broad())
		}
		switch p.Kind {
		case Exact, Wildcard:
			checkHost(t, s, Host{Name: p.Domain})
			if p.Prefix.IsValid() {
				t.Fatalf("ParsePattern(%q) = %+v: name pattern with a prefix", s, p)
			}
		case Addr, Prefix:
			if p.Domain != "" || !p.Prefix.IsValid() || p.Prefix != p.Prefix.Masked() || p.Prefix.Addr().Is4In6() {
				t.Fatalf("ParsePattern(%q) = %+v: bad prefix", s, p)
			}
			if (p.Kind == Addr) != p.Prefix.IsSingleIP() {
				t.Fatalf("ParsePattern(%q) = %+v: kind does not fit prefix", s, p)
			}
		default:
			t.Fatalf("ParsePattern(%q) = %+v: unknown kind", s, p)
		}
		again, err := ParsePattern(text)
		if err != nil {
			t.Fatalf("ParsePattern(%q) = %q, but ParsePattern(%q): %v", s, text, text, err)
		}
		if !samePattern(again, p) {
			t.Fatalf("ParsePattern(%q) = %+v, but ParsePattern(%q) = %+v", s, p, text, again)
		}
	})
}

// checkHost asserts the promises a canonical Host makes.
func checkHost(t *testing.T, in string, h Host) {
	t.Helper()
	if h.IsIP() == (h.Name != "") {
		t.Fatalf("Canonical(%q) = %#v: exactly one of Name and IP must be set", in, h)
	}
	if h.IsIP() {
		if h.IP.Is4In6() || h.IP.Zone() != "" {
			t.Fatalf("Canonical(%q) = %v: mapped or zoned", in, h.IP)
		}
		return
	}
	name := h.Name
	if len(name) > maxName || strings.HasSuffix(name, ".") || strings.HasPrefix(name, ".") || strings.Contains(name, "..") {
		t.Fatalf("Canonical(%q) = %q: bad shape", in, name)
	}
	for _, r := range name {
		if r == 0 || r == '%' || r == '@' || r == '\\' || r == '/' || unicode.IsSpace(r) ||
			'A' <= r && r <= 'Z' || r >= 0x7f || r < 0x20 {
			t.Fatalf("Canonical(%q) = %q: contains %q", in, name, r)
		}
		if !(isLDH(byte(r)) || r == '_' || r == '.') {
			t.Fatalf("Canonical(%q) = %q: contains %q outside LDH", in, name, r)
		}
	}
	for label := range strings.SplitSeq(name, ".") {
		if len(label) > maxLabel {
			t.Fatalf("Canonical(%q) = %q: label longer than %d", in, name, maxLabel)
		}
	}
	if endsInNumber(name) {
		t.Fatalf("Canonical(%q) = %q: a name ending in a number", in, name)
	}
}
