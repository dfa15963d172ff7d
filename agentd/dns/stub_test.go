package dns

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/paddock-sh/paddock/agentd/events"
	"github.com/paddock-sh/paddock/compiler/bundle"
)

func hostRule(field, pattern string) bundle.HostRule {
	return bundle.HostRule{Pattern: pattern, Rule: bundle.Rule{File: "t.hcl", Line: 1, Col: 1, Field: field, Text: pattern}}
}

// testNetwork is the policy of the test sandbox.
func testNetwork() *bundle.Network {
	allow := []string{
		"a.test", "ttl.test:443", "txt.test", "*.wild.test", "chain.test", "full.test", "loop.test",
		"dangling.test", "long0.test", "local.test", "local6.test", "meta.test", "mixed.test",
		"metaok.test", "169.254.10.10:80", "slow.test", "nx.test", "big.test", "bigtc.test",
		"nodata.test", "localhost:3000", "1.0.0.127.in-addr.arpa",
	}
	n := &bundle.Network{
		Deny:      []bundle.HostRule{hostRule("network.deny[0]", "*.evil.test:*"), hostRule("network.deny[1]", "a.wild.test:22")},
		Listen:    bundle.ListenLoopback,
		OnUnknown: bundle.VerdictDeny,
	}
	for i, p := range allow {
		n.Allow = append(n.Allow, hostRule("network.allow["+itoa(i)+"]", p))
	}
	return n
}

type recorder struct {
	mu     sync.Mutex
	events []events.Event
}

func (r *recorder) Emit(e events.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) last() events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) == 0 {
		return events.Event{}
	}
	return r.events[len(r.events)-1]
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

type harness struct {
	zone *fakeZone
	stub *Stub
	rec  *recorder
	sb   *Sandbox
	udp  string // the stub's UDP address
	tcp  string // the stub's TCP address
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{zone: newTestZone(), rec: &recorder{}, sb: &Sandbox{ID: "sb1", Network: testNetwork()}}
	up := h.zone.serve(t)
	s, err := New(Config{Upstream: []netip.AddrPort{up}, Events: h.rec, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h.stub = s
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.udp, h.tcp = pc.LocalAddr().String(), ln.Addr().String()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.ServePacket(pc, h.sb); err != nil {
			t.Errorf("ServePacket: %v", err)
		}
	})
	wg.Go(func() {
		if err := s.ServeListener(ln, h.sb); err != nil {
			t.Errorf("ServeListener: %v", err)
		}
	})
	t.Cleanup(func() {
		pc.Close()
		ln.Close()
		wg.Wait()
	})
	return h
}

type qopt struct {
	id    uint16
	edns  int // advertised UDP size; 0: no OPT record
	class dnsmessage.Class
}

func buildQuery(t testing.TB, name string, typ dnsmessage.Type, o qopt) []byte {
	t.Helper()
	if o.id == 0 {
		o.id = 0x1234
	}
	if o.class == 0 {
		o.class = dnsmessage.ClassINET
	}
	m := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: o.id, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: dnsmessage.MustNewName(name), Type: typ, Class: o.class}},
	}
	if o.edns > 0 {
		var rh dnsmessage.ResourceHeader
		rh.SetEDNS0(o.edns, dnsmessage.RCodeSuccess, false)
		m.Additionals = append(m.Additionals, dnsmessage.Resource{Header: rh, Body: &dnsmessage.OPTResource{}})
	}
	msg, err := m.Pack()
	if err != nil {
		t.Fatalf("packing a query for %q: %v", name, err)
	}
	return msg
}

func parseReply(t testing.TB, raw []byte) dnsmessage.Message {
	t.Helper()
	var m dnsmessage.Message
	if err := m.Unpack(raw); err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	if !m.Header.Response {
		t.Fatal("reply has QR=0")
	}
	return m
}

// udp sends msg to the stub over UDP and returns the reply, or nil when
// none comes within a second.
func (h *harness) udpRaw(t testing.TB, msg []byte) []byte {
	t.Helper()
	return h.udpWait(t, msg, time.Second)
}

