//go:build linux

package daemon

import (
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/paddock-sh/paddock/agentd/events"
)

// BenchmarkPipelineWrite measures the pipeline's writer alone: events like
// the hooks' (a sandbox's denied UDP connect, with its policy and bundle
// hash) queued by emit and written to a durable log in a temporary
// directory, from the first emit until the log holds the last. The
// producer waits while the queue is half full, so nothing is dropped; ns/op
// is per event. bench/events measures the whole path, hooks to subscriber,
// with a real agentd.
func BenchmarkPipelineWrite(b *testing.B) {
	dir := b.TempDir()
	d := &Daemon{cfg: Config{StateDir: dir, Version: "bench"}, logger: slog.New(slog.NewTextHandler(io.Discard, nil)), metrics: newMetrics()}
	p, err := openPipeline(d, filepath.Join(dir, "events"))
	if err != nil {
		b.Fatal(err)
	}
	d.pipe = p
	defer p.close()
	e := events.Event{Sandbox: "sbx-0123456789ab", Layer: events.LayerCgroupBPF, Action: events.ActionDeny,
		Reason: "UDP other than DNS is refused (QUIC and HTTP/3 fall back to TCP)",
		Proc:   &events.Process{PID: 4242, Comm: "gen"},
		Net:    &events.Net{Op: "connect4", Proto: "udp", Orig: netip.MustParseAddrPort("127.0.0.1:9")}}
	hash := strings.Repeat("0123456789abcdef", 4)
	first := p.log.Stats().Last
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for len(p.q) > queueLen/2 {
			runtime.Gosched()
		}
		e.Time = time.Now()
		ev := fromLayer(e)
		ev.PolicyName, ev.BundleHash, ev.SandboxOwnerUid, ev.Enforced = "bench", hash, 1000, true
		p.emit(ev)
	}
	for p.log.Stats().Last < first+uint64(b.N) {
		time.Sleep(50 * time.Microsecond)
	}
	b.StopTimer()
	if n := p.dropped.Load(); n != 0 {
		b.Fatalf("%d events dropped", n)
	}
	if last := p.log.Stats().Last; last != first+uint64(b.N) {
		b.Fatalf("the log holds %d events, not %d", last-first, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
