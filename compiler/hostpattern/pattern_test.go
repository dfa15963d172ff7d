package hostpattern

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParsePattern(t *testing.T) {
	tests := []struct {
		in     string
		kind   Kind
		ports  string
		canon  string // String()
		domain string // Exact, Wildcard
		prefix string // Addr, Prefix
	}{
		{"api.example.com", Exact, "80,443", "api.example.com", "api.example.com", ""},
		{"API.Example.COM.", Exact, "80,443", "api.example.com", "api.example.com", ""},
		{"*.example.com", Wildcard, "80,443", "*.example.com", "example.com", ""},
		{"*.Example.com.", Wildcard, "80,443", "*.example.com", "example.com", ""},
		{"api.example.com:8443", Exact, "8443", "api.example.com:8443", "api.example.com", ""},
		{"api.example.com:*", Exact, "*", "api.example.com:*", "api.example.com", ""},
		{"*.example.com:443", Wildcard, "443", "*.example.com:443", "example.com", ""},
		{"*.bücher.example", Wildcard, "80,443", "*.xn--bcher-kva.example", "xn--bcher-kva.example", ""},
		{"*.example.co.uk", Wildcard, "80,443", "*.example.co.uk", "example.co.uk", ""},
		{"*.user.github.io", Wildcard, "80,443", "*.user.github.io", "user.github.io", ""},
		{"*.www.ck", Wildcard, "80,443", "*.www.ck", "www.ck", ""}, // PSL exception "!www.ck"
		{"localhost", Exact, "80,443", "localhost", "localhost", ""},
		{"localhost:3000", Exact, "3000", "localhost:3000", "localhost", ""},
		{"com", Exact, "80,443", "com", "com", ""}, // an exact public suffix is one name, not a wildcard
		{"192.0.2.10", Addr, "80,443", "192.0.2.10", "", "192.0.2.10/32"},
		{"192.0.2.10:5432", Addr, "5432", "192.0.2.10:5432", "", "192.0.2.10/32"},
		{"2130706433", Addr, "80,443", "127.0.0.1", "", "127.0.0.1/32"},
		{"127.1:8080", Addr, "8080", "127.0.0.1:8080", "", "127.0.0.1/32"},
		{"[2001:db8::1]:443", Addr, "443", "[2001:db8::1]:443", "", "2001:db8::1/128"},
		{"[2001:db8::1]", Addr, "80,443", "2001:db8::1", "", "2001:db8::1/128"},
		{"2001:db8::1", Addr, "80,443", "2001:db8::1", "", "2001:db8::1/128"},
		{"2001:DB8::1:443", Addr, "80,443", "2001:db8::1:443", "", "2001:db8::1:443/128"},
		{"[::ffff:10.0.0.1]:22", Addr, "22", "10.0.0.1:22", "", "10.0.0.1/32"},
		{"10.0.0.0/8", Prefix, "80,443", "10.0.0.0/8", "", "10.0.0.0/8"},
		{"10.0.0.0/8:5432", Prefix, "5432", "10.0.0.0/8:5432", "", "10.0.0.0/8"},
		{"10.0.0.0/8:*", Prefix, "*", "10.0.0.0/8:*", "", "10.0.0.0/8"},
		{"192.168.1.0/24", Prefix, "80,443", "192.168.1.0/24", "", "192.168.1.0/24"},
		{"10.1.2.3/32", Addr, "80,443", "10.1.2.3", "", "10.1.2.3/32"},
		{"2001:db8::/32", Prefix, "80,443", "2001:db8::/32", "", "2001:db8::/32"},
		{"[2001:db8::/32]:443", Prefix, "443", "[2001:db8::/32]:443", "", "2001:db8::/32"},
		{"[2001:db8::/48]:*", Prefix, "*", "[2001:db8::/48]:*", "", "2001:db8::/48"},
		{"::1/128", Addr, "80,443", "::1", "", "::1/128"},
		{"::ffff:10.0.0.0/104", Prefix, "80,443", "10.0.0.0/8", "", "10.0.0.0/8"},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.in)
		if err != nil {
			t.Errorf("ParsePattern(%q): %v", tt.in, err)
			continue
		}
		if p.Kind != tt.kind || p.Ports.String() != tt.ports || p.String() != tt.canon || p.Domain != tt.domain || p.Text != tt.in {
			t.Errorf("ParsePattern(%q) = %v %q ports %s domain %q text %q; want %v %q ports %s domain %q",
				tt.in, p.Kind, p, p.Ports, p.Domain, p.Text, tt.kind, tt.canon, tt.ports, tt.domain)
		}
		if tt.prefix != "" && p.Prefix != netip.MustParsePrefix(tt.prefix) {
			t.Errorf("ParsePattern(%q).Prefix = %v, want %s", tt.in, p.Prefix, tt.prefix)
		}
		if tt.prefix == "" && p.Prefix.IsValid() {
			t.Errorf("ParsePattern(%q).Prefix = %v, want none", tt.in, p.Prefix)
		}
		again, err := ParsePattern(p.String())
		if err != nil || !samePattern(again, p) {
			t.Errorf("ParsePattern(%q) = %+v, %v; want %+v", p.String(), again, err, p)
		}
	}
}