func (h *harness) udpWait(t testing.TB, msg []byte, wait time.Duration) []byte {
	t.Helper()
	c, err := net.Dial("udp4", h.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

func (h *harness) ask(t testing.TB, name string, typ dnsmessage.Type, o qopt) dnsmessage.Message {
	t.Helper()
	raw := h.udpRaw(t, buildQuery(t, name, typ, o))
	if raw == nil {
		t.Fatalf("%s %s: no reply", name, typeName(typ))
	}
	limit := minUDPReply
	if o.edns > 0 {
		limit = min(max(o.edns, minUDPReply), maxUDPReply)
	}
	if len(raw) > limit {
		t.Fatalf("%s: %d-byte UDP reply for a %d-byte limit", name, len(raw), limit)
	}
	m := parseReply(t, raw)
	wantID := o.id
	if wantID == 0 {
		wantID = 0x1234
	}
	if m.Header.ID != wantID {
		t.Fatalf("%s: reply ID %#x, want %#x", name, m.Header.ID, wantID)
	}
	return m
}

func addrsOf(m dnsmessage.Message) []string {
	var out []string
	for _, r := range m.Answers {
		switch b := r.Body.(type) {
		case *dnsmessage.AResource:
			out = append(out, netip.AddrFrom4(b.A).String())
		case *dnsmessage.AAAAResource:
			out = append(out, netip.AddrFrom16(b.AAAA).String())
		}
	}
	return out
}

func cnamesOf(m dnsmessage.Message) []string {
	var out []string
	for _, r := range m.Answers {
		if b, ok := r.Body.(*dnsmessage.CNAMEResource); ok {
			out = append(out, r.Header.Name.String()+">"+b.CNAME.String())
		}
	}
	return out
}

func TestAllowedNames(t *testing.T) {
	h := newHarness(t)
	m := h.ask(t, "a.test.", dnsmessage.TypeA, qopt{})
	if m.RCode != dnsmessage.RCodeSuccess || !slices.Equal(addrsOf(m), []string{"192.0.2.1"}) {
		t.Fatalf("a.test A: %v %v", m.RCode, addrsOf(m))
	}
	if !m.RecursionAvailable || !m.RecursionDesired || len(m.Questions) != 1 || m.Questions[0].Name.String() != "a.test." {
		t.Errorf("a.test A: header %+v, questions %v", m.Header, m.Questions)
	}
	for _, r := range m.Answers {
		if r.Header.TTL > maxTTL || r.Header.TTL == 0 {
			t.Errorf("TTL %d, want 1..%d", r.Header.TTL, maxTTL)
		}
		if r.Header.Name.String() != "a.test." {
			t.Errorf("owner %q", r.Header.Name.String())
		}
	}
	ev := h.rec.last()
	if ev.Layer != events.LayerDNS || ev.Action != events.ActionAllow || ev.Sandbox != "sb1" || ev.Rule != "network.allow[0] (t.hcl:1)" ||
		ev.Net == nil || ev.Net.Op != "dns" || ev.Net.Proto != "udp" || ev.Net.Host != "a.test" || ev.Net.Query != "A" || !ev.Net.Client.IsValid() {
		t.Errorf("event: %+v %+v", ev, ev.Net)
	}

	m = h.ask(t, "a.test.", dnsmessage.TypeAAAA, qopt{})
	if !slices.Equal(addrsOf(m), []string{"2001:db8::1"}) {
		t.Errorf("a.test AAAA: %v", addrsOf(m))
	}
	// Any case, answered with the question as asked; the upstream sees
	// the canonical name.
	m = h.ask(t, "A.TeSt.", dnsmessage.TypeA, qopt{id: 7})
	if !slices.Equal(addrsOf(m), []string{"192.0.2.1"}) || m.Answers[0].Header.Name.String() != "A.TeSt." {
		t.Errorf("A.TeSt.: %v %v", addrsOf(m), m.Answers)
	}
	for _, q := range h.zone.queries() {
		if strings.Contains(q, "A.TeSt") {
			t.Errorf("upstream saw a non-canonical spelling: %q", q)
		}
	}
	// A port-specific allow rule allows the name.
	if m = h.ask(t, "ttl.test.", dnsmessage.TypeA, qopt{}); !slices.Equal(addrsOf(m), []string{"192.0.2.7"}) || m.Answers[0].Header.TTL > 7 {
		t.Errorf("ttl.test: %v %v", addrsOf(m), m.Answers)
	}
}

// Denied names are NXDOMAIN, in every spelling and for every type, and
// never reach the upstream server.
func TestDeniedNamesNeverLeave(t *testing.T) {
	h := newHarness(t)
	names := []string{
		"secret-data.evil.test.",
		"aGVsbG8gd29ybGQ.secret.evil.test.",
		"SECRET-DATA.Evil.TEST.",
		"evil.test.", // no rule allows it
		"EVIL.test.",
		"a.b.c.d.e.f.evil.test.",
		strings.Repeat("x", 63) + "." + strings.Repeat("y", 63) + ".evil.test.",
		"other.test.",
		"xn--bcher-kva.evil.test.",
		"a.test.evil.test.",
		"wild.test.", // the wildcard never covers its apex
		"sub.localhost.",
	}
	for _, name := range names {
		for _, typ := range []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeAAAA, dnsmessage.TypeTXT, dnsmessage.TypeMX, dnsmessage.TypeHTTPS, typeANY, dnsmessage.TypeCNAME} {
			m := h.ask(t, name, typ, qopt{edns: 1232})
			if m.RCode != dnsmessage.RCodeNameError || len(m.Answers) != 0 {
				t.Errorf("%s %s: %v with %d answers, want NXDOMAIN", name, typeName(typ), m.RCode, len(m.Answers))
			}
			ev := h.rec.last()
			if ev.Action != events.ActionDeny || ev.Net.Host != strings.TrimSuffix(strings.ToLower(name), ".") || !strings.Contains(ev.Reason, "NXDOMAIN") {
				t.Errorf("%s: event %+v %+v", name, ev, ev.Net)
			}
		}
	}
	for _, bad := range []string{"evil", "other", "wild.test. ", "localhost"} {
		if h.zone.asked(bad) {
			t.Errorf("the upstream was asked about %q: %v", bad, h.zone.queries())
		}
	}
	if len(h.zone.queries()) != 0 {
		t.Errorf("upstream queries: %v", h.zone.queries())
	}
	h.ask(t, "secret-data.evil.test.", dnsmessage.TypeA, qopt{})
	if ev := h.rec.last(); ev.Rule != "network.deny[0] (t.hcl:1)" {
		t.Errorf("deny rule: %q", ev.Rule)
	}
	h.ask(t, "other.test.", dnsmessage.TypeA, qopt{})
	if ev := h.rec.last(); ev.Rule != "" || !strings.Contains(ev.Reason, "no rule allows other.test") {
		t.Errorf("no rule: %q %q", ev.Rule, ev.Reason)
	}
}

func TestWildcard(t *testing.T) {
	h := newHarness(t)
	// a.wild.test is denied on port 22 only: still resolvable.
	if m := h.ask(t, "a.wild.test.", dnsmessage.TypeA, qopt{}); !slices.Equal(addrsOf(m), []string{"192.0.2.11"}) {
		t.Errorf("a.wild.test: %v %v", m.RCode, addrsOf(m))
	}
	if m := h.ask(t, "wild.test.", dnsmessage.TypeA, qopt{}); m.RCode != dnsmessage.RCodeNameError {
		t.Errorf("wild.test: %v", m.RCode)
	}
	// Allowed but absent upstream: the upstream's NXDOMAIN.
	if m := h.ask(t, "deep.a.wild.test.", dnsmessage.TypeA, qopt{}); m.RCode != dnsmessage.RCodeNameError {
		t.Errorf("deep.a.wild.test: %v", m.RCode)
	}
	want := []string{"a.wild.test. A udp", "deep.a.wild.test. A udp"}
	if got := h.zone.queries(); !slices.Equal(got, want) {
		t.Errorf("upstream saw %v, want %v", got, want)
	}
}

func TestCNAME(t *testing.T) {
	h := newHarness(t)
	m := h.ask(t, "chain.test.", dnsmessage.TypeA, qopt{})
	if m.RCode != dnsmessage.RCodeSuccess || !slices.Equal(cnamesOf(m), []string{"chain.test.>c1.test.", "c1.test.>C2.test."}) ||
		!slices.Equal(addrsOf(m), []string{"192.0.2.12"}) || m.Answers[2].Header.Name.String() != "C2.test." {
		t.Fatalf("chain.test: %v %v %v", m.RCode, cnamesOf(m), m.Answers)
	}
	// Each target is resolved by the stub.
	if got, want := h.zone.queries(), []string{"chain.test. A udp", "c1.test. A udp", "c2.test. A udp"}; !slices.Equal(got, want) {
		t.Errorf("upstream saw %v, want %v", got, want)
	}
	// A chain given whole in one reply needs one query.
	m = h.ask(t, "full.test.", dnsmessage.TypeA, qopt{})
	if !slices.Equal(cnamesOf(m), []string{"full.test.>f1.test.", "f1.test.>f2.test."}) || !slices.Equal(addrsOf(m), []string{"192.0.2.13"}) {
		t.Errorf("full.test: %v %v", cnamesOf(m), addrsOf(m))
	}
	if n := len(h.zone.queries()); n != 4 {
		t.Errorf("full.test took %d queries", n-3)
	}
	// A chain that ends nowhere: the upstream's NXDOMAIN, with the chain.
	m = h.ask(t, "dangling.test.", dnsmessage.TypeA, qopt{})
	if m.RCode != dnsmessage.RCodeNameError || !slices.Equal(cnamesOf(m), []string{"dangling.test.>gone.test."}) {
		t.Errorf("dangling.test: %v %v", m.RCode, cnamesOf(m))
	}
	for _, name := range []string{"loop.test.", "long0.test."} {
		m = h.ask(t, name, dnsmessage.TypeA, qopt{})
		if m.RCode != dnsmessage.RCodeServerFailure || len(m.Answers) != 0 {
			t.Errorf("%s: %v with %d answers, want SERVFAIL", name, m.RCode, len(m.Answers))
		}
	}
	if h.zone.asked("long10.test") {
		t.Error("the stub followed a chain beyond its bound")
	}
}

// DNS rebinding: addresses of this host, the link or a metadata service
// are dropped unless the policy allows them by address.
func TestRebinding(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name string
		typ  dnsmessage.Type
		want []string
		deny bool
	}{
		{"local.test.", dnsmessage.TypeA, nil, true},
		{"local6.test.", dnsmessage.TypeAAAA, nil, true},
		{"meta.test.", dnsmessage.TypeA, nil, true},
		{"mixed.test.", dnsmessage.TypeA, []string{"192.0.2.3"}, false},
		{"metaok.test.", dnsmessage.TypeA, []string{"169.254.10.10"}, false},
	}
	for _, c := range cases {
		m := h.ask(t, c.name, c.typ, qopt{})
		if m.RCode != dnsmessage.RCodeSuccess || !slices.Equal(addrsOf(m), c.want) {
			t.Errorf("%s: %v %v, want %v", c.name, m.RCode, addrsOf(m), c.want)
		}
		ev := h.rec.last()
		if c.deny != (ev.Action == events.ActionDeny) || c.want == nil && !strings.Contains(ev.Reason, "rebinding") {
			t.Errorf("%s: event %s %q", c.name, ev.Action, ev.Reason)
		}
	}
	if ev := h.rec.events[len(h.rec.events)-2]; !strings.Contains(ev.Reason, "127.0.0.1 (loopback)") || !strings.Contains(ev.Reason, "0.0.0.0 (unspecified)") {
		t.Errorf("mixed.test reason: %q", ev.Reason)
	}
}

