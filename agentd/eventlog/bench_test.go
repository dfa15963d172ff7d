package eventlog

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
)

// benchOpts keep the benchmarks' disk use bounded whatever b.N is.
var benchOpts = Options{SegmentBytes: 16 << 20, MaxBytes: 256 << 20}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkAppend(b *testing.B) {
	l := openT(b, filepath.Join(b.TempDir(), "log"), benchOpts)
	rec := bytes.Repeat([]byte{'e'}, 300)
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Append(rec); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b)
}

func BenchmarkAppendParallel(b *testing.B) {
	l := openT(b, filepath.Join(b.TempDir(), "log"), benchOpts)
	rec := bytes.Repeat([]byte{'e'}, 300)
	b.SetBytes(int64(len(rec)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Append(rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b)
}

// BenchmarkSubscribeBlock is end to end: one goroutine appends, a Block
// subscriber receives every record. ns/op is per record.
func BenchmarkSubscribeBlock(b *testing.B) {
	l := openT(b, filepath.Join(b.TempDir(), "log"), benchOpts)
	rec := bytes.Repeat([]byte{'e'}, 300)
	s := l.Subscribe(l.Stats().Last, Block, 0)
	defer s.Close()
	b.SetBytes(int64(len(rec)))
	b.ResetTimer()
	go func() {
		for i := 0; i < b.N; i++ {
			if _, err := l.Append(rec); err != nil {
				b.Error(err)
				return
			}
		}
	}()
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		r, err := s.Next(ctx)
		if err != nil || r.Gap != nil {
			b.Fatalf("Next: %+v, %v", r, err)
		}
	}
	reportRate(b)
}

// BenchmarkSubscribeBlockFromDisk reads history that is no longer cached.
func BenchmarkSubscribeBlockFromDisk(b *testing.B) {
	opts := benchOpts
	opts.CacheBytes = -1
	l := openT(b, filepath.Join(b.TempDir(), "log"), opts)
	rec := bytes.Repeat([]byte{'e'}, 300)
	for i := 0; i < b.N; i++ {
		if _, err := l.Append(rec); err != nil {
			b.Fatal(err)
		}
	}
	s := l.Subscribe(0, Block, 0)
	defer s.Close()
	b.SetBytes(int64(len(rec)))
	b.ResetTimer()
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		r, err := s.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if r.Gap != nil {
			// More than MaxBytes of history: the oldest was rotated.
			i += int(r.Gap.Count) - 1
		}
	}
	reportRate(b)
}
