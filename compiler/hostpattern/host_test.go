package hostpattern

import (
	"net/netip"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestCanonical(t *testing.T) {
	tests := []struct {
		in, want string
		ip       bool
	}{
		{"example.com", "example.com", false},
		{"Example.COM", "example.com", false},
		{"example.com.", "example.com", false},
		{"localhost", "localhost", false},
		{"LOCALHOST.", "localhost", false},
		{"_acme-challenge.example.com", "_acme-challenge.example.com", false},
		{"r3---sn-abc.googlevideo.com", "r3---sn-abc.googlevideo.com", false},
		{"3com.com", "3com.com", false},
		{"123.example", "123.example", false},
		{"0xfoo", "0xfoo", false},
		{"example.0xg", "example.0xg", false},
		{"a.b.c.d.e.f", "a.b.c.d.e.f", false},
		{strings.Repeat("a", 63) + ".com", strings.Repeat("a", 63) + ".com", false},

		// IDNA.
		{"BÜCHER.example", "xn--bcher-kva.example", false},
		{"bücher.example", "xn--bcher-kva.example", false},
		{"XN--BCHER-KVA.example", "xn--bcher-kva.example", false},
		{"ｅｘａｍｐｌｅ.com", "example.com", false},     // full-width letters fold to ASCII
		{"ß.de", "xn--zca.de", false},             // non-transitional: ß is kept
		{"аpple.com", "xn--pple-43d.com", false},  // Cyrillic а: a different name, never apple.com
		{"a\u2044b.com", "xn--ab-c6t.com", false}, // fraction slash is a letter-like rune, not '/'
		{"\u05e9\u05dc\u05d5\u05dd.com", "xn--9dbne9b.com", false},
		{"1.2.3.0xg", "1.2.3.0xg", false}, // last label is not a number, so this is a name, as for inet_aton and WHATWG

		// IPv4, in inet_aton spellings (more in TestInetAton).
		{"127.0.0.1", "127.0.0.1", true},
		{"127.1", "127.0.0.1", true},
		{"2130706433", "127.0.0.1", true},
		{"0X7F.0.0.1", "127.0.0.1", true},
		{"127.0.0.1.", "127.0.0.1", true},
		{"１２７.0.0.1", "127.0.0.1", true}, // full-width digits fold, then decode

		// IPv6.
		{"::1", "::1", true},
		{"[::1]", "::1", true},
		{"2001:DB8:0:0:0:0:0:1", "2001:db8::1", true},
		{"[2001:db8::1]", "2001:db8::1", true},
		{"::ffff:1.2.3.4", "1.2.3.4", true},
		{"[::ffff:7f00:1]", "127.0.0.1", true},
		{"::1.2.3.4", "1.2.3.4", true}, // IPv4-compatible
		{"::", "::", true},
		{"::0.0.0.1", "::1", true}, // that is ::1, which keeps its IPv6 meaning
		{"64:ff9b::1.2.3.4", "64:ff9b::102:304", true},
	}
	for _, tt := range tests {
		h, err := Canonical(tt.in)
		if err != nil {
			t.Errorf("Canonical(%q): %v", tt.in, err)
			continue
		}
		if h.String() != tt.want || h.IsIP() != tt.ip {
			t.Errorf("Canonical(%q) = %q (ip %v), want %q (ip %v)", tt.in, h, h.IsIP(), tt.want, tt.ip)
		}
		if h.IsIP() && h.Name != "" || !h.IsIP() && h.Name == "" {
			t.Errorf("Canonical(%q) = %#v: exactly one field must be set", tt.in, h)
		}
		if h.IsIP() && (h.IP.Is4In6() || h.IP.Zone() != "") {
			t.Errorf("Canonical(%q) = %v: IP not unmapped", tt.in, h.IP)
		}
	}
}

func TestCanonicalRejects(t *testing.T) {
	tests := []struct{ in, phrase string }{
		{"", "empty host"},
		{".", "has no labels"},
		{"example.com..", "empty label"},
		{".example.com", "empty label"},
		{"a..b", "empty label"},
		{"exa\x00mple.com", "NUL"},
		{"example.com\x00.evil.com", "NUL"},
		{"example%2ecom", "'%'"},
		{"fe80::1%eth0", "'%'"},
		{"[fe80::1%25eth0]", "'%'"},
		{"user@example.com", "'@'"},
		{"example.com\\evil.com", "backslash"},
		{"example.com/evil", "'/'"},
		{"exa mple.com", "whitespace"},
		{"example.com\t", "whitespace"},
		{"example.com\u3000", "whitespace"},
		{"example\x01.com", "control character"},
		{"example\x7f.com", "control character"},
		{"example\u0085.com", "whitespace"},
		{"\xff.com", "not valid UTF-8"},
		{"*.example.com", "not allowed in a host name"},
		{"ex!ample.com", "not allowed in a host name"},
		{"ex+ample.com", "not allowed in a host name"},
		{"-example.com", "starts or ends with '-'"},
		{"example-.com", "starts or ends with '-'"},
		{strings.Repeat("a", 64) + ".com", "a label has at most 63"},
		{strings.Repeat("a.", 127) + "com", "a name has at most 253"},
		{strings.Repeat("a", 2000), "too long"},
		{"example.com:443", "not a valid IPv6 address"},
		{"[1.2.3.4]", "brackets are only for IPv6"},
		{"[::1", "without a final ']'"},
		{"[::1]:443", "without a final ']'"},
		{"[::1]]", "without a final ']'"},
		{"1:2:3:4:5:6:7:8:9", "not a valid IPv6 address"},
		{"1.2.3.999", "not a valid IPv4 address"},
		{"example.123", "not a valid IPv4 address"},
		{"example.0x", "not a valid IPv4 address"},
		{"1.2.3.4.5", "at most 4"},
		{"xn--bcher-kva.example_x", "not a valid internationalised"}, // no '_' in IDNA names
		{"xn--abc.com", "not a valid internationalised"},             // punycode of ASCII
		{"xn--zz-.com", "not a valid internationalised"},
		{"bü_cher.example", "not a valid internationalised"},
		{"ab\u200dc.com", "not a valid internationalised"}, // ZWJ outside its context
		{"\u2488.com", "not a valid internationalised"},    // ⒈ would map to "1."
		{"a\uff05b.com", "not a valid internationalised"},  // full-width '%'
		{"a\ufe6bb.com", "not a valid internationalised"},  // small '@'
		{"\u05e9\u05dc\u05d5\u05dd.1abc", "not a valid internationalised"},
		// UTS #46 "ignored" runes vanish; a label of only them once left an
		// empty label behind (found by FuzzParsePattern).
		{"\ubeff.\ufeff", "invisible character U+FEFF"},
		{"example.\ufeff", "invisible character U+FEFF"},
		{"\ufeffexample.com", "invisible character U+FEFF"},
		{"goo\u00adgle.com", "invisible character U+00AD"},
		{"a.\u00ad\u00ad.example.com", "invisible character U+00AD"},
		{"exa\u200bmple.com", "invisible character U+200B"},
		{"example\ufe0f.com", "invisible character U+FE0F"},
		// U+2137 maps to Hebrew gimel, whose punycode fails the Bidi rule;
		// found by FuzzParsePattern.
		{"\u2137\ua9e8", "which is not itself a valid name"},
	}
	for _, tt := range tests {
		h, err := Canonical(tt.in)
		if err == nil {
			t.Errorf("Canonical(%q) = %q, want error containing %q", tt.in, h, tt.phrase)
			continue
		}
		if !strings.Contains(err.Error(), tt.phrase) {
			t.Errorf("Canonical(%q) error %q, want it to contain %q", tt.in, err, tt.phrase)
		}
	}
}

// Characters that IDNA maps to '.' or '/' must never split a label or put a
// separator into a name. Decision: a rune that maps to '.' is rejected (the
// author or client never typed a dot); runes that map to '/' and other
// non-LDH ASCII are rejected by the STD3 rules of the lookup profile.
func TestCanonicalSeparatorSmuggling(t *testing.T) {
	tests := []struct{ in, phrase string }{
		{"a\u3002b.com", "U+3002"},                       // ideographic full stop
		{"evil.com\uff0egood.com", "U+FF0E"},             // full-width full stop
		{"evil.com\uff61good.com", "U+FF61"},             // half-width ideographic full stop
		{"example\u3002com", "U+3002"},                   // would be example.com
		{"127\u30020\u30020\u30021", "U+3002"},           // would be 127.0.0.1
		{"evil.com\uff0f.good.com", "internationalised"}, // full-width solidus
		{"evil.com\u2215x", ""},                          // division slash: allowed, punycoded (checked below)
	}
	for _, tt := range tests {
		h, err := Canonical(tt.in)
		if tt.phrase == "" {
			if err != nil {
				t.Errorf("Canonical(%q): %v", tt.in, err)
			} else if strings.ContainsAny(h.Name, "/\\") || strings.Count(h.Name, ".") != strings.Count(tt.in, ".") {
				t.Errorf("Canonical(%q) = %q: separator smuggled", tt.in, h)
			}
			continue
		}
		if err == nil {
			t.Errorf("Canonical(%q) = %q, want error containing %q", tt.in, h, tt.phrase)
		} else if !strings.Contains(err.Error(), tt.phrase) {
			t.Errorf("Canonical(%q) error %q, want it to contain %q", tt.in, err, tt.phrase)
		}
	}
}

// Every non-ASCII rune, placed inside a label, either is rejected or yields
// a well-formed name with the same number of labels: no rune smuggles a
// separator or any other character past Canonical.
func TestCanonicalEveryRune(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	for r := rune(utf8.RuneSelf); r <= unicode.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		in := "a" + string(r) + "b.example"
		h, err := Canonical(in)
		if err != nil {
			continue
		}
		checkHost(t, in, h)
		if h.IsIP() || strings.Count(h.Name, ".") != 1 {
			t.Fatalf("Canonical(%q) = %q: label count changed", in, h)
		}
	}
}

