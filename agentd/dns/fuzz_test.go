package dns

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/paddock-sh/paddock/compiler/bundle"
)

// fuzzStub is a stub whose upstream is the test zone, called in memory.
func fuzzStub(tb testing.TB) (*Stub, *fakeZone, *recorder) {
	z, rec := newTestZone(), &recorder{}
	s, err := New(Config{Upstream: []netip.AddrPort{netip.MustParseAddrPort("192.0.2.53:53")}, Events: rec, Timeout: 50 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	s.roundTrip = func(ctx context.Context, _ netip.AddrPort, query []byte, tcp bool) ([]byte, error) {
		if out := z.handle(query, tcp); out != nil {
			return out, nil
		}
		return nil, errors.New("no reply")
	}
	return s, z, rec
}

// FuzzAnswer: whatever arrives, the stub does not panic; it replies with
// nothing or with a well-formed response carrying the query's ID; every
// query yields one event; and the upstream is asked only about names the
// policy allows or CNAME targets of the zone.
func FuzzAnswer(f *testing.F) {
	for _, name := range []string{"a.test.", "chain.test.", "loop.test.", "secret.evil.test.", "A.TEST.", "localhost.", "big.test.", "a%b.test.", "127.0.0.1."} {
		for _, typ := range []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeAAAA, dnsmessage.TypeTXT, dnsmessage.TypePTR} {
			f.Add(buildQuery(f, name, typ, qopt{}))
		}
		f.Add(buildQuery(f, name, dnsmessage.TypeA, qopt{edns: 1232}))
	}
	f.Add([]byte{})
	f.Add([]byte{0x12, 0x34})
	f.Add(make([]byte, 12))
	f.Add([]byte("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01"))

	s, z, rec := fuzzStub(f)
	sb := &Sandbox{ID: "fuzz", Network: testNetwork()}
	targets := map[string]bool{}
	for _, rrs := range z.records {
		for _, rr := range rrs {
			if rr.typ == dnsmessage.TypeCNAME {
				targets[strings.ToLower(rr.cname)] = true
			}
		}
	}
	f.Fuzz(func(t *testing.T, query []byte) {
		before, seen := rec.count(), len(z.queries())
		reply := s.Answer(context.Background(), sb, query)
		if rec.count() != before+1 {
			t.Fatalf("%d events for one query", rec.count()-before)
		}
		if reply != nil {
			var m dnsmessage.Message
			if err := m.Unpack(reply); err != nil {
				t.Fatalf("reply does not parse: %v", err)
			}
			if len(query) < 2 || m.ID != uint16(query[0])<<8|uint16(query[1]) || !m.Response {
				t.Fatalf("reply header %+v for query % x", m.Header, query[:min(len(query), 12)])
			}
			if len(reply) > maxUDPReply {
				t.Fatalf("%d-byte UDP reply", len(reply))
			}
		}
		for _, q := range z.queries()[seen:] {
			name, _, _ := strings.Cut(q, " ")
			if targets[name] {
				continue
			}
			if d, err := sb.Network.DecideName(name); err != nil || d.Verdict != bundle.VerdictAllow {
				t.Fatalf("the upstream was asked about %q, which the policy does not allow", name)
			}
		}
	})
}

func FuzzResolvConf(f *testing.F) {
	f.Add([]byte("nameserver 192.0.2.1\nnameserver ::1\n"))
	f.Add([]byte("# comment\n; nameserver 1.1.1.1\nsearch x\nnameserver fe80::1%eth0 # here\n"))
	f.Add([]byte("nameserver\nnameserver 999.1.1.1\nnameserver  \t 10.0.0.1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		servers := parseResolvConf(data)
		if len(servers) > maxNameservers {
			t.Fatalf("%d servers", len(servers))
		}
		for _, s := range servers {
			if !s.IsValid() || s.Port() != 53 || s.Addr().Is4In6() {
				t.Fatalf("server %v", s)
			}
		}
	})
}
