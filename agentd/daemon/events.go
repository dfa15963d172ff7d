//go:build linux

package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
	"github.com/paddock-sh/paddock/agentd/eventlog"
	"github.com/paddock-sh/paddock/agentd/events"
	"github.com/paddock-sh/paddock/agentd/peer"
	"github.com/paddock-sh/paddock/compiler/bundle"
)

// pipeline turns every layer's decisions into enveloped events and writes
// them to the durable log. Producers never wait for the disk: Emit queues
// (bounded), one writer appends, and what the queue could not take is
// recorded in-line as a gap with its count.
type pipeline struct {
	d       *Daemon
	log     *eventlog.Log
	q       chan *apiv1.Event
	dropped atomic.Uint64
	host    string
	bootID  string
	done    chan struct{}
	wg      sync.WaitGroup
	closing sync.Once

	lostPath string // where the ring buffer's lost count was last seen
	lostSeen uint64
	// ringMu keeps ringLost off the hub's maps once stopRing said they
	// are closing.
	ringMu      sync.Mutex
	ringStopped bool
}

const queueLen = 1 << 16

func openPipeline(d *Daemon, dir string) (*pipeline, error) {
	l, err := eventlog.Open(dir, eventlog.Options{})
	if err != nil {
		return nil, fmt.Errorf("event log: %w", err)
	}
	p := &pipeline{d: d, log: l, q: make(chan *apiv1.Event, queueLen), done: make(chan struct{}),
		lostPath: filepath.Join(d.cfg.StateDir, "ringbuf-lost")}
	p.host, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		p.bootID = strings.TrimSpace(string(b))
	}
	p.wg.Add(1)
	go p.write()
	return p, nil
}

// Emit implements events.Sink for the proxy, the DNS stub and the hooks.
func (p *pipeline) Emit(e events.Event) { p.emit(fromLayer(e)) }

func (p *pipeline) emit(ev *apiv1.Event) {
	if ev.Time == nil {
		ev.Time = timestamppb.Now()
	}
	ev.Host, ev.BootId = p.host, p.bootID
	if p.d.sbx != nil {
		var r *record
		if ev.SandboxId != "" {
			r = p.d.sbx.recent(ev.SandboxId, 0)
		} else if cg := ev.GetProcess().GetCgroupId(); cg != 0 {
			// Sources that know only the kernel's word (audit, exec and
			// exit tracepoints) name the cgroup; the sandbox is ours to find.
			if r = p.d.sbx.byCgroup(cg); r != nil {
				ev.SandboxId = r.ID
			}
		}
		if r != nil {
			ev.PolicyName, ev.BundleHash, ev.SandboxOwnerUid = r.b.Metadata.Policy, r.b.Checksum, r.Owner
			ev.Enforced = r.b.Metadata.Mode != "audit"
			if ev.GetExec() != nil {
				// What the audit reader needs to place a process that
				// has exited by the time its record arrives.
				p.d.audit.sawProcess(ev.GetProcess().GetPid(), r, ev.GetProcess().GetCgroupId())
			}
		}
	}
	p.d.metrics.action(ev.Layer, ev.Action).Inc()
	select {
	case p.q <- ev:
	default:
		p.dropped.Add(1)
		p.d.metrics.lost.WithLabelValues("pipeline").Inc()
	}
}

func (p *pipeline) write() {
	defer p.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	// The writer takes what the queue holds when it gets to it, up to
	// maxBatch events, and writes them with one AppendBatch: batches grow
	// by themselves when events come faster than one write(2) each.
	const maxBatch = 512
	batch := make([]*apiv1.Event, 0, maxBatch)
	var buf []byte // the batch's encodings, kept from one batch to the next
	take := func() {
		for len(batch) < maxBatch {
			select {
			case ev := <-p.q:
				batch = append(batch, ev)
			default:
				return
			}
		}
	}
	for {
		select {
		case ev := <-p.q:
			p.flushGap()
			batch = append(batch[:0], ev)
			take()
			buf = p.append(batch, buf)
			clear(batch)
		case <-tick.C:
			p.flushGap()
			p.ringLost("ring buffer full")
		case <-p.done:
			for {
				batch = batch[:0]
				take()
				if len(batch) == 0 {
					p.flushGap()
					return
				}
				buf = p.append(batch, buf)
			}
		}
	}
}