func TestParsePatternRejects(t *testing.T) {
	tests := []struct{ in, phrase string }{
		{"", "empty entry"},
		{"*", `"*" matches every host`},
		{"*:443", `"*:443" matches every host`},
		{"*.com", `"*.com" covers a whole public suffix; name the registrable domains you mean`},
		{"*.co.uk", "covers a whole public suffix"},
		{"*.github.io", "covers a whole public suffix"}, // private section
		{"*.COM.", "covers a whole public suffix"},
		{"*.com:443", "covers a whole public suffix"},
		{"*.xn--p1ai", "covers a whole public suffix"}, // .рф
		{"*.рф", "covers a whole public suffix"},
		{"*.localhost", "covers a whole public suffix"},
		{"*.corp", "covers a whole public suffix"},        // unlisted TLDs count as suffixes
		{"*.anything.ck", "covers a whole public suffix"}, // PSL rule "*.ck"
		{"a.*.com", "only as the whole first label"},
		{"*foo.com", "only as the whole first label"},
		{"**.x.com", "only as the whole first label"},
		{"*.*.x.com", "only as the whole first label"},
		{"x.*", "only as the whole first label"},
		{"*.", "empty host"},
		{"*.10.0.0.1", "needs a domain name, not the IP address 10.0.0.1"},
		{"https://x.com", `"https://x.com" is a URL; write only the host, as in "x.com"`},
		{"https://x.com/path", `as in "x.com"`},
		{"x.com/path", `"x.com/path" has a path; write only the host, as in "x.com"`},
		{"x.com/", "has a path"},
		{"x.com:443/path", "has a path"},
		{"x.com/8", "has a path or an invalid prefix"},
		{"u@x.com", `"u@x.com" has user info; write only the host, as in "x.com"`},
		{"u:p@x.com:443", "has user info"},
		{"x.com:0", "port 0 is not a valid port"},
		{"x.com:65536", "out of range"},
		{"x.com:080", "leading zero"},
		{"x.com:", "empty port"},
		{"x.com:80,443", "not a decimal number"},
		{"x.com:**", "not a decimal number"},
		{"exa mple.com", "whitespace"},
		{"x.com\x00.evil", "NUL"},
		{"1.2.3.999", "not a valid IPv4 address"},
		{"0.0.0.0/0", `"0.0.0.0/0" matches every IPv4 address`},
		{"::/0", `"::/0" matches every IPv6 address`},
		{"[::/0]:443", "matches every IPv6 address"},
		{"10.0.0.0/7", "broader than /8"},
		{"0.0.0.0/1", "broader than /8"},
		{"2001:db8::/31", "broader than /32"},
		{"::ffff:0.0.0.0/96", "matches every IPv4 address"},
		{"10.0.0.1/8", `"10.0.0.1/8" has host bits set; did you mean "10.0.0.0/8"?`},
		{"2001:db8::1/32", `did you mean "2001:db8::/32"?`},
		{"10.0.0.0/33", "not a number from 0 to 32"},
		{"10.0.0.0/08", "not a number from 0 to 32"},
		{"10/8", "write the network address of a prefix as a dotted quad"},
		{"0x0a.0.0.0/8", "write the network address of a prefix as a dotted quad"},
		{"::10.0.0.0/104", "IPv4-compatible"},
		{"[10.0.0.0/8]:443", "only for IPv6"},
		{"[x.com]:443", "only for IPv6"},
		{"2001:db8::/32:443", `write it as "[2001:db8::/32]:443"`},
		{"fe80::1%eth0", "'%'"},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		p, err := ParsePattern(tt.in)
		if err == nil {
			t.Errorf("ParsePattern(%q) = %q, want error containing %q", tt.in, p, tt.phrase)
			continue
		}
		if !strings.Contains(err.Error(), tt.phrase) {
			t.Errorf("ParsePattern(%q) error %q, want it to contain %q", tt.in, err, tt.phrase)
		}
		// Messages quote the input, so two entries never share one.
		if prev, ok := seen[err.Error()]; ok {
			t.Errorf("ParsePattern(%q) and ParsePattern(%q) share the message %q", tt.in, prev, err)
		}
		seen[err.Error()] = tt.in
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, host string
		port          uint16
		want          bool
	}{
		{"example.com", "example.com", 443, true},
		{"example.com", "EXAMPLE.com.", 80, true},
		{"example.com", "example.com", 22, false},
		{"example.com", "example.com", 0, false},
		{"example.com", "api.example.com", 443, false},
		{"example.com", "badexample.com", 443, false},
		{"*.example.com", "api.example.com", 443, true},
		{"*.example.com", "a.b.example.com", 443, true},
		{"*.example.com", "example.com", 443, false}, // never the apex
		{"*.example.com", "badexample.com", 443, false},
		{"*.example.com", "example.com.evil.com", 443, false},
		{"*.example.com", "api.example.com", 8443, false},
		{"*.example.com:8443", "api.example.com", 8443, true},
		{"*.example.com:8443", "api.example.com", 443, false},
		{"example.com:*", "example.com", 1, true},
		{"example.com:*", "example.com", 65535, true},
		{"example.com:*", "example.com", 0, false},
		{"*.bücher.example", "www.xn--bcher-kva.example", 443, true},
		{"127.0.0.1", "127.1", 80, true},
		{"127.0.0.1", "2130706433", 443, true},
		{"127.0.0.1", "::ffff:127.0.0.1", 443, true},
		{"127.0.0.1", "localhost", 443, false}, // a name never matches an IP pattern
		{"localhost", "127.0.0.1", 443, false}, // nor an IP a name pattern
		{"10.0.0.0/8", "10.255.0.1", 443, true},
		{"10.0.0.0/8", "11.0.0.1", 443, false},
		{"10.0.0.0/8", "[::ffff:10.1.2.3]", 443, true},
		{"10.0.0.0/8", "::10.1.2.3", 443, true},
		{"10.0.0.0/8:5432", "10.1.2.3", 443, false},
		{"10.0.0.0/8:5432", "10.1.2.3", 5432, true},
		{"2001:db8::/32", "2001:db8:1::5", 443, true},
		{"2001:db8::/32", "2001:db9::5", 443, false},
		{"[2001:db8::1]:443", "[2001:DB8:0::1]", 443, true},
		{"1.2.3.4", "::1.2.3.4", 443, true},
		{"::1", "::1", 443, true},
		{"::1", "127.0.0.1", 443, false},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.pattern)
		if err != nil {
			t.Fatalf("ParsePattern(%q): %v", tt.pattern, err)
		}
		h, err := Canonical(tt.host)
		if err != nil {
			t.Fatalf("Canonical(%q): %v", tt.host, err)
		}
		if got := p.Match(h, tt.port); got != tt.want {
			t.Errorf("%q.Match(%q, %d) = %v, want %v", tt.pattern, tt.host, tt.port, got, tt.want)
		}
	}
}