func TestOtherTypes(t *testing.T) {
	h := newHarness(t)
	for _, typ := range []dnsmessage.Type{dnsmessage.TypeTXT, dnsmessage.TypeMX, dnsmessage.TypeHTTPS, dnsmessage.TypeSVCB, typeANY, dnsmessage.TypeSRV, dnsmessage.TypeNS, dnsmessage.TypeCNAME, 999} {
		m := h.ask(t, "txt.test.", typ, qopt{})
		if m.RCode != dnsmessage.RCodeSuccess || len(m.Answers) != 0 {
			t.Errorf("txt.test %s: %v with %d answers, want NODATA", typeName(typ), m.RCode, len(m.Answers))
		}
		if ev := h.rec.last(); ev.Action != events.ActionAllow || ev.Net.Query != typeName(typ) {
			t.Errorf("event %+v %+v", ev, ev.Net)
		}
	}
	if m := h.ask(t, "a.test.", typeAXFR, qopt{}); m.RCode != dnsmessage.RCodeRefused {
		t.Errorf("AXFR: %v", m.RCode)
	}
	// PTR: NXDOMAIN, even for a name the policy allows.
	if m := h.ask(t, "1.0.0.127.in-addr.arpa.", dnsmessage.TypePTR, qopt{}); m.RCode != dnsmessage.RCodeNameError {
		t.Errorf("PTR: %v", m.RCode)
	}
	// IP literals are not names.
	for _, name := range []string{"127.0.0.1.", "169.254.169.254.", "0x7f.1."} {
		if m := h.ask(t, name, dnsmessage.TypeA, qopt{}); m.RCode != dnsmessage.RCodeNameError {
			t.Errorf("%s: %v", name, m.RCode)
		}
	}
	if q := h.zone.queries(); len(q) != 0 {
		t.Errorf("upstream saw %v", q)
	}
	// An allowed name without records of the type: NODATA from upstream.
	if m := h.ask(t, "nodata.test.", dnsmessage.TypeA, qopt{}); m.RCode != dnsmessage.RCodeSuccess || len(m.Answers) != 0 {
		t.Errorf("nodata.test: %v %v", m.RCode, m.Answers)
	}
	if m := h.ask(t, "nx.test.", dnsmessage.TypeA, qopt{}); m.RCode != dnsmessage.RCodeNameError {
		t.Errorf("nx.test: %v", m.RCode)
	}
}

