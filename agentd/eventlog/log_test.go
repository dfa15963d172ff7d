package eventlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// payload is the record a test appends as number i: recognisable and of
// varying length.
func payload(i int) []byte {
	return fmt.Appendf(nil, "record %d %s", i, bytes.Repeat([]byte{'x'}, i%50))
}

func openT(t testing.TB, path string, opts Options) *Log {
	t.Helper()
	l, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func appendN(t testing.TB, l *Log, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		seq, err := l.Append(payload(i))
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		if seq != uint64(i) {
			t.Fatalf("Append %d got seq %d", i, seq)
		}
	}
}

// next is Sub.Next with a deadline, failing the test on error.
func next(t testing.TB, s *Sub) Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return r
}

// readUntil reads until a record or gap with Seq >= last.
func readUntil(t testing.TB, s *Sub, last uint64) []Record {
	t.Helper()
	var out []Record
	for {
		r := next(t, s)
		out = append(out, r)
		if r.Seq >= last {
			return out
		}
	}
}

// expectRecords checks that rs are exactly the records from..to, with the
// payloads appendN gave them.
func expectRecords(t testing.TB, rs []Record, from, to uint64) {
	t.Helper()
	if uint64(len(rs)) != to-from+1 {
		t.Fatalf("got %d records, want %d (%d..%d)", len(rs), to-from+1, from, to)
	}
	for i, r := range rs {
		want := from + uint64(i)
		if r.Seq != want || r.Gap != nil || !bytes.Equal(r.Data, payload(int(want))) {
			t.Fatalf("record %d: got seq %d gap %+v data %q, want seq %d", i, r.Seq, r.Gap, r.Data, want)
		}
	}
}