func TestMatchHost(t *testing.T) {
	tests := []struct {
		pattern, host string
		want          bool
	}{
		{"example.com", "example.com", true},
		{"example.com:22", "Example.COM.", true}, // any port will do
		{"example.com:*", "example.com", true},
		{"example.com", "api.example.com", false},
		{"*.example.com:8443", "api.example.com", true},
		{"*.example.com", "example.com", false}, // never the apex
		{"*.example.com", "badexample.com", false},
		{"localhost:3000", "localhost", true},
		{"localhost:3000", "127.0.0.1", false},
		{"127.0.0.1:5432", "127.1", true},
		{"10.0.0.0/8:*", "10.1.2.3", true},
		{"10.0.0.0/8", "example.com", false},
		{"2001:db8::/32", "2001:db8::5", true},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.pattern)
		if err != nil {
			t.Fatalf("ParsePattern(%q): %v", tt.pattern, err)
		}
		h, err := Canonical(tt.host)
		if err != nil {
			t.Fatalf("Canonical(%q): %v", tt.host, err)
		}
		if got := p.MatchHost(h); got != tt.want {
			t.Errorf("%q.MatchHost(%q) = %v, want %v", tt.pattern, tt.host, got, tt.want)
		}
		// Match on some port implies MatchHost, and MatchHost implies Match
		// on some port of the pattern's set.
		for _, port := range []uint16{22, 80, 443, 3000, 5432, 8443} {
			if p.Match(h, port) && !tt.want {
				t.Errorf("%q matches %q on port %d but not MatchHost", tt.pattern, tt.host, port)
			}
		}
	}
	if (Pattern{Kind: Exact, Domain: "example.com"}).MatchHost(Host{Name: "example.com"}) {
		t.Error("Pattern with zero PortSet matches a host")
	}
}