// append writes queued events to the log in their order: the records
// between two gap markers with one AppendBatch (one write(2)). buf is
// scratch space for their encodings; append returns it for the next batch.
func (p *pipeline) append(evs []*apiv1.Event, buf []byte) []byte {
	buf = buf[:0]
	recs := make([][]byte, 0, len(evs))
	lost := func(n int, err error) {
		p.d.metrics.lost.WithLabelValues("log").Add(float64(n))
		p.d.logger.Error("event not logged", "count", n, "err", err)
	}
	flush := func() {
		if len(recs) == 0 {
			return
		}
		_, n, err := p.log.AppendBatch(recs)
		if errors.Is(err, eventlog.ErrTooLarge) {
			// One record over the limit refuses the whole batch: write
			// them one by one, so that only that one is lost.
			n, err = 0, nil
			for _, rec := range recs {
				if _, err := p.log.Append(rec); err != nil {
					lost(1, err)
					continue
				}
				n++
			}
		} else if err != nil {
			lost(len(recs)-n, err)
		}
		p.d.metrics.events.Add(float64(n))
		recs = recs[:0]
	}
	for _, ev := range evs {
		if g := ev.GetGap(); g != nil { // queued by gap
			flush()
			if _, err := p.log.AppendGap(g.Count, g.Cause); err != nil {
				p.d.logger.Error("gap not logged", "count", g.Count, "cause", g.Cause, "err", err)
			}
			continue
		}
		start := len(buf)
		var err error
		if buf, err = (proto.MarshalOptions{}).MarshalAppend(buf, ev); err != nil {
			buf = buf[:start]
			lost(1, err)
			continue
		}
		// A record keeps the array it was encoded in, even if buf
		// grows into a new one for the next.
		recs = append(recs, buf[start:len(buf):len(buf)])
	}
	flush()
	if cap(buf) > 1<<20 {
		return nil // a batch of large events: do not keep its memory
	}
	return buf
}

// gap records that count events (0: an unknown number) were lost before
// they reached the pipeline, in order with the events queued before it.
func (p *pipeline) gap(count uint64, cause string) {
	select {
	case p.q <- &apiv1.Event{Object: &apiv1.Event_Gap{Gap: &apiv1.Gap{Count: count, Cause: cause}}}:
	default:
		// Out of order rather than not at all.
		if _, err := p.log.AppendGap(count, cause); err != nil {
			p.d.logger.Error("gap not logged", "count", count, "cause", cause, "err", err)
		}
	}
}

func (p *pipeline) flushGap() {
	if n := p.dropped.Swap(0); n > 0 {
		if _, err := p.log.AppendGap(n, "event queue full"); err != nil {
			p.d.logger.Error("gap not logged", "count", n, "err", err)
		}
	}
}

// ringLost records, as a gap, decisions the hooks could not put in their
// ring buffer since it last looked. The count lives in a pinned map, so it
// also covers the time the daemon was down.
func (p *pipeline) ringLost(cause string) {
	p.ringMu.Lock()
	defer p.ringMu.Unlock()
	if p.d.hub == nil || p.ringStopped {
		return
	}
	n, err := p.d.hub.Lost()
	if err != nil || n <= p.lostSeen {
		return
	}
	if _, err := p.log.AppendGap(n-p.lostSeen, cause); err == nil {
		p.d.metrics.lost.WithLabelValues("ring-buffer").Add(float64(n - p.lostSeen))
		p.lostSeen = n
		_ = os.WriteFile(p.lostPath, []byte(strconv.FormatUint(n, 10)), 0o600)
	}
}

