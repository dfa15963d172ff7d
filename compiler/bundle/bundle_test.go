package bundle

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/compiler/seccomp"
)

func rule(field, text string) Rule {
	return Rule{File: "t.hcl", Line: 1, Col: 1, Field: field, Text: text}
}

// testBundle builds a small but complete bundle by hand (the policy package
// depends on this one, so it cannot be used here).
func testBundle(tb testing.TB) *Bundle {
	tb.Helper()
	spec := seccomp.Spec{Allowed: map[string][]seccomp.Check{
		"read": nil, "write": nil, "exit_group": nil, "getpid": nil,
		"socket": {{Arg: 0, Bits: 32, Mask: 0xffffffff, Op: seccomp.In, Values: []uint64{unix.AF_INET}, Fail: seccomp.Errno(unix.EAFNOSUPPORT)}},
	}, Deny: seccomp.Errno(unix.EPERM)}
	var progs []Program
	for _, a := range seccomp.Arches() {
		f, err := seccomp.Lower(spec, a)
		if err != nil {
			tb.Fatal(err)
		}
		p, err := f.Assemble()
		if err != nil {
			tb.Fatal(err)
		}
		progs = append(progs, Program{Arch: a.Name, Code: seccomp.Marshal(p), LongestPath: seccomp.LongestPath(p)})
	}
	return &Bundle{
		Metadata: Metadata{Policy: "t", Mode: ModeEnforce, Sources: []Source{{Name: "t.hcl", SHA256: "00"}}, Requires: []string{}, BestEffort: []string{}},
		Filesystem: Filesystem{
			Grants: []Grant{{Path: "${workspace}", Access: WriteAccess, Rule: rule("filesystem.write[0]", "${workspace}")}, {Path: "/usr", Access: ReadAccess, Rule: rule("filesystem.read[0]", "/usr")}},
			Deny:   []Deny{{Pattern: "**/.env*", Rule: rule("filesystem.deny[0]", "**/.env*")}, {Pattern: "${workspace}/.git/hooks", WriteOnly: true, Rule: rule("filesystem.deny_write[0]", "${workspace}/.git/hooks")}},
		},
		Network: Network{
			Allow:       []HostRule{{Pattern: "*.example.com", Rule: rule("network.allow[0]", "*.example.com")}, {Pattern: "localhost:3000", Rule: rule("network.allow[1]", "localhost:3000")}},
			Deny:        []HostRule{{Pattern: "bad.example.com", Rule: rule("network.deny[0]", "bad.example.com")}},
			UnixSockets: []PathRule{}, Listen: ListenLoopback, OnUnknown: VerdictDeny, AskTimeoutSeconds: 60,
		},
		Credentials: []Credential{{Name: "gh", Hosts: []string{"api.example.com"}, Paths: []string{}, Methods: []string{}, Env: "GH_TOKEN", Header: "Authorization", Format: "Bearer %s", Source: "file:/etc/paddock/gh", Placeholder: PlaceholderFor("gh")}},
		Syscalls: Syscalls{Errno: "EPERM", Allowed: []SyscallRule{{Name: "socket", Rule: rule("syscalls.allow[0]", "socket")}}, Denied: []SyscallRule{},
			Restrictions: []Restriction{{Syscall: "socket", Arg: "domain", Index: 0, Bits: 32, Mask: 0xffffffff, Op: "in", Values: []Hex{unix.AF_INET}, Names: []string{"AF_INET"}, Errno: "EAFNOSUPPORT", Rule: rule(`syscalls.restrict["socket"]`, "socket domain in [AF_INET]")}},
			Programs:     progs},
		Process: Process{User: "inherit", EnvPass: []string{"PATH"}, EnvSet: []EnvVar{}, Capabilities: []string{}},
	}
}