func TestInetAton(t *testing.T) {
	tests := []struct{ in, want string }{
		{"127.0.0.1", "127.0.0.1"},
		{"127.1", "127.0.0.1"},
		{"127.0.1", "127.0.0.1"},
		{"0x7f.0.0.1", "127.0.0.1"},
		{"0x7F.0x0.0x0.0x1", "127.0.0.1"},
		{"0177.0.0.1", "127.0.0.1"},
		{"0177.0.0.01", "127.0.0.1"},
		{"2130706433", "127.0.0.1"},
		{"0x7f000001", "127.0.0.1"},
		{"017700000001", "127.0.0.1"},
		{"0", "0.0.0.0"},
		{"00", "0.0.0.0"},
		{"0x0", "0.0.0.0"},
		{"4294967295", "255.255.255.255"},
		{"0xffffffff", "255.255.255.255"},
		{"1.16777215", "1.255.255.255"},
		{"1.2.65535", "1.2.255.255"},
		{"192.168.0x1.0377", "192.168.1.255"},
		{"0000000000000000000000000000000000000000000000001", "0.0.0.1"},
		{"169.254.169.254", "169.254.169.254"},
		{"0xA9FEA9FE", "169.254.169.254"},
		{"1.2.3.", "1.2.0.3"}, // one trailing dot removed, then three parts
	}
	for _, tt := range tests {
		h, err := Canonical(tt.in)
		if err != nil {
			t.Errorf("Canonical(%q): %v", tt.in, err)
			continue
		}
		if !h.IsIP() || h.IP != netip.MustParseAddr(tt.want) {
			t.Errorf("Canonical(%q) = %q, want %s", tt.in, h, tt.want)
		}
	}

	rejects := []struct{ in, phrase string }{
		{"256.1.1.1", `part "256" is larger than 255`},
		{"1.2.3.256", `last part "256" is larger than 255`},
		{"1.2.65536", "larger than 65535"},
		{"1.16777216", "larger than 16777215"},
		{"4294967296", "larger than 32 bits"},
		{"0x100000000", "larger than 32 bits"},
		{"0x1ffffffffffffffffffff", "larger than 32 bits"},
		{"99999999999999999999999999", "larger than 32 bits"},
		{"1.2.3.4.5", "5 parts"},
		{"08.1.1.1", "not a valid octal number"},
		{"1.1.1.09", "not a valid octal number"},
		{"0x", "no hex digits"},
		{"1.0x.1.1", "no hex digits"},
		{"1..2.3", "empty label"},
		{"1.2.3.4..", "empty label"}, // only one trailing dot is removed
	}
	for _, tt := range rejects {
		h, err := Canonical(tt.in)
		if err == nil {
			t.Errorf("Canonical(%q) = %q, want error containing %q", tt.in, h, tt.phrase)
		} else if !strings.Contains(err.Error(), tt.phrase) {
			t.Errorf("Canonical(%q) error %q, want it to contain %q", tt.in, err, tt.phrase)
		}
	}
}