func TestLocalhost(t *testing.T) {
	h := newHarness(t)
	if m := h.ask(t, "localhost.", dnsmessage.TypeA, qopt{}); !slices.Equal(addrsOf(m), []string{"127.0.0.1"}) {
		t.Errorf("localhost A: %v %v", m.RCode, addrsOf(m))
	}
	if m := h.ask(t, "LocalHost.", dnsmessage.TypeAAAA, qopt{}); !slices.Equal(addrsOf(m), []string{"::1"}) {
		t.Errorf("localhost AAAA: %v %v", m.RCode, addrsOf(m))
	}
	if q := h.zone.queries(); len(q) != 0 {
		t.Errorf("upstream saw %v", q)
	}
}

func TestUpstreamFailure(t *testing.T) {
	h := newHarness(t)
	start := time.Now()
	m := h.ask(t, "slow.test.", dnsmessage.TypeA, qopt{})
	if m.RCode != dnsmessage.RCodeServerFailure {
		t.Errorf("slow.test: %v", m.RCode)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("slow.test took %v", d)
	}
	if ev := h.rec.last(); ev.Action != events.ActionAllow || !strings.Contains(ev.Reason, "SERVFAIL") {
		t.Errorf("event %s %q", ev.Action, ev.Reason)
	}
	// No upstream at all: a closed port.
	pc, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	dead := netip.MustParseAddrPort(pc.LocalAddr().String())
	pc.Close()
	s, err := New(Config{Upstream: []netip.AddrPort{dead}, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	reply := s.Answer(context.Background(), h.sb, buildQuery(t, "a.test.", dnsmessage.TypeA, qopt{}))
	if m := parseReply(t, reply); m.RCode != dnsmessage.RCodeServerFailure {
		t.Errorf("dead upstream: %v", m.RCode)
	}
}

func TestCache(t *testing.T) {
	h := newHarness(t)
	for range 3 {
		if m := h.ask(t, "a.test.", dnsmessage.TypeA, qopt{}); !slices.Equal(addrsOf(m), []string{"192.0.2.1"}) {
			t.Fatalf("a.test: %v", addrsOf(m))
		}
	}
	for range 2 {
		if m := h.ask(t, "chain.test.", dnsmessage.TypeA, qopt{}); len(m.Answers) != 3 {
			t.Fatalf("chain.test: %v", m.Answers)
		}
	}
	want := []string{"a.test. A udp", "chain.test. A udp", "c1.test. A udp", "c2.test. A udp"}
	if got := h.zone.queries(); !slices.Equal(got, want) {
		t.Errorf("upstream saw %v, want %v", got, want)
	}
	// Each sandbox's policy still decides on a cached name.
	other := &Sandbox{ID: "sb2", Network: &bundle.Network{OnUnknown: bundle.VerdictDeny}}
	m := parseReply(t, h.stub.Answer(context.Background(), other, buildQuery(t, "a.test.", dnsmessage.TypeA, qopt{})))
	if m.RCode != dnsmessage.RCodeNameError {
		t.Errorf("cached name for a sandbox without the rule: %v", m.RCode)
	}
}

func TestCacheBounds(t *testing.T) {
	c := newCache(4)
	now := time.Now()
	for i := range 10 {
		c.put(cacheKey{name: itoa(i)}, result{ttl: 30}, now)
		if len(c.entries) > 4 {
			t.Fatalf("%d entries", len(c.entries))
		}
	}
	c.put(cacheKey{name: "x"}, result{ttl: 30}, now)
	if r, ok := c.get(cacheKey{name: "x"}, now.Add(10*time.Second)); !ok || r.ttl != 20 {
		t.Errorf("after 10 s: %v %d", ok, r.ttl)
	}
	if _, ok := c.get(cacheKey{name: "x"}, now.Add(30*time.Second)); ok {
		t.Error("expired entry returned")
	}
}

func TestTruncation(t *testing.T) {
	h := newHarness(t)
	m := h.ask(t, "big.test.", dnsmessage.TypeA, qopt{})
	if !m.Truncated || len(m.Answers) != 0 || m.RCode != dnsmessage.RCodeSuccess {
		t.Errorf("big.test over 512-byte UDP: TC=%v, %d answers", m.Truncated, len(m.Answers))
	}
	m = h.ask(t, "big.test.", dnsmessage.TypeA, qopt{edns: 4096}) // capped at 1232
	if m.Truncated || len(m.Answers) != maxAddrs {
		t.Errorf("big.test with EDNS: TC=%v, %d answers", m.Truncated, len(m.Answers))
	}
	if len(m.Additionals) != 1 || m.Additionals[0].Header.Type != dnsmessage.TypeOPT || m.Additionals[0].Header.Class != maxUDPReply {
		t.Errorf("OPT in the reply: %v", m.Additionals)
	}
	// The upstream truncates over UDP: the stub asks again over TCP.
	m = h.ask(t, "bigtc.test.", dnsmessage.TypeA, qopt{edns: 1232})
	if m.Truncated || len(m.Answers) != maxAddrs {
		t.Errorf("bigtc.test: TC=%v, %d answers", m.Truncated, len(m.Answers))
	}
	if !slices.Contains(h.zone.queries(), "bigtc.test. A tcp") {
		t.Errorf("no TCP fallback: %v", h.zone.queries())
	}
}

func TestTCP(t *testing.T) {
	h := newHarness(t)
	c, err := net.Dial("tcp4", h.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	for i, q := range []struct {
		name string
		want []string
	}{{"a.test.", []string{"192.0.2.1"}}, {"big.test.", nil}, {"evil.test.", nil}} {
		if err := writeTCPMessage(c, buildQuery(t, q.name, dnsmessage.TypeA, qopt{id: uint16(i + 1)})); err != nil {
			t.Fatal(err)
		}
		raw, err := readTCPMessage(c)
		if err != nil {
			t.Fatalf("query %d on one connection: %v", i+1, err)
		}
		m := parseReply(t, raw)
		if m.ID != uint16(i+1) || m.Truncated {
			t.Errorf("%s: ID %d, TC %v", q.name, m.ID, m.Truncated)
		}
		if q.want != nil && !slices.Equal(addrsOf(m), q.want) {
			t.Errorf("%s: %v", q.name, addrsOf(m))
		}
		if q.name == "big.test." && len(m.Answers) != maxAddrs {
			t.Errorf("big.test over TCP: %d answers", len(m.Answers))
		}
		if q.name == "evil.test." && m.RCode != dnsmessage.RCodeNameError {
			t.Errorf("evil.test over TCP: %v", m.RCode)
		}
		if ev := h.rec.last(); ev.Net.Proto != "tcp" {
			t.Errorf("event proto %q", ev.Net.Proto)
		}
	}
	// Something that is not a query ends the connection.
	writeTCPMessage(c, []byte{1, 2, 3})
	if _, err := readTCPMessage(c); err == nil {
		t.Error("garbage over TCP got a reply")
	}
}

func TestMalformed(t *testing.T) {
	h := newHarness(t)
	good := buildQuery(t, "a.test.", dnsmessage.TypeA, qopt{})
	two := func() []byte {
		m := dnsmessage.Message{Header: dnsmessage.Header{ID: 9}, Questions: []dnsmessage.Question{
			{Name: dnsmessage.MustNewName("a.test."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET},
			{Name: dnsmessage.MustNewName("evil.test."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET},
		}}
		b, _ := m.Pack()
		return b
	}()
	withHeader := func(mutate func(*dnsmessage.Header)) []byte {
		var m dnsmessage.Message
		if err := m.Unpack(good); err != nil {
			t.Fatal(err)
		}
		mutate(&m.Header)
		b, _ := m.Pack()
		return b
	}
	noQuestion := append([]byte(nil), good[:12]...)
	noQuestion[5] = 0
	cases := []struct {
		what  string
		msg   []byte
		rcode dnsmessage.RCode
		drop  bool
	}{
		{"empty", nil, 0, true},
		{"truncated header", good[:5], 0, true},
		{"header only, one question announced", good[:12], dnsmessage.RCodeFormatError, false},
		{"question cut short", good[:len(good)-3], dnsmessage.RCodeFormatError, false},
		{"no question", noQuestion, dnsmessage.RCodeFormatError, false},
		{"two questions", two, dnsmessage.RCodeFormatError, false},
		{"a response", withHeader(func(h *dnsmessage.Header) { h.Response = true }), 0, true},
		{"opcode STATUS", withHeader(func(h *dnsmessage.Header) { h.OpCode = 2 }), dnsmessage.RCodeNotImplemented, false},
		{"class CH", buildQuery(t, "a.test.", dnsmessage.TypeA, qopt{class: dnsmessage.ClassCHAOS}), dnsmessage.RCodeRefused, false},
		{"two OPT records", func() []byte {
			var m dnsmessage.Message
			m.Unpack(buildQuery(t, "a.test.", dnsmessage.TypeA, qopt{edns: 1232}))
			m.Additionals = append(m.Additionals, m.Additionals[0])
			b, _ := m.Pack()
			return b
		}(), dnsmessage.RCodeFormatError, false},
	}
	for _, c := range cases {
		wait := time.Second
		if c.drop {
			wait = 200 * time.Millisecond
		}
		raw := h.udpWait(t, c.msg, wait)
		if c.drop {
			if raw != nil {
				t.Errorf("%s: got a reply", c.what)
			}
			continue
		}
		if raw == nil {
			t.Errorf("%s: no reply", c.what)
			continue
		}
		m := parseReply(t, raw)
		if m.RCode != c.rcode {
			t.Errorf("%s: %v, want %v", c.what, m.RCode, c.rcode)
		}
		if c.rcode != dnsmessage.RCodeRefused && len(m.Questions) != 0 {
			t.Errorf("%s: questions echoed: %v", c.what, m.Questions)
		}
	}
	// Names the wire format carries but Canonical refuses: REFUSED, quoted
	// in the event, never forwarded.
	for _, name := range []string{"a%2e.test.", "user@a.test.", "a\\b.test.", "a\x00.test.", "a\x1b[31m.test.", "b\xc3\xbccher.test.", "a\u202e.test.", "xn--a.test.", "."} {
		m := h.ask(t, name, dnsmessage.TypeA, qopt{})
		if m.RCode != dnsmessage.RCodeRefused || len(m.Answers) != 0 {
			t.Errorf("%q: %v, want REFUSED", name, m.RCode)
		}
		ev := h.rec.last()
		if ev.Action != events.ActionDeny || !strings.HasPrefix(ev.Net.Host, `"`) {
			t.Errorf("%q: event %s host %s", name, ev.Action, ev.Net.Host)
		}
		for _, r := range ev.Net.Host + ev.Reason {
			if r < 0x20 || r == 0x7f || r == 0x202e {
				t.Errorf("%q: event carries %U: %q", name, r, ev.Reason)
			}
		}
	}
	if q := h.zone.queries(); len(q) != 0 {
		t.Errorf("upstream saw %v", q)
	}
	// A query's additional records are never echoed.
	var m dnsmessage.Message
	m.Unpack(buildQuery(t, "a.test.", dnsmessage.TypeA, qopt{}))
	m.Additionals = []dnsmessage.Resource{{Header: dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName("x.evil.test."), Class: dnsmessage.ClassINET}, Body: &dnsmessage.AResource{A: [4]byte{1, 2, 3, 4}}}}
	withExtra, _ := m.Pack()
	if r := parseReply(t, h.udpRaw(t, withExtra)); len(r.Additionals) != 0 || len(r.Authorities) != 0 {
		t.Errorf("additional section echoed: %v", r.Additionals)
	}
	// The stub is still serving.
	if m := h.ask(t, "a.test.", dnsmessage.TypeA, qopt{}); !slices.Equal(addrsOf(m), []string{"192.0.2.1"}) {
		t.Errorf("after malformed input: %v", addrsOf(m))
	}
	if n := h.rec.count(); n < len(cases) {
		t.Errorf("%d events for %d malformed messages", n, len(cases))
	}
}

func TestNoPolicy(t *testing.T) {
	h := newHarness(t)
	q := buildQuery(t, "a.test.", dnsmessage.TypeA, qopt{})
	for _, sb := range []*Sandbox{nil, {ID: "x"}} {
		if m := parseReply(t, h.stub.Answer(context.Background(), sb, q)); m.RCode != dnsmessage.RCodeNameError {
			t.Errorf("sandbox %v: %v", sb, m.RCode)
		}
	}
	if q := h.zone.queries(); len(q) != 0 {
		t.Errorf("upstream saw %v", q)
	}
}

// Many concurrent queries, some slow: every one is answered and the
// number of upstream exchanges in flight never exceeds the bound.
func TestConcurrency(t *testing.T) {
	h := newHarness(t)
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			name := []string{"a.test.", "slow.test.", "evil.test.", "chain.test."}[i%4]
			m := parseReply(t, h.stub.Answer(context.Background(), h.sb, buildQuery(t, name, dnsmessage.TypeA, qopt{id: uint16(i + 1)})))
			if m.ID != uint16(i+1) {
				t.Errorf("ID %d for %d", m.ID, i+1)
			}
		})
	}
	wg.Wait()
	if n := len(h.stub.inFlight); n != 0 {
		t.Errorf("%d upstream slots still held", n)
	}
}

func TestNew(t *testing.T) {
	if _, err := New(Config{Upstream: []netip.AddrPort{{}}}); err == nil {
		t.Error("an invalid upstream was accepted")
	}
	s, err := New(Config{Upstream: []netip.AddrPort{netip.MustParseAddrPort("192.0.2.53:53")}})
	if err != nil {
		t.Fatal(err)
	}
	if s.timeout != defaultTimeout || s.events == nil || s.log == nil {
		t.Errorf("defaults: %+v", s)
	}
}

func TestAddrAllowed(t *testing.T) {
	n := &bundle.Network{
		Allow: []bundle.HostRule{hostRule("a", "169.254.0.0/16:*"), hostRule("b", "localhost:3000"), hostRule("c", "[::1]:8080")},
		Deny:  []bundle.HostRule{hostRule("d", "169.254.169.254:*")},
	}
	for addr, want := range map[string]bool{
		"169.254.1.1":      true,
		"169.254.169.254":  false, // denied on every port
		"127.0.0.1":        false, // a name rule does not name an address
		"::1":              true,
		"::ffff:127.0.0.1": false,
		"fe80::1":          false,
	} {
		if got := addrAllowed(n, netip.MustParseAddr(addr)); got != want {
			t.Errorf("%s: %v, want %v", addr, got, want)
		}
	}
}