// stopRing stops ringLost reading the hub's maps, before they close.
func (p *pipeline) stopRing() {
	p.ringMu.Lock()
	p.ringStopped = true
	p.ringMu.Unlock()
}

// daemonStarted records the start, what was adopted, and what the kernel
// could not keep while the daemon was down.
// daemonStarted records the start. unclean, when not "", is the start
// time of a previous agentd that never shut down cleanly.
func (p *pipeline) daemonStarted(adopted, gone []string, unclean string) {
	if b, err := os.ReadFile(p.lostPath); err == nil {
		p.lostSeen, _ = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	}
	if n, err := p.d.hub.Lost(); err == nil && n < p.lostSeen {
		p.lostSeen = 0 // the maps are new: a reboot, or pins removed
	}
	p.ringLost("ring buffer full while agentd was down")
	detail := fmt.Sprintf("agentd %s started; re-adopted %d sandboxes %v; %d gone while it was down %v",
		p.d.cfg.Version, len(adopted), adopted, len(gone), gone)
	if unclean != "" {
		// The kernel kept enforcing and kept its own decisions in the
		// pinned ring buffer; what the old daemon had read but not yet
		// written, and the proxy's decisions in flight, are gone.
		_, _ = p.log.AppendGap(0, "agentd stopped without a clean shutdown: decisions it held in memory were lost (count unknown)")
		p.d.metrics.lost.WithLabelValues("unclean-shutdown").Inc()
		detail += "; the previous agentd (started " + unclean + ") was killed or crashed"
	}
	p.emit(&apiv1.Event{Layer: apiv1.Layer_LAYER_DAEMON, Action: apiv1.Action_ACTION_LOG, Enforced: true,
		Object: &apiv1.Event_Lifecycle{Lifecycle: &apiv1.Lifecycle{Phase: "daemon-started", Detail: detail}}})
}

func (p *pipeline) close() {
	p.closing.Do(func() {
		close(p.done)
		p.wg.Wait()
		p.log.Close()
	})
}

// lifecycle records a sandbox's lifecycle step.
func (d *Daemon) lifecycle(r *record, phase, detail string) {
	sb := d.sbx.proto(r)
	d.pipe.emit(&apiv1.Event{SandboxId: r.ID, Layer: apiv1.Layer_LAYER_DAEMON, Action: apiv1.Action_ACTION_LOG, Enforced: true,
		Reason: phase,
		Object: &apiv1.Event_Lifecycle{Lifecycle: &apiv1.Lifecycle{Phase: phase, Enforced: sb.Enforced, Degraded: sb.Degraded, Detail: detail}}})
}

var layers = map[string]apiv1.Layer{
	events.LayerCgroupBPF: apiv1.Layer_LAYER_CGROUP_BPF,
	events.LayerProxy:     apiv1.Layer_LAYER_PROXY,
	events.LayerDNS:       apiv1.Layer_LAYER_DNS,
	events.LayerLauncher:  apiv1.Layer_LAYER_LAUNCHER,
	events.LayerSeccomp:   apiv1.Layer_LAYER_SECCOMP,
	events.LayerLandlock:  apiv1.Layer_LAYER_LANDLOCK,
	events.LayerBPFLSM:    apiv1.Layer_LAYER_BPF_LSM,
	events.LayerDaemon:    apiv1.Layer_LAYER_DAEMON,
}

var actions = map[string]apiv1.Action{
	events.ActionAllow:    apiv1.Action_ACTION_ALLOW,
	events.ActionDeny:     apiv1.Action_ACTION_DENY,
	events.ActionRedirect: apiv1.Action_ACTION_REDIRECT,
	events.ActionKill:     apiv1.Action_ACTION_KILL,
	events.ActionLog:      apiv1.Action_ACTION_LOG,
}

