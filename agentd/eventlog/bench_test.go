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

// BenchmarkAppendBatch appends 64 records per call; ns/op is per record.
func BenchmarkAppendBatch(b *testing.B) {
	l := openT(b, filepath.Join(b.TempDir(), "log"), benchOpts)
	batch := make([][]byte, 64)
	for i := range batch {
		batch[i] = bytes.Repeat([]byte{'e'}, 300)
	}
	b.SetBytes(300)
	b.ReportAllocs()
	for i := 0; i < b.N; i += len(batch) {
		if _, _, err := l.AppendBatch(batch[:min(len(batch), b.N-i)]); err != nil {
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

// BenchmarkSubscribeBlockFromDisk reads 100,000 records of history that
// is not cached (from the page cache, in practice). An op is the whole
// history.
func BenchmarkSubscribeBlockFromDisk(b *testing.B) {
	opts := benchOpts
	opts.CacheBytes = -1
	l := openT(b, filepath.Join(b.TempDir(), "log"), opts)
	rec := bytes.Repeat([]byte{'e'}, 300)
	const n = 100_000
	for range n {
		if _, err := l.Append(rec); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(n * int64(len(rec)))
	ctx := context.Background()
	for b.Loop() {
		s := l.Subscribe(0, Block, 0)
		for {
			r, err := s.Next(ctx)
			if err != nil || r.Gap != nil {
				b.Fatalf("Next: %+v, %v", r, err)
			}
			if r.Seq == n {
				break
			}
		}
		s.Close()
	}
	perRecord := b.Elapsed().Seconds() / float64(b.N*n)
	b.ReportMetric(1/perRecord, "records/s")
	b.ReportMetric(perRecord*1e9, "ns/record")
}