func segFiles(t testing.TB, path string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(path, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestAppendSubscribe(t *testing.T) {
	l := openT(t, filepath.Join(t.TempDir(), "log"), Options{})
	appendN(t, l, 1, 10)
	s := l.Subscribe(0, Block, 0)
	defer s.Close()
	expectRecords(t, readUntil(t, s, 10), 1, 10)

	s3 := l.Subscribe(3, Block, 0)
	defer s3.Close()
	expectRecords(t, readUntil(t, s3, 10), 4, 10)

	done := make(chan error)
	go func() {
		for i := 11; i <= 15; i++ {
			if _, err := l.Append(payload(i)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	expectRecords(t, readUntil(t, s, 15), 11, 15)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	if st.First != 1 || st.Last != 15 || st.Segments != 1 || st.Subscribers != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestRefuseTooLarge(t *testing.T) {
	l := openT(t, filepath.Join(t.TempDir(), "log"), Options{})
	if _, err := l.Append(make([]byte, MaxRecordSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Append of MaxRecordSize+1 bytes: %v", err)
	}
	if _, err := l.Append(make([]byte, MaxRecordSize)); err != nil {
		t.Errorf("Append of MaxRecordSize bytes: %v", err)
	}
	small := openT(t, filepath.Join(t.TempDir(), "log"), Options{SegmentBytes: 4096})
	if _, err := small.Append(make([]byte, 4096-headerSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Append of a record larger than a segment: %v", err)
	}
	if _, err := small.Append(make([]byte, 4096-headerSize)); err != nil {
		t.Errorf("Append of a record that fills a segment: %v", err)
	}
	if _, err := small.AppendGap(1, ""); err == nil {
		t.Error("AppendGap with no cause succeeded")
	}
}

func TestAppendBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	opts := Options{SegmentBytes: 4096, MaxBytes: 1 << 20}
	l := openT(t, path, opts)
	drop := l.Subscribe(0, Drop, 1000)
	defer drop.Close()
	batch := func(from, n int) [][]byte {
		var recs [][]byte
		for i := from; i < from+n; i++ {
			recs = append(recs, payload(i))
		}
		return recs
	}
	first, n, err := l.AppendBatch(batch(1, 100)) // spans several segments
	if err != nil || first != 1 || n != 100 {
		t.Fatalf("AppendBatch = %d, %d, %v", first, n, err)
	}
	if st := l.Stats(); st.Segments < 2 || st.Last != 100 {
		t.Fatalf("stats %+v", st)
	}
	tooBig := append(batch(101, 2), make([]byte, 4096))
	if _, n, err := l.AppendBatch(tooBig); !errors.Is(err, ErrTooLarge) || n != 0 || l.Stats().Last != 100 {
		t.Fatalf("AppendBatch with a record too large: %d, %v", n, err)
	}
	if _, n, err := l.AppendBatch(nil); n != 0 || err != nil {
		t.Fatalf("empty AppendBatch: %d, %v", n, err)
	}
	appendN(t, l, 101, 1)
	expectRecords(t, readUntil(t, drop, 101), 1, 101)
	l.Close()

	l = openT(t, path, opts)
	s := l.Subscribe(0, Block, 0)
	defer s.Close()
	expectRecords(t, readUntil(t, s, 101), 1, 101)
}

func TestRestartKeepsSeq(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	opts := Options{SegmentBytes: 4096, MaxBytes: 1 << 20}
	l, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 1, 200)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}

	l = openT(t, path, opts)
	if st := l.Stats(); st.Last != 200 || st.First != 1 || st.Segments < 2 || st.Truncated != 0 {
		t.Fatalf("stats after reopening: %+v", st)
	}
	appendN(t, l, 201, 10)
	s := l.Subscribe(0, Block, 0)
	defer s.Close()
	expectRecords(t, readUntil(t, s, 210), 1, 210)
}

func TestAppendGapMarker(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 1, 2)
	seq, err := l.AppendGap(7, "ring buffer full")
	if err != nil || seq != 3 {
		t.Fatalf("AppendGap = %d, %v", seq, err)
	}
	check := func(l *Log) {
		t.Helper()
		s := l.Subscribe(2, Block, 0)
		defer s.Close()
		r := next(t, s)
		want := Gap{Count: 7, Cause: "ring buffer full"}
		if r.Seq != 3 || r.Gap == nil || *r.Gap != want || r.Data != nil {
			t.Fatalf("got %+v (gap %+v), want seq 3 with gap %+v", r, r.Gap, want)
		}
	}
	check(l) // from the cache
	l.Close()
	l = openT(t, path, Options{})
	check(l) // from the disk
}

func TestSinceBeyondLast(t *testing.T) {
	l := openT(t, filepath.Join(t.TempDir(), "log"), Options{})
	appendN(t, l, 1, 5)
	for _, mode := range []Mode{Block, Drop} {
		s := l.Subscribe(l.Stats().Last+5, mode, 0)
		last := int(l.Stats().Last)
		appendN(t, l, last+1, 5)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		r, err := s.Next(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("mode %d: got %+v, %v before the seq it asked for", mode, r, err)
		}
		appendN(t, l, last+6, 1)
		expectRecords(t, []Record{next(t, s)}, uint64(last+6), uint64(last+6))
		s.Close()
	}
}

func TestClose(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "log"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s1 := l.Subscribe(0, Block, 0)
	s2 := l.Subscribe(0, Drop, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s1.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next with a cancelled context: %v", err)
	}
	errs := make(chan error, 2)
	for _, s := range []*Sub{s1, s2} {
		go func() {
			_, err := s.Next(context.Background())
			errs <- err
		}()
	}
	time.Sleep(20 * time.Millisecond)
	s1.Close()
	if err := <-errs; !errors.Is(err, ErrClosed) {
		t.Errorf("Next across Sub.Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := <-errs; !errors.Is(err, ErrClosed) {
		t.Errorf("Next across Log.Close: %v", err)
	}
	if _, err := s2.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Next after Log.Close: %v", err)
	}
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	s2.Close()
	s2.Close()
	if n := l.Stats().Subscribers; n != 0 {
		t.Errorf("%d subscribers after closing them", n)
	}
}

// TestCloseWhileSyncing closes logs while their syncer is busy.
func TestCloseWhileSyncing(t *testing.T) {
	base := t.TempDir()
	for i := range 200 {
		l, err := Open(filepath.Join(base, fmt.Sprint(i)), Options{SyncInterval: time.Microsecond, SegmentBytes: 4096, MaxBytes: 8192})
		if err != nil {
			t.Fatal(err)
		}
		for j := range i % 50 {
			if _, err := l.Append(payload(j)); err != nil {
				t.Fatal(err)
			}
		}
		done := make(chan error)
		go func() { done <- l.Close() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Close hangs")
		}
	}
}

// TestConcurrentHistoryToLive appends from many goroutines while
// subscribers join at different points, with the cache on, tiny and off,
// and checks that each sees every seq once, in order, with its record.
func TestConcurrentHistoryToLive(t *testing.T) {
	for _, cache := range []int64{0, 2048, -1} {
		t.Run(fmt.Sprintf("cache=%d", cache), func(t *testing.T) {
			l := openT(t, filepath.Join(t.TempDir(), "log"), Options{SegmentBytes: 8192, MaxBytes: 64 << 20, CacheBytes: cache})
			const pre, writers, each = 300, 4, 1500
			var mu sync.Mutex
			bySeq := make(map[uint64]string)
			for i := 0; i < pre; i++ {
				rec := fmt.Sprintf("pre %d", i)
				seq, err := l.Append([]byte(rec))
				if err != nil {
					t.Fatal(err)
				}
				bySeq[seq] = rec
			}
			const total = pre + writers*each

			type result struct {
				since uint64
				recs  []Record
				err   error
			}
			results := make(chan result, 8)
			subscribe := func(since uint64, mode Mode) {
				s := l.Subscribe(since, mode, maxQueue)
				go func() {
					defer s.Close()
					ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
					defer cancel()
					res := result{since: since}
					for {
						r, err := s.Next(ctx)
						if err != nil {
							res.err = err
							break
						}
						res.recs = append(res.recs, r)
						if r.Seq >= total {
							break
						}
					}
					results <- res
				}()
			}
			subscribe(0, Block)
			subscribe(100, Drop)

			var wg sync.WaitGroup
			for w := 0; w < writers; w++ {
				wg.Go(func() {
					for i := 0; i < each; i++ {
						rec := fmt.Sprintf("writer %d record %d", w, i)
						seq, err := l.Append([]byte(rec))
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						bySeq[seq] = rec
						mu.Unlock()
						if w == 0 && (i == 300 || i == 900) {
							subscribe(0, Block)
							subscribe(uint64(pre+i), Block)
							subscribe(l.Stats().Last, Drop)
						}
					}
				})
			}
			wg.Wait()
			for n := 0; n < 8; n++ {
				res := <-results
				if res.err != nil {
					t.Fatalf("subscriber since %d: %v", res.since, res.err)
				}
				want := res.since + 1
				if res.since == 0 {
					want = 1
				}
				for _, r := range res.recs {
					if r.Seq != want || r.Gap != nil {
						t.Fatalf("subscriber since %d: got seq %d gap %+v, want seq %d", res.since, r.Seq, r.Gap, want)
					}
					mu.Lock()
					rec := bySeq[r.Seq]
					mu.Unlock()
					if string(r.Data) != rec {
						t.Fatalf("subscriber since %d: seq %d has %q, want %q", res.since, r.Seq, r.Data, rec)
					}
					want++
				}
				if want != total+1 {
					t.Fatalf("subscriber since %d stopped at %d", res.since, want-1)
				}
			}
		})
	}
}

// TestStuckBlockSubscriber: a Block subscriber that never reads costs
// Append nothing, and later gets every record, in order, from the disk.
func TestStuckBlockSubscriber(t *testing.T) {
	l := openT(t, filepath.Join(t.TempDir(), "log"), Options{SegmentBytes: 4 << 20, MaxBytes: 256 << 20})
	stuck := l.Subscribe(0, Block, 0)
	defer stuck.Close()
	stuckDrop := l.Subscribe(0, Drop, 16)
	defer stuckDrop.Close()
	const n = 100_000
	rec := bytes.Repeat([]byte{'e'}, 300)

	// A subscriber that keeps up, alongside.
	reader := l.Subscribe(0, Block, 0)
	defer reader.Close()
	readerDone := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		for want := uint64(1); want <= n; want++ {
			r, err := reader.Next(ctx)
			if err != nil || r.Seq != want || r.Gap != nil {
				readerDone <- fmt.Errorf("reader: seq %d gap %+v err %v, want %d", r.Seq, r.Gap, err, want)
				return
			}
		}
		readerDone <- nil
	}()

	start := time.Now()
	for i := 1; i <= n; i++ {
		binaryPut(rec, i)
		if _, err := l.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(start)
	t.Logf("%d appends with a stuck subscriber: %v (%v each)", n, took, took/n)
	// Generous: about 100 times what this machine needs, so that only a
	// writer that waits for subscribers fails.
	if took > 30*time.Second {
		t.Fatalf("%d appends took %v with a stuck subscriber", n, took)
	}
	if err := <-readerDone; err != nil {
		t.Fatal(err)
	}

	for want := 1; want <= n; want++ {
		r := next(t, stuck)
		if r.Seq != uint64(want) || r.Gap != nil || len(r.Data) != 300 || binaryGet(r.Data) != want {
			t.Fatalf("stuck subscriber: got seq %d gap %+v, want %d", r.Seq, r.Gap, want)
		}
	}
	for want := 1; want <= 16; want++ {
		if r := next(t, stuckDrop); r.Seq != uint64(want) || r.Gap != nil {
			t.Fatalf("stuck Drop subscriber: got seq %d gap %+v, want %d", r.Seq, r.Gap, want)
		}
	}
	r := next(t, stuckDrop)
	if want := (Gap{Count: n - 16, Cause: CauseSlow, From: 17, To: n}); r.Gap == nil || *r.Gap != want || r.Seq != n {
		t.Fatalf("stuck Drop subscriber: got %+v gap %+v, want %+v", r, r.Gap, want)
	}
}

func binaryPut(b []byte, i int) { le.PutUint64(b, uint64(i)) }
func binaryGet(b []byte) int    { return int(le.Uint64(b)) }

func TestDropGapExact(t *testing.T) {
	l := openT(t, filepath.Join(t.TempDir(), "log"), Options{})
	s := l.Subscribe(0, Drop, 10)
	defer s.Close()
	appendN(t, l, 1, 100)
	expectRecords(t, readN(t, s, 10), 1, 10)
	r := next(t, s)
	if want := (Gap{Count: 90, Cause: CauseSlow, From: 11, To: 100}); r.Gap == nil || *r.Gap != want || r.Seq != 100 {
		t.Fatalf("got %+v gap %+v, want %+v", r, r.Gap, want)
	}
	appendN(t, l, 101, 5)
	expectRecords(t, readN(t, s, 5), 101, 105)

	// A loss followed by more records: the gap comes just before the
	// first record after it.
	s2 := l.Subscribe(105, Drop, 2)
	defer s2.Close()
	appendN(t, l, 106, 4) // 106, 107 queued; 108, 109 dropped
	expectRecords(t, readN(t, s2, 1), 106, 106)
	appendN(t, l, 110, 1) // queued behind the loss
	expectRecords(t, readN(t, s2, 1), 107, 107)
	r = next(t, s2)
	if want := (Gap{Count: 2, Cause: CauseSlow, From: 108, To: 109}); r.Gap == nil || *r.Gap != want || r.Seq != 109 {
		t.Fatalf("got %+v gap %+v, want %+v", r, r.Gap, want)
	}
	expectRecords(t, readN(t, s2, 1), 110, 110)
	if d := l.Stats().Dropped; d != 92 {
		t.Errorf("Stats.Dropped = %d, want 92", d)
	}

	// History first, then live with drops.
	s3 := l.Subscribe(100, Drop, 3)
	defer s3.Close()
	expectRecords(t, readN(t, s3, 10), 101, 110)
	appendN(t, l, 111, 5)
	expectRecords(t, readN(t, s3, 3), 111, 113)
	if r := next(t, s3); r.Gap == nil || r.Gap.From != 114 || r.Gap.To != 115 || r.Gap.Count != 2 {
		t.Fatalf("got %+v gap %+v, want the loss of 114..115", r, r.Gap)
	}
}

func readN(t testing.TB, s *Sub, n int) []Record {
	t.Helper()
	out := make([]Record, n)
	for i := range out {
		out[i] = next(t, s)
	}
	return out
}

func dirSize(t testing.TB, path string) int64 {
	var n int64
	for _, f := range segFiles(t, path) {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

func TestRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	opts := Options{SegmentBytes: 4096, MaxBytes: 16384, CacheBytes: -1}
	l := openT(t, path, opts)

	// A subscriber with a segment open when it is removed keeps reading
	// that segment, then is told what rotation took after it.
	lagging := l.Subscribe(0, Block, 0)
	defer lagging.Close()
	appendN(t, l, 1, 10)
	expectRecords(t, readN(t, lagging, 5), 1, 5)

	const n = 1000
	appendN(t, l, 11, n-10)
	st := l.Stats()
	if st.First <= 1 || st.Last != n || st.Bytes > opts.MaxBytes {
		t.Fatalf("stats %+v", st)
	}
	if got := dirSize(t, path); got != st.Bytes || got > opts.MaxBytes {
		t.Fatalf("segments hold %d bytes, stats say %d, the bound is %d", got, st.Bytes, opts.MaxBytes)
	}
	if got := len(segFiles(t, path)); got != st.Segments {
		t.Fatalf("%d segment files, stats say %d", got, st.Segments)
	}

	// since 0: from the oldest retained, no gap.
	s0 := l.Subscribe(0, Block, 0)
	defer s0.Close()
	expectRecords(t, readUntil(t, s0, n), st.First, n)

	// since older than what remains: the exact count, then the rest.
	s5 := l.Subscribe(5, Block, 0)
	defer s5.Close()
	r := next(t, s5)
	if want := (Gap{Count: st.First - 6, Cause: CauseRotated, From: 6, To: st.First - 1}); r.Gap == nil || *r.Gap != want || r.Seq != want.To {
		t.Fatalf("got %+v gap %+v, want %+v", r, r.Gap, want)
	}
	expectRecords(t, readUntil(t, s5, n), st.First, n)

	// The lagging subscriber: the rest of its first segment, one gap,
	// everything retained; each seq accounted for once.
	want := uint64(6)
	var gaps int
	for _, r := range readUntil(t, lagging, n) {
		switch {
		case r.Gap != nil:
			gaps++
			if r.Gap.Cause != CauseRotated || r.Gap.From != want || r.Gap.To != st.First-1 || r.Gap.Count != r.Gap.To-r.Gap.From+1 {
				t.Fatalf("lagging subscriber at %d: gap %+v, first retained %d", want, r.Gap, st.First)
			}
			want = r.Gap.To + 1
		case r.Seq != want || !bytes.Equal(r.Data, payload(int(want))):
			t.Fatalf("lagging subscriber: got seq %d, want %d", r.Seq, want)
		default:
			want++
		}
	}
	if gaps != 1 || want != n+1 {
		t.Fatalf("lagging subscriber: %d gaps, ended at %d", gaps, want-1)
	}

	// A smaller bound applies when the log is opened again.
	l.Close()
	l = openT(t, path, Options{SegmentBytes: 4096, MaxBytes: 8192})
	if st := l.Stats(); st.Bytes > 8192 || dirSize(t, path) > 8192 || st.Last != n {
		t.Fatalf("after reopening with a smaller MaxBytes: %+v", st)
	}
}

func TestRefuseUnsafeDirs(t *testing.T) {
	base := t.TempDir()

	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if l, err := Open(link, Options{}); err == nil {
		l.Close()
		t.Error("Open accepted a symlinked directory")
	}

	for _, mode := range []os.FileMode{0o777, 0o770, 0o702, 0o1777} {
		d := filepath.Join(base, fmt.Sprintf("mode%o", mode))
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
		if l, err := Open(d, Options{}); err == nil {
			l.Close()
			t.Errorf("Open accepted a directory with mode %o", mode)
		}
	}

	created := filepath.Join(base, "new", "log")
	l, err := Open(created, Options{})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	fi, err := os.Stat(created)
	if err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("created directory: %v, %v", fi.Mode(), err)
	}
}

func TestRefuseOtherOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a directory away")
	}
	d := filepath.Join(t.TempDir(), "log")
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(d, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if l, err := Open(d, Options{}); err == nil {
		l.Close()
		t.Error("Open accepted a directory owned by another user")
	}
}

func TestRefuseUnsafeSegments(t *testing.T) {
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	content := []byte("not a segment, must stay as it is")
	if err := os.WriteFile(outside, content, 0o600); err != nil {
		t.Fatal(err)
	}
	plant := map[string]func(p string) error{
		"symlink":   func(p string) error { return os.Symlink(outside, p) },
		"fifo":      func(p string) error { return syscall.Mkfifo(p, 0o600) },
		"directory": func(p string) error { return os.Mkdir(p, 0o700) },
		"writable":  func(p string) error { return writeMode(p, 0o666) },
	}
	for name, fn := range plant {
		t.Run(name, func(t *testing.T) {
			d := filepath.Join(base, name)
			if err := os.Mkdir(d, 0o700); err != nil {
				t.Fatal(err)
			}
			// As the newest segment, which Open opens and may truncate,
			// and as an older one, which it only measures.
			if err := fn(filepath.Join(d, segName(1))); err != nil {
				t.Fatal(err)
			}
			for _, extra := range []bool{false, true} {
				if extra {
					if err := os.WriteFile(filepath.Join(d, segName(100)), nil, 0o600); err != nil {
						t.Fatal(err)
					}
				}
				if l, err := Open(d, Options{}); err == nil {
					l.Close()
					t.Errorf("Open accepted a %s as a segment (older segment: %v)", name, extra)
				}
			}
			if got, err := os.ReadFile(outside); err != nil || !bytes.Equal(got, content) {
				t.Errorf("the symlink's target changed: %q, %v", got, err)
			}
		})
	}
}

func writeMode(p string, mode os.FileMode) error {
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		return err
	}
	return os.Chmod(p, mode)
}