// fromLayer converts a layer's decision into the API's schema, sanitising
// every text field on the way.
func fromLayer(e events.Event) *apiv1.Event {
	ev := &apiv1.Event{
		Time: timestamppb.New(e.Time), SandboxId: clean(e.Sandbox), Layer: layers[e.Layer], Action: actions[e.Action],
		Reason: clean(e.Reason),
	}
	if e.Rule != "" {
		r := bundle.ParseRule(e.Rule)
		ev.Rule = &apiv1.Rule{Field: clean(r.Field), File: clean(r.File), Line: uint32(r.Line)}
	}
	if p := e.Proc; p != nil {
		ev.Process = &apiv1.Process{Pid: p.PID, Tid: p.TID, Uid: p.UID, Comm: clean(p.Comm), Exe: clean(p.Exe),
			CgroupId: p.CgroupID, AncestorsTruncated: p.Truncated}
		for _, a := range p.Ancestors {
			ev.Process.Ancestors = append(ev.Process.Ancestors, &apiv1.Ancestor{Pid: a.PID, Comm: clean(a.Comm), Exe: clean(a.Exe)})
		}
	}
	switch {
	case e.File != nil:
		f := &apiv1.File{Path: clean(e.File.Path), Operation: clean(e.File.Operation)}
		for _, a := range e.File.Access {
			f.Access = append(f.Access, clean(a))
		}
		ev.Object = &apiv1.Event_File{File: f}
	case e.Syscall != nil:
		ev.Object = &apiv1.Event_Syscall{Syscall: &apiv1.Syscall{Nr: e.Syscall.Nr, Name: clean(e.Syscall.Name), Arch: clean(e.Syscall.Arch), Errno: e.Syscall.Errno}}
	case e.Exec != nil:
		x := &apiv1.Exec{Exe: clean(e.Exec.Exe)}
		for _, a := range e.Exec.Argv {
			x.Argv = append(x.Argv, clean(a))
		}
		ev.Object = &apiv1.Event_Exec{Exec: x}
	case e.Exit != nil:
		ev.Object = &apiv1.Event_Exit{Exit: &apiv1.Exit{Code: e.Exit.Code, Signal: e.Exit.Signal}}
	}
	if n := e.Net; n != nil {
		nw := &apiv1.Network{Op: clean(n.Op), Proto: clean(n.Proto), Host: clean(n.Host), Port: uint32(n.Port),
			UnixPath: clean(n.Path), DnsQuery: clean(n.Query)}
		if n.Client.IsValid() {
			nw.Client = n.Client.String()
		}
		if n.Orig.IsValid() {
			nw.Orig = n.Orig.String()
		}
		if n.Dialled.IsValid() {
			nw.Dialled = n.Dialled.String()
		}
		ev.Object = &apiv1.Event_Network{Network: nw}
	}
	return ev
}