func sampleBundle(tb testing.TB) []byte {
	data, err := Encode(testBundle(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func TestEncodeDecode(t *testing.T) {
	data := sampleBundle(t)
	if again := sampleBundle(t); !bytes.Equal(data, again) {
		t.Fatal("the same bundle encodes to different bytes")
	}
	b, err := Decode(data, "t.bundle")
	if err != nil {
		t.Fatal(err)
	}
	if back, _ := Encode(b); !bytes.Equal(back, data) {
		t.Fatal("decode and encode changed the bytes")
	}
	if !strings.HasPrefix(b.Checksum, "sha256:") {
		t.Errorf("checksum %q", b.Checksum)
	}
}

// A broken, altered, or foreign bundle is refused with a reason, and
// nothing is returned from it.
func TestDecodeRefuses(t *testing.T) {
	good := sampleBundle(t)
	// reseal re-encodes after an edit so only validation can catch it.
	reseal := func(edit func(*Bundle)) []byte {
		b := testBundle(t)
		b.Format, b.Version = Format, Version
		edit(b)
		sum, err := b.sum()
		if err != nil {
			t.Fatal(err)
		}
		b.Checksum = sum
		data, _ := marshal(b)
		return data
	}
	cases := []struct {
		name string
		data []byte
		msg  string
	}{
		{"not json", []byte("policy \"x\" {}"), "not a Paddock bundle"},
		{"other format", []byte(`{"format":"other","version":1}`), "not a Paddock bundle"},
		{"newer version", bytes.Replace(good, []byte(`"version": 1`), []byte(`"version": 2`), 1), "recompile"},
		{"truncated", good[:len(good)/2], "not a Paddock bundle"},
		{"unknown field", bytes.Replace(good, []byte(`"version": 1,`), []byte(`"version": 1, "extra": true,`), 1), "unknown field"},
		{"altered rule", bytes.Replace(good, []byte(`"**/.env*"`), []byte(`"**/.envX"`), 1), "checksum mismatch"},
		{"altered program", alterProgram(t, good), "checksum mismatch"},
		{"trailing data", append(append([]byte{}, good...), []byte(`{}`)...), "trailing data"},
		{"bad deny pattern", reseal(func(b *Bundle) { b.Filesystem.Deny[0].Pattern = "relative" }), "filesystem.deny[0]"},
		{"glob grant", reseal(func(b *Bundle) { b.Filesystem.Grants[0].Path = "/srv/*" }), "filesystem.grants[0]"},
		{"device right", reseal(func(b *Bundle) { b.Filesystem.Grants[0].Access |= 1 << 6 }), "not a read or write grant"},
		{"non-canonical host", reseal(func(b *Bundle) { b.Network.Allow[0].Pattern = "*.EXAMPLE.com" }), "canonical"},
		{"bad listen", reseal(func(b *Bundle) { b.Network.Listen = "everywhere" }), "network.listen"},
		{"literal secret", reseal(func(b *Bundle) { b.Credentials[0].Source = "ghp_secret" }), "credentials[0]"},
		{"placeholder mismatch", reseal(func(b *Bundle) { b.Credentials[0].Placeholder = "x" }), "placeholder"},
		{"broken program", reseal(func(b *Bundle) { b.Syscalls.Programs[0].Code = b.Syscalls.Programs[0].Code[:12] }), "syscalls.programs"},
		{"unknown arch", reseal(func(b *Bundle) { b.Syscalls.Programs[0].Arch = "mips" }), "unsupported architecture"},
		{"no programs", reseal(func(b *Bundle) { b.Syscalls.Programs = nil }), "programs: none"},
		{"unknown errno", reseal(func(b *Bundle) { b.Syscalls.Errno = "EWHAT" }), "syscalls.errno"},
		{"bad mode", reseal(func(b *Bundle) { b.Metadata.Mode = "lenient" }), "metadata.mode"},
	}
	for _, c := range cases {
		b, err := Decode(c.data, "t.bundle")
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if b != nil {
			t.Errorf("%s: returned a bundle along with the error", c.name)
		}
		if !strings.Contains(err.Error(), c.msg) || !strings.HasPrefix(err.Error(), "t.bundle: ") {
			t.Errorf("%s: %q should name the file and contain %q", c.name, err, c.msg)
		}
	}
	var unknownRight Access
	if err := json.Unmarshal([]byte(`["read_file","fly"]`), &unknownRight); err == nil || !strings.Contains(err.Error(), `"fly"`) {
		t.Errorf("unknown right: %v", err)
	}
}

// alterProgram flips one instruction of the first program, keeping the
// JSON valid: only the checksum can notice.
func alterProgram(t *testing.T, data []byte) []byte {
	b, err := Decode(data, "x")
	if err != nil {
		t.Fatal(err)
	}
	code := b.Syscalls.Programs[0].Code
	code[len(code)-4] ^= 0xff
	b.Syscalls.Programs[0].Code = code
	out, _ := marshal(b) // checksum field left as it was
	return out
}

func TestExpand(t *testing.T) {
	v := Vars{Workspace: "/w", Home: "/home/u", Tmp: "/tmp/p", User: "u", Env: func(n string) (string, bool) {
		if n == "PROJECTS" {
			return "/srv/projects", true
		}
		return "", false
	}}
	good := map[string]string{
		"${home}/.ssh":           "/home/u/.ssh",
		"/home/${user}/x":        "/home/u/x",
		"${env:PROJECTS}/a/../b": "/srv/projects/b",
		"${workspace}":           "/w",
	}
	for in, want := range good {
		if got, err := Expand(in, v, false); err != nil || got != want {
			t.Errorf("Expand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]string{
		"${hom}/x":        "unknown variable",
		"${env:MISSING}":  "not set",
		"${user}/x":       "not an absolute path",
		"${home":          "unterminated",
		"${env:A-B}/x":    "unknown variable",
		"${workspace}/..": "", // clean, still absolute: allowed
	}
	for in, msg := range bad {
		_, err := Expand(in, v, false)
		if msg == "" {
			continue
		}
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("Expand(%q): %v, want an error containing %q", in, err, msg)
		}
	}
	if _, err := Expand("${home}/x", Vars{Home: "/a\x00b"}, false); err == nil {
		t.Error("a NUL in a value was accepted")
	}
	if got, _ := Expand("${home}/*.pem", Vars{Home: "/h[1]*"}, true); got != `/h\[1\]\*/*.pem` {
		t.Errorf("glob escaping: %q", got)
	}
}

func TestNetworkDecide(t *testing.T) {
	n := testBundle(t).Network
	cases := []struct {
		host string
		port uint16
		want string
	}{
		{"api.example.com", 443, VerdictRedirect},
		{"api.example.com", 80, VerdictRedirect},
		{"api.example.com", 22, VerdictDeny},
		{"example.com", 443, VerdictDeny}, // a wildcard never covers its apex
		{"bad.example.com", 443, VerdictDeny},
		{"localhost", 3000, VerdictAllow}, // allowed loopback is reached directly
		{"localhost", 3001, VerdictDeny},
		{"169.254.169.254", 80, VerdictDeny},
		{"[fe80::1]", 80, VerdictDeny},
		{"0177.0.0.1", 3000, VerdictDeny}, // 127.0.0.1, but the rule names localhost
	}
	for _, c := range cases {
		d, err := n.Decide(c.host, c.port)
		if err != nil || d.Verdict != c.want {
			t.Errorf("%s:%d: %s (%v), want %s; %s", c.host, c.port, d.Verdict, err, c.want, d.Reason)
		}
	}
	if _, err := n.Decide("a\x00b.example.com", 443); err == nil {
		t.Error("a NUL in a host name was accepted")
	}
	n.OnUnknown = VerdictAsk
	if d, _ := n.Decide("new.example.org", 443); d.Verdict != VerdictAsk {
		t.Errorf("on_unknown ask: %s", d.Verdict)
	}
}

func TestNetworkDecideName(t *testing.T) {
	n := testBundle(t).Network
	n.Allow = append(n.Allow,
		HostRule{Pattern: "db.example.org:5432", Rule: rule("network.allow[2]", "db.example.org:5432")},
		HostRule{Pattern: "partly.example.org", Rule: rule("network.allow[3]", "partly.example.org")},
		HostRule{Pattern: "10.0.0.0/8", Rule: rule("network.allow[4]", "10.0.0.0/8")},
	)
	n.Deny = append(n.Deny,
		HostRule{Pattern: "partly.example.org:443", Rule: rule("network.deny[1]", "partly.example.org:443")},
		HostRule{Pattern: "*.evil.example.com:*", Rule: rule("network.deny[2]", "*.evil.example.com:*")},
	)
	cases := []struct {
		host string
		want string
		rule string // Field of the deciding rule, "" for none
	}{
		{"api.example.com", VerdictAllow, "network.allow[0]"},
		{"API.Example.COM.", VerdictAllow, "network.allow[0]"},
		{"example.com", VerdictDeny, ""},                         // a wildcard never covers its apex
		{"bad.example.com", VerdictAllow, "network.allow[0]"},    // denied on 80 and 443 only
		{"x.evil.example.com", VerdictDeny, "network.deny[2]"},   // denied on every port
		{"X.EVIL.example.com.", VerdictDeny, "network.deny[2]"},  // in any spelling
		{"db.example.org", VerdictAllow, "network.allow[2]"},     // one port is enough
		{"partly.example.org", VerdictAllow, "network.allow[3]"}, // port 80 is still allowed
		{"localhost", VerdictAllow, "network.allow[1]"},          // loopback names follow the rules
		{"sub.localhost", VerdictDeny, ""},                       // and only the rules
		{"unknown.example.net", VerdictDeny, ""},                 // no rule
		{"10.1.2.3", VerdictDeny, ""},                            // an address is not a name
		{"127.0.0.1", VerdictDeny, ""},
		{"[::1]", VerdictDeny, ""},
	}
	for _, c := range cases {
		d, err := n.DecideName(c.host)
		if err != nil || d.Verdict != c.want {
			t.Errorf("%s: %s (%v), want %s; %s", c.host, d.Verdict, err, c.want, d.Reason)
			continue
		}
		got := ""
		if d.Rule != nil {
			got = d.Rule.Field
		}
		if got != c.rule {
			t.Errorf("%s: decided by %q, want %q", c.host, got, c.rule)
		}
		if d.Reason == "" {
			t.Errorf("%s: no reason", c.host)
		}
	}
	if d, _ := n.DecideName("10.1.2.3"); !strings.Contains(d.Reason, "IP address") {
		t.Errorf("IP literal reason: %q", d.Reason)
	}
	for _, bad := range []string{"a\x00b.example.com", "a%2e.example.com", "user@api.example.com", "a\\b.example.com", ""} {
		if _, err := n.DecideName(bad); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
	n.OnUnknown = VerdictAsk
	if d, _ := n.DecideName("new.example.org"); d.Verdict != VerdictDeny {
		t.Errorf("on_unknown ask: %s, want deny for a name", d.Verdict)
	}
}

func TestSyscallDecide(t *testing.T) {
	s := testBundle(t).Syscalls
	cases := []struct {
		name    string
		args    [6]uint64
		verdict string
		reason  string
	}{
		{"socket", [6]uint64{unix.AF_INET}, VerdictAllow, "allowed"},
		{"socket", [6]uint64{unix.AF_PACKET}, VerdictDeny, "allowed only when domain in [AF_INET]"},
		{"mount", [6]uint64{}, VerdictDeny, "not in any allow rule"},
		{"clone3", [6]uint64{}, VerdictDeny, "ENOSYS"},
	}
	for _, c := range cases {
		d, _, err := s.Decide(seccomp.X86_64, c.name, c.args)
		if err != nil || d.Verdict != c.verdict || !strings.Contains(d.Reason, c.reason) {
			t.Errorf("%s%v: %s %q (%v), want %s containing %q", c.name, c.args, d.Verdict, d.Reason, err, c.verdict, c.reason)
		}
	}
	if _, _, err := s.Decide(seccomp.X86_64, "no_such_call", [6]uint64{}); err == nil {
		t.Error("an unknown syscall was answered")
	}
}

func TestGuardedIn(t *testing.T) {
	for _, c := range []struct {
		prefix    string
		withLocal bool
		want      string
	}{
		{"169.254.169.254/32", false, "link-local (cloud metadata)"},
		{"169.0.0.0/8", false, "link-local (cloud metadata)"},
		{"fd00:ec2::/32", false, "cloud metadata"},
		{"127.0.0.0/8", false, ""},
		{"127.0.0.1/32", true, "loopback"},
		{"203.0.113.0/24", true, ""},
	} {
		if got := GuardedIn(netip.MustParsePrefix(c.prefix), c.withLocal); got != c.want {
			t.Errorf("GuardedIn(%s, %v) = %q, want %q", c.prefix, c.withLocal, got, c.want)
		}
	}
}

func TestParseRule(t *testing.T) {
	for _, r := range []Rule{
		{Field: "network.allow[2]", File: "agent.hcl", Line: 14},
		{Field: "filesystem.deny[0]", File: "builtin:base", Line: 43},
		{Field: "syscalls.deny[1]"},
		{Field: "network.deny[0]", File: "dir (x)/p.hcl", Line: 3},
	} {
		got := ParseRule(r.String())
		if got.Field != r.Field || got.File != r.File || got.Line != r.Line {
			t.Errorf("ParseRule(%q) = %+v, want %+v", r.String(), got, r)
		}
	}
	if got := ParseRule("a, b"); got.Field != "a, b" || got.File != "" {
		t.Errorf("free text: %+v", got)
	}
}