// Hosts and patterns not made by this package fail closed, except that a
// v4-mapped or zoned address still meets an IP rule (so deny rules see it).
func TestMatchHandBuilt(t *testing.T) {
	deny, _ := ParsePattern("10.0.0.0/8:*")
	mapped := Host{IP: netip.MustParseAddr("::ffff:10.0.0.1")}
	if !deny.Match(mapped, 443) {
		t.Errorf("deny %q does not match hand-built %v", deny, mapped.IP)
	}
	zoned := Host{IP: netip.MustParseAddr("10.0.0.1").WithZone("eth0")}
	if !deny.Match(zoned, 443) {
		t.Errorf("deny %q does not match hand-built %v", deny, zoned.IP)
	}
	if (Pattern{}).Match(Host{Name: "example.com"}, 443) {
		t.Error("zero Pattern matches")
	}
	exact := Pattern{Kind: Exact, Domain: "example.com"} // zero PortSet
	if exact.Match(Host{Name: "example.com"}, 443) {
		t.Error("Pattern with zero PortSet matches")
	}
	wild, _ := ParsePattern("*.example.com")
	if wild.Match(Host{}, 443) || wild.Match(Host{Name: ".example.com"}, 443) {
		t.Error("wildcard matches an empty first label")
	}
}

func TestPortSet(t *testing.T) {
	tests := []struct {
		set   PortSet
		str   string
		in    []uint16
		notIn []uint16
	}{
		{DefaultPorts, "80,443", []uint16{80, 443}, []uint16{0, 22, 8080, 65535}},
		{OnePort(22), "22", []uint16{22}, []uint16{0, 80, 443}},
		{AnyPort, "*", []uint16{1, 80, 443, 65535}, []uint16{0}},
		{PortSet{}, "none", nil, []uint16{0, 80, 443}},
	}
	for _, tt := range tests {
		if tt.set.String() != tt.str {
			t.Errorf("String() = %q, want %q", tt.set, tt.str)
		}
		for _, p := range tt.in {
			if !tt.set.Contains(p) {
				t.Errorf("%s does not contain %d", tt.set, p)
			}
		}
		for _, p := range tt.notIn {
			if tt.set.Contains(p) {
				t.Errorf("%s contains %d", tt.set, p)
			}
		}
	}
}

func TestBroad(t *testing.T) {
	weight := func(s string) float64 {
		t.Helper()
		p, err := ParsePattern(s)
		if err != nil {
			t.Fatalf("ParsePattern(%q): %v", s, err)
		}
		w := p.Broad()
		if w < 0 || w > 1 {
			t.Fatalf("%q.Broad() = %v, outside [0,1]", s, w)
		}
		return w
	}
	// Each entry is strictly less broad than the next.
	order := []string{
		"example.com:443",
		"example.com",
		"10.0.0.0/31",
		"example.com:*",
		"10.0.0.0/24",
		"*.example.com:443",
		"*.example.com",
		"*.example.com:*",
		"10.0.0.0/8",
		"10.0.0.0/8:*",
	}
	for i := 1; i < len(order); i++ {
		if a, b := weight(order[i-1]), weight(order[i]); a >= b {
			t.Errorf("Broad(%q) = %v, not less than Broad(%q) = %v", order[i-1], a, order[i], b)
		}
	}
	if weight("10.0.0.0/8:*") != 1 || weight("[2001:db8::/32]:*") != 1 {
		t.Error("the broadest accepted prefix with any port should weigh 1")
	}
	if weight("192.0.2.1") != weight("example.com") {
		t.Error("an address and a name should weigh the same")
	}
	if (Pattern{}).Broad() != 0 {
		t.Error("zero Pattern should weigh 0")
	}
}

func TestPatternLoopback(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"localhost", true},
		{"localhost:3000", true},
		{"app.localhost", true},
		{"*.app.localhost", true},
		{"127.0.0.1", true},
		{"127.1:8080", true},
		{"127.0.0.0/8", true},
		{"127.5.0.0/16", true},
		{"0.0.0.0", true},
		{"0.0.0.0/8", true},
		{"::1", true},
		{"[::]:80", true},
		{"::/64", true},
		{"10.0.0.0/8", false},
		{"example.com", false},
		{"*.example.com", false},
		{"2001:db8::/32", false},
		{"localhost.example.com", false},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.in)
		if err != nil {
			t.Fatalf("ParsePattern(%q): %v", tt.in, err)
		}
		if got := p.Loopback(); got != tt.want {
			t.Errorf("%q.Loopback() = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// samePattern compares everything but the text as written.
func samePattern(a, b Pattern) bool {
	a.Text, b.Text = "", ""
	return a == b
}