// clean strips control, bidi-override and zero-width characters from text
// that came from a workload (names, paths, comm), so an event cannot
// rewrite the terminal or the dashboard that shows it.
func clean(s string) string {
	// Protobuf refuses to marshal a string that is not UTF-8, which would
	// lose the whole event: bytes that are not become U+FFFD.
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	ok := true
	for _, r := range s {
		if bad(r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	return strings.Map(func(r rune) rune {
		if bad(r) {
			return -1
		}
		return r
	}, s)
}

func bad(r rune) bool {
	switch {
	case r == unicode.ReplacementChar:
		return false
	case unicode.IsControl(r):
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c: // bidi
		return true
	case r >= 0x200b && r <= 0x200d, r == 0x2060, r == 0xfeff: // zero width
		return true
	}
	return false
}

// ---- the Events service ----

type eventService struct {
	apiv1.UnimplementedEventsServer
	d *Daemon
}

// visibleTo: root sees everything; a user sees the events of sandboxes
// they own and the daemon's own events (lifecycle and gaps), never another
// user's.
func visibleTo(uid uint32, ev *apiv1.Event) bool {
	return uid == 0 || ev.SandboxOwnerUid == uid || (ev.SandboxId == "" && ev.Layer == apiv1.Layer_LAYER_DAEMON)
}

func matches(f *apiv1.Filter, ev *apiv1.Event) bool {
	if f == nil {
		return true
	}
	if ids := f.GetSandboxIds(); len(ids) > 0 && !slices.Contains(ids, ev.SandboxId) {
		return false
	}
	if ls := f.GetLayers(); len(ls) > 0 && !slices.Contains(ls, ev.Layer) {
		return false
	}
	if as := f.GetActions(); len(as) > 0 && !slices.Contains(as, ev.Action) {
		return false
	}
	return true
}

func (svc *eventService) Subscribe(req *apiv1.SubscribeRequest, stream grpc.ServerStreamingServer[apiv1.Event]) error {
	cr, _ := peer.FromContext(stream.Context())
	mode := eventlog.Block
	if req.GetMode() == apiv1.Mode_MODE_DROP {
		mode = eventlog.Drop
	}
	last := svc.d.pipe.log.Stats().Last
	sub := svc.d.pipe.log.Subscribe(req.GetSinceSeq(), mode, 4096)
	defer sub.Close()
	pos := req.GetSinceSeq()
	// A reader who sees every sandbox and filters nothing gets events as
	// the log holds them (storedEvent): no decoding, no re-encoding.
	raw := (cr.UID == 0 || cr.Remote()) && len(req.GetFilter().GetSandboxIds())+len(req.GetFilter().GetLayers())+len(req.GetFilter().GetActions()) == 0
	for {
		if !req.GetFollow() && pos >= last {
			return nil
		}
		rec, err := sub.Next(stream.Context())
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return status.FromContextError(err).Err()
			}
			return status.Errorf(codes.Internal, "reading the event log: %v", err)
		}
		pos = max(pos, rec.Seq)
		if rec.Gap != nil {
			pos = max(pos, rec.Gap.To)
		}
		if raw && rec.Gap == nil {
			if err := stream.SendMsg(newStoredEvent(rec.Data, rec.Seq)); err != nil {
				return err
			}
			continue
		}
		ev := svc.d.pipe.event(rec)
		// Gaps are shown to everyone: a reader must know when it might have
		// missed something of its own.
		if ev.GetGap() == nil && (!visibleTo(cr.UID, ev) || !matches(req.GetFilter(), ev)) {
			continue
		}
		if err := stream.Send(ev); err != nil {
			return err
		}
	}
}

func (svc *eventService) Info(ctx context.Context, _ *apiv1.InfoRequest) (*apiv1.InfoResponse, error) {
	d := svc.d
	var u unix.Utsname
	_ = unix.Uname(&u)
	abi, _ := landlockABI()
	d.sbx.mu.RLock()
	n := len(d.sbx.m)
	d.sbx.mu.RUnlock()
	return &apiv1.InfoResponse{
		Version: d.cfg.Version, Host: d.pipe.host, BootId: d.pipe.bootID, Kernel: unix.ByteSliceToString(u.Release[:]),
		LandlockAbi: uint32(abi), LastSeq: d.pipe.log.Stats().Last, Sandboxes: uint32(n),
		Enforced: []apiv1.Layer{apiv1.Layer_LAYER_CGROUP_BPF, apiv1.Layer_LAYER_PROXY, apiv1.Layer_LAYER_DNS,
			apiv1.Layer_LAYER_SECCOMP, apiv1.Layer_LAYER_LANDLOCK},
		Degraded: d.degraded(),
	}, nil
}

// degraded lists what this daemon does not enforce yet on this host.
func (d *Daemon) degraded() []*apiv1.Degraded {
	return append([]*apiv1.Degraded{
		{Layer: apiv1.Layer_LAYER_BPF_LSM, Reason: "deny-wins file rules are enforced by the launcher's Landlock complement expansion, not by BPF-LSM"},
	}, d.audit.degraded()...)
}

func landlockABI() (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, 1 /* LANDLOCK_CREATE_RULESET_VERSION */)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}
