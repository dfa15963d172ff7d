package eventlog

import (
	"os"
	"path/filepath"
	"testing"
)

// frameOffsets returns where the frames of records first..first+n-1 begin
// in a segment written by appendN, and where the last one ends.
func frameOffsets(first, n int) []int64 {
	offs := make([]int64, 0, n+1)
	var off int64
	for i := first; i < first+n; i++ {
		offs = append(offs, off)
		off += int64(headerSize + len(payload(i)))
	}
	return append(offs, off)
}

// tenRecords writes records 1..10 into one segment and closes the log.
func tenRecords(t *testing.T) (path, seg string, offs []int64) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "log")
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 1, 10)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path, filepath.Join(path, segName(1)), frameOffsets(1, 10)
}

func editFile(t *testing.T, name string, fn func(b []byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, fn(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

func encodeFrame(seq uint64, p []byte) []byte {
	b := make([]byte, headerSize+len(p))
	putFrame(b, kindData, seq, 1, p)
	return b
}

func TestTornTail(t *testing.T) {
	cases := []struct {
		name      string
		edit      func(b []byte, offs []int64) []byte
		last      uint64 // recovered
		truncated int64
	}{
		{"half a frame", func(b []byte, _ []int64) []byte {
			return append(b, encodeFrame(11, payload(11))[:40]...)
		}, 10, 40},
		{"a header only", func(b []byte, _ []int64) []byte {
			return append(b, encodeFrame(11, payload(11))[:headerSize]...)
		}, 10, headerSize},
		{"zeros", func(b []byte, _ []int64) []byte {
			return append(b, make([]byte, 4096)...)
		}, 10, 4096},
		{"the last frame cut", func(b []byte, offs []int64) []byte {
			return b[:offs[9]+20]
		}, 9, 20},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path, seg, offs := tenRecords(t)
			editFile(t, seg, func(b []byte) []byte { return c.edit(b, offs) })
			l := openT(t, path, Options{})
			st := l.Stats()
			if st.Last != c.last || st.Truncated != c.truncated {
				t.Fatalf("after recovery: last %d truncated %d, want %d and %d", st.Last, st.Truncated, c.last, c.truncated)
			}
			if fi, err := os.Stat(seg); err != nil || fi.Size() != offs[c.last] {
				t.Fatalf("segment size after recovery: %v, %v; want %d", fi.Size(), err, offs[c.last])
			}
			appendN(t, l, int(c.last)+1, 2)
			s := l.Subscribe(0, Block, 0)
			defer s.Close()
			expectRecords(t, readUntil(t, s, c.last+2), 1, c.last+2)
		})
	}
}

// expectGap checks that rs are records from..to except the seqs of one
// gap of cause corrupt covering gapFrom..gapTo.
func expectGap(t *testing.T, rs []Record, from, to, gapFrom, gapTo uint64) {
	t.Helper()
	want := from
	gaps := 0
	for _, r := range rs {
		if r.Gap != nil {
			gaps++
			g := *r.Gap
			if g != (Gap{Count: gapTo - gapFrom + 1, Cause: CauseCorrupt, From: gapFrom, To: gapTo}) || r.Seq != gapTo || want != gapFrom {
				t.Fatalf("at seq %d got gap %+v (seq %d), want %d..%d", want, g, r.Seq, gapFrom, gapTo)
			}
			want = gapTo + 1
			continue
		}
		expectRecords(t, []Record{r}, want, want)
		want++
	}
	if gaps != 1 || want != to+1 {
		t.Fatalf("%d gaps, ended at %d; want one gap and %d", gaps, want-1, to)
	}
}

func TestCorruptMiddle(t *testing.T) {
	cases := []struct {
		name           string
		edit           func(b []byte, offs []int64)
		gapFrom, gapTo uint64
	}{
		{"a payload byte", func(b []byte, offs []int64) {
			b[offs[4]+headerSize+3] ^= 0x10
		}, 5, 5},
		{"two headers", func(b []byte, offs []int64) {
			b[offs[4]] = 'x'
			b[offs[5]+9] ^= 1 // the seq: the header checksum fails
		}, 5, 6},
		{"a zeroed stretch", func(b []byte, offs []int64) {
			clear(b[offs[3]+headerSize+2 : offs[6]+10])
		}, 4, 7},
		{"the tail of the last frame", func(b []byte, offs []int64) {
			b[offs[10]-1] ^= 0xff // header intact: kept, reported
		}, 10, 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path, seg, offs := tenRecords(t)
			editFile(t, seg, func(b []byte) []byte { c.edit(b, offs); return b })
			l := openT(t, path, Options{})
			if st := l.Stats(); st.Last != 10 || st.Truncated != 0 {
				t.Fatalf("after recovery: %+v", st)
			}
			appendN(t, l, 11, 2)
			s := l.Subscribe(0, Block, 0)
			defer s.Close()
			expectGap(t, readUntil(t, s, 12), 1, 12, c.gapFrom, c.gapTo)
			if got, want := l.Stats().Corrupt, c.gapTo-c.gapFrom+1; got != want {
				t.Errorf("Stats.Corrupt = %d, want %d", got, want)
			}
		})
	}
}

// TestCorruptSealedSegments: damage to older segments, which Open does not
// scan, is found and reported by readers.
func TestCorruptSealedSegments(t *testing.T) {
	opts := Options{SegmentBytes: 4096, MaxBytes: 1 << 20}
	setup := func(t *testing.T) (string, []string) {
		path := filepath.Join(t.TempDir(), "log")
		l, err := Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, l, 1, 300)
		l.Close()
		segs := segFiles(t, path)
		if len(segs) < 4 {
			t.Fatalf("only %d segments", len(segs))
		}
		return path, segs
	}
	firstOf := func(name string) uint64 {
		n, ok := parseSegName(filepath.Base(name))
		if !ok {
			t.Fatalf("bad name %s", name)
		}
		return n
	}

	t.Run("zeroed tail", func(t *testing.T) {
		path, segs := setup(t)
		first, next := firstOf(segs[1]), firstOf(segs[2])
		offs := frameOffsets(int(first), int(next-first))
		editFile(t, segs[1], func(b []byte) []byte {
			clear(b[offs[len(offs)-3]:]) // the last two frames
			return b
		})
		l := openT(t, path, opts)
		s := l.Subscribe(0, Block, 0)
		defer s.Close()
		expectGap(t, readUntil(t, s, 300), 1, 300, next-2, next-1)
	})

	t.Run("missing segment", func(t *testing.T) {
		path, segs := setup(t)
		if err := os.Remove(segs[2]); err != nil {
			t.Fatal(err)
		}
		l := openT(t, path, opts)
		s := l.Subscribe(0, Block, 0)
		defer s.Close()
		expectGap(t, readUntil(t, s, 300), 1, 300, firstOf(segs[2]), firstOf(segs[3])-1)
	})
}

// TestCorruptActiveSegment: a reader behind the cache meets damage in the
// segment being written.
func TestCorruptActiveSegment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	l := openT(t, path, Options{CacheBytes: -1})
	appendN(t, l, 1, 10)
	offs := frameOffsets(1, 10)
	f, err := os.OpenFile(filepath.Join(path, segName(1)), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, offs[10]-offs[8]), offs[8]); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s := l.Subscribe(0, Block, 0)
	defer s.Close()
	rs := readUntil(t, s, 10)
	appendN(t, l, 11, 2)
	rs = append(rs, readUntil(t, s, 12)...)
	expectGap(t, rs, 1, 12, 9, 10)
}