func TestSplitHostPort(t *testing.T) {
	tests := []struct {
		in   string
		host string
		port uint16
	}{
		{"example.com", "example.com", 0},
		{"example.com:443", "example.com", 443},
		{"example.com:1", "example.com", 1},
		{"example.com:65535", "example.com", 65535},
		{"1.2.3.4:80", "1.2.3.4", 80},
		{"[::1]", "::1", 0},
		{"[::1]:8080", "::1", 8080},
		{"::1", "::1", 0},
		{"2001:db8::1:443", "2001:db8::1:443", 0}, // ambiguous: a bare address
	}
	for _, tt := range tests {
		host, port, err := SplitHostPort(tt.in)
		if err != nil {
			t.Errorf("SplitHostPort(%q): %v", tt.in, err)
			continue
		}
		if host != tt.host || port != tt.port {
			t.Errorf("SplitHostPort(%q) = %q, %d; want %q, %d", tt.in, host, port, tt.host, tt.port)
		}
	}

	rejects := []struct{ in, phrase string }{
		{"", "empty host"},
		{":443", "no host"},
		{"example.com:", "empty port"},
		{"example.com:0", "port 0"},
		{"example.com:65536", "out of range"},
		{"example.com:999999", "out of range"},
		{"example.com:+443", "not a decimal number"},
		{"example.com:-1", "not a decimal number"},
		{"example.com:0443", "leading zero"},
		{"example.com:https", "not a decimal number"},
		{"[::1]:", "empty port"},
		{"[::1]x", "after ']'"},
		{"[::1", "without a closing ']'"},
		{"[example.com]:443", "only for IPv6"},
		{"[[::1]]", "nested"},
	}
	for _, tt := range rejects {
		host, port, err := SplitHostPort(tt.in)
		if err == nil {
			t.Errorf("SplitHostPort(%q) = %q, %d; want error containing %q", tt.in, host, port, tt.phrase)
		} else if !strings.Contains(err.Error(), tt.phrase) {
			t.Errorf("SplitHostPort(%q) error %q, want it to contain %q", tt.in, err, tt.phrase)
		}
	}
}

func TestHostIsLoopback(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"localhost", true},
		{"app.localhost", true},
		{"127.1", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},
		{"0.0.0.0", true},
		{"0", true},
		{"::", true},
		{"notlocalhost", false},
		{"localhost.example.com", false},
		{"10.0.0.1", false},
		{"example.com", false},
	}
	for _, tt := range tests {
		h, err := Canonical(tt.in)
		if err != nil {
			t.Fatalf("Canonical(%q): %v", tt.in, err)
		}
		if got := h.IsLoopback(); got != tt.want {
			t.Errorf("Canonical(%q).IsLoopback() = %v, want %v", tt.in, got, tt.want)
		}
	}
}
