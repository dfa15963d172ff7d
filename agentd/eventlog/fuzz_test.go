package eventlog

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func seedSegment() []byte {
	var b []byte
	for i := 1; i <= 5; i++ {
		b = append(b, encodeFrame(uint64(i), payload(i))...)
	}
	g := gapPayload(3, "ring buffer full")
	f := make([]byte, headerSize+len(g))
	putFrame(f, kindGap, 6, 2, g)
	b = append(b, f...)
	return append(b, encodeFrame(7, nil)...)
}

// FuzzReader feeds arbitrary bytes to the segment reader, to recovery and
// to a subscriber reading them from disk. None may panic; the reader may
// return only frames that verify, in increasing seq order.
func FuzzReader(f *testing.F) {
	seg := seedSegment()
	f.Add(seg)
	f.Add(seg[:len(seg)-5])
	f.Add(append(bytes.Clone(seg[:50]), seg[100:]...))
	bad := bytes.Clone(seg)
	bad[headerSize+3] ^= 1
	f.Add(bad)
	f.Add([]byte{})
	f.Add(make([]byte, 100))
	f.Fuzz(checkSegment)
}

// FuzzCorrupt builds a valid segment from the input and damages it where
// the input says, so that the reader meets frames that verify around the
// damage, which random bytes seldom contain.
func FuzzCorrupt(f *testing.F) {
	f.Add([]byte("abc"), uint16(40), byte(1), uint16(0), uint16(0))
	f.Add([]byte("hello world, these are records"), uint16(70), byte(0xff), uint16(100), uint16(30))
	f.Add(bytes.Repeat([]byte("pd\x01"), 40), uint16(3), byte(0x10), uint16(200), uint16(1))
	f.Fuzz(func(t *testing.T, src []byte, at uint16, xor byte, cutAt, cutLen uint16) {
		// Records are the input cut in pieces of varying length, some of
		// them gap markers.
		var seg []byte
		seq := uint64(1)
		for i := 0; len(src) > 0; i++ {
			n := min(len(src), 1+i*7%23)
			p := src[:n]
			src = src[n:]
			kind := byte(kindData)
			if i%5 == 4 {
				kind, p = kindGap, gapPayload(uint64(i), string(p))
			}
			fr := make([]byte, headerSize+len(p))
			putFrame(fr, kind, seq, int64(i), p)
			seg = append(seg, fr...)
			seq++
		}
		if len(seg) > 0 {
			seg[int(at)%len(seg)] ^= xor
			c := int(cutAt) % len(seg)
			seg = append(seg[:c], seg[min(len(seg), c+int(cutLen)%64):]...)
		}
		checkSegment(t, seg)
	})
}

// checkSegment runs the reader, recovery and a subscriber over data as
// the newest segment of a log.
func checkSegment(t *testing.T, data []byte) {
	r := newSegReader(bytes.NewReader(data), 1)
	var prev uint64
	for {
		fr, ok := r.next(int64(len(data)))
		if !ok {
			break
		}
		if fr.seq <= prev {
			t.Fatalf("seq %d after %d", fr.seq, prev)
		}
		prev = fr.seq
		if fr.off < 0 || fr.end > int64(len(data)) || fr.off >= fr.end {
			t.Fatalf("frame at %d..%d of %d bytes", fr.off, fr.end, len(data))
		}
		h, ok := parseHeader(data[fr.off:])
		if !ok || h != fr.header {
			t.Fatalf("frame at %d: header does not verify", fr.off)
		}
		if fr.bad {
			continue
		}
		// Encoding is deterministic: a frame that verified must be
		// what putFrame writes for its fields.
		want := make([]byte, headerSize+len(fr.payload))
		putFrame(want, fr.kind, fr.seq, fr.time, fr.payload)
		if !bytes.Equal(want, data[fr.off:fr.end]) {
			t.Fatalf("frame at %d returned without a verified checksum", fr.off)
		}
		rec := fr.record()
		if rec.Seq != fr.seq || (fr.kind == kindGap) != (rec.Gap != nil) {
			t.Fatalf("record %+v from frame %+v", rec, fr.header)
		}
	}
	last, end, err := recoverSegment(bytes.NewReader(data), 1, int64(len(data)))
	if err != nil || end < 0 || end > int64(len(data)) || last < prev {
		t.Fatalf("recovery: last %d end %d (%v); reader saw up to %d in %d bytes", last, end, err, prev, len(data))
	}

	// The whole path, from a file.
	path := filepath.Join(t.TempDir(), "log")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, segName(1)), data, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Open(path, Options{CacheBytes: -1, SyncInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := l.Stats().Last; got != last {
		t.Fatalf("Open recovered last %d, recoverSegment %d", got, last)
	}
	seq, err := l.Append([]byte("after"))
	if err != nil || seq != last+1 {
		t.Fatalf("Append after recovery: %d, %v", seq, err)
	}
	s := l.Subscribe(0, Block, 0)
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	want := uint64(1)
	for want <= seq {
		rec, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		switch {
		case rec.Gap != nil && rec.Gap.From != 0:
			if rec.Gap.From != want || rec.Gap.To < rec.Gap.From || rec.Gap.Count != rec.Gap.To-rec.Gap.From+1 || rec.Seq != rec.Gap.To {
				t.Fatalf("at %d: gap %+v", want, rec.Gap)
			}
			want = rec.Gap.To + 1
		case rec.Seq != want:
			t.Fatalf("got seq %d, want %d", rec.Seq, want)
		default:
			want++
		}
		if rec.Seq == seq && (rec.Gap != nil || string(rec.Data) != "after") {
			t.Fatalf("the appended record came back as %+v", rec)
		}
	}
}
