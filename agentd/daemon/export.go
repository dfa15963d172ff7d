//go:build linux

package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
	"github.com/paddock-sh/paddock/agentd/eventlog"
)

// event turns a log record into the API's event; a gap becomes an event
// whose object is the Gap.
func (p *pipeline) event(rec eventlog.Record) *apiv1.Event {
	if rec.Gap != nil {
		return &apiv1.Event{Seq: rec.Seq, Time: timestamppb.New(rec.Time), Host: p.host, BootId: p.bootID,
			Layer: apiv1.Layer_LAYER_DAEMON, Action: apiv1.Action_ACTION_LOG, Enforced: true, Reason: rec.Gap.Cause,
			Object: &apiv1.Event_Gap{Gap: &apiv1.Gap{Count: rec.Gap.Count, Cause: rec.Gap.Cause, FromSeq: rec.Gap.From, ToSeq: rec.Gap.To}}}
	}
	ev := &apiv1.Event{}
	if err := proto.Unmarshal(rec.Data, ev); err != nil {
		ev = &apiv1.Event{Layer: apiv1.Layer_LAYER_DAEMON, Action: apiv1.Action_ACTION_LOG, Enforced: true,
			Object: &apiv1.Event_Gap{Gap: &apiv1.Gap{Count: 1, Cause: "undecodable event", FromSeq: rec.Seq, ToSeq: rec.Seq}}}
	}
	ev.Seq = rec.Seq
	return ev
}

// exporter copies the event log, every event and gap, to a JSON-lines file
// for log shippers. It is one more reader of the log in block mode: it
// never holds up enforcement or other readers, and after a restart it goes
// on from the last sequence number it recorded (kept beside the log,
// written at most every quarter second): it never loses an event, and
// after a crash may repeat the last few, which each line's seq tells. The file is rotated at MaxBytes
// to FILE.1 (one old file kept), the way shippers expect to tail it.
type exporter struct {
	p        *pipeline
	path     string
	maxBytes int64
	posPath  string
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

const exportMaxBytes = 256 << 20

func startExport(p *pipeline, path, stateDir string) (*exporter, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("export: %q is not an absolute path", path)
	}
	x := &exporter{p: p, path: path, maxBytes: exportMaxBytes, posPath: filepath.Join(stateDir, "export-seq")}
	since := uint64(0)
	if b, err := os.ReadFile(x.posPath); err == nil {
		since, _ = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	}
	f, err := x.open()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	x.cancel = cancel
	sub := p.log.Subscribe(since, eventlog.Block, 4096)
	x.wg.Add(1)
	go func() {
		defer x.wg.Done()
		defer sub.Close()
		x.run(ctx, sub, f)
	}()
	return x, nil
}

// open opens the export file for appending; it is created root-only: the
// events name every sandbox's activity.
func (x *exporter) open() (*os.File, error) {
	f, err := os.OpenFile(x.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return f, nil
}

func (x *exporter) run(ctx context.Context, sub *eventlog.Sub, f *os.File) {
	size := int64(0)
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	var seq uint64
	var saved time.Time
	save := func() { _ = os.WriteFile(x.posPath, []byte(strconv.FormatUint(seq, 10)), 0o600) }
	defer func() {
		f.Close()
		if seq != 0 {
			save()
		}
	}()
	opts := protojson.MarshalOptions{UseProtoNames: true}
	var buf []byte
	for {
		rec, err := sub.Next(ctx)
		if err != nil {
			return
		}
		buf, err = opts.MarshalAppend(buf[:0], x.p.event(rec))
		if err != nil {
			continue
		}
		buf = append(buf, '\n')
		if size+int64(len(buf)) > x.maxBytes {
			f.Close()
			os.Rename(x.path, x.path+".1")
			if f, err = x.open(); err != nil {
				x.p.d.logger.Error("export file", "err", err)
				return
			}
			size = 0
		}
		if _, err := f.Write(buf); err != nil {
			x.p.d.logger.Error("writing the export file", "err", err)
			return
		}
		size += int64(len(buf))
		seq = rec.Seq
		if rec.Gap != nil {
			seq = rec.Gap.To
		}
		if now := time.Now(); now.Sub(saved) > 250*time.Millisecond {
			save()
			saved = now
		}
	}
}

func (x *exporter) close() {
	if x == nil {
		return
	}
	x.cancel()
	x.wg.Wait()
}
