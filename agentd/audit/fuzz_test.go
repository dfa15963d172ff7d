package audit

import (
	"testing"
	"time"
)

// FuzzParseRecord checks that no payload makes ParseRecord, or the
// Reader's handling of a datagram, panic, and that what parses is
// consistent.
func FuzzParseRecord(f *testing.F) {
	for _, name := range []string{"grouped.txt", "ungrouped.txt", "other.txt"} {
		for _, r := range loadRecords(f, name) {
			f.Add(r.typ, []byte(r.data))
		}
	}
	for _, s := range []string{
		"", "audit(", "audit()", "audit(1:2):", "audit(1.2:3): ", "audit(1.2:3): =", "audit(1.2:3): a=\"",
		"audit(1.2:3): a='b", "audit(1.2:3): domain=1 blockers=,", "audit(1.2:3): path=0",
		"audit(99999999999999999999.1:1): x=1", "audit(1.1234567890:1): x=1",
	} {
		f.Add(uint16(TypeLandlockAccess), []byte(s))
		f.Add(uint16(TypeSeccomp), []byte(s))
	}
	f.Fuzz(func(t *testing.T, typ uint16, data []byte) {
		rec, err := ParseRecord(typ, data)
		if err == nil {
			st, _, serr := ParseStamp(data)
			if serr != nil || st.Serial != rec.Event().Serial {
				t.Fatalf("record parsed but its stamp does not: %v", serr)
			}
			if a, ok := rec.(*LandlockAccess); ok && len(a.Blockers) == 0 {
				t.Fatal("access record without blockers")
			}
		}
		s := newStream(time.Millisecond, time.Millisecond)
		now := time.Unix(1, 0)
		msg := make([]byte, sizeofNlMsghdr+len(data))
		putHeader(msg, typ)
		copy(msg[sizeofNlMsghdr:], data)
		s.datagram(msg, 0, now)
		s.datagram(data, 0, now) // the bytes as a datagram of their own
		for now = now.Add(time.Second); s.next(now) != nil; {
		}
		st := s.snapshot()
		if st.Received != st.Delivered+st.Skipped+st.Malformed {
			t.Fatalf("stats do not add up: %+v", st)
		}
	})
}
