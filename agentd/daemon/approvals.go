//go:build linux

package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
	"github.com/paddock-sh/paddock/agentd/peer"
	"github.com/paddock-sh/paddock/agentd/proxy"
	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/compiler/hostpattern"
	"github.com/paddock-sh/paddock/compiler/policy"
	"github.com/paddock-sh/paddock/compiler/policyedit"
)

// Approvals (on_unknown = "ask"). The proxy holds a connection to a
// destination the policy does not name and asks the broker (ask), once
// per sandbox and host:port however many connections wait. The broker
// first looks for an earlier answer that still holds: an "allow for this
// sandbox" kept with the sandbox's record, or an entry of the policy
// overlay of the sandbox's owner and policy. Otherwise it publishes a
// request on the Approvals service and waits for Answer, the policy's
// timeout, or the withdrawal of the request (every held connection gone).
//
// "Allow permanently" appends the destination to the overlay file
// overlays/UID/POLICY.hcl under the state directory: one per policy name
// and sandbox owner, since one user's answer must not widen another
// user's sandboxes. Later sandboxes of that owner and policy start with
// its entries in their network policy (so the DNS stub resolves them
// too), as long as the policy still says on_unknown = "ask".
//
// Every request, answer (with the kernel's word on who answered),
// timeout and withdrawal is an event of the proxy layer whose object is
// the Approval.

// approvals is the broker.
type approvals struct {
	d *Daemon

	mu       sync.Mutex
	pending  map[string]*approval
	resolved []*apiv1.Approval // the last resolved requests, newest last
	watchers map[*approvalWatcher]struct{}
	overlays map[string]*overlayCache // by path
}

// approval is one pending request.
type approval struct {
	pb      *apiv1.Approval
	r       *record
	pattern string            // the destination as a host pattern: "name:port"
	answer  chan proxy.Answer // written once, under mu, by Answer
}

// approvalWatcher is one Watch stream.
type approvalWatcher struct {
	cr   peer.Cred
	ids  []string
	ch   chan *apiv1.Approval
	gone chan struct{} // closed when it fell behind and was dropped
}

const (
	keepResolved     = 256  // resolved requests remembered for FailedPrecondition
	watcherQueue     = 1024 // updates a watcher may fall behind by
	maxOverlayBytes  = 1 << 20
	overlaysDir      = "overlays"
	approvalIDPrefix = "apr-"
)

func newApprovals(d *Daemon) *approvals {
	return &approvals{d: d, pending: map[string]*approval{}, watchers: map[*approvalWatcher]struct{}{}, overlays: map[string]*overlayCache{}}
}

func newApprovalID() string {
	var b [8]byte
	rand.Read(b[:])
	return approvalIDPrefix + hex.EncodeToString(b[:])
}

// destPattern is the host pattern naming exactly host:port.
func destPattern(host string, port uint16) string {
	if ip, err := hostpattern.Canonical(host); err == nil && ip.IsIP() && ip.IP.Is6() {
		return "[" + host + "]:" + strconv.Itoa(int(port))
	}
	return host + ":" + strconv.Itoa(int(port))
}

// ask is the proxy's Config.Ask.
func (a *approvals) ask(ctx context.Context, req proxy.AskRequest) (proxy.Answer, error) {
	r := a.d.sbx.get(req.Sandbox.ID)
	if r == nil {
		return proxy.Answer{}, errors.New("the sandbox is gone")
	}
	host, err := hostpattern.Canonical(req.Host)
	if err != nil {
		return proxy.Answer{}, err
	}
	if ans, ok := a.preApproved(r, host, req.Port); ok {
		a.d.metrics.approvals.WithLabelValues("allowed-without-asking").Inc()
		return ans, nil
	}
	now := time.Now()
	ap := &approval{r: r, pattern: destPattern(req.Host, req.Port), answer: make(chan proxy.Answer, 1), pb: &apiv1.Approval{
		Id: newApprovalID(), State: apiv1.ApprovalState_APPROVAL_STATE_PENDING,
		SandboxId: r.ID, SandboxName: clean(r.Name), SandboxOwnerUid: r.Owner, PolicyName: r.b.Metadata.Policy,
		Host: req.Host, Port: uint32(req.Port), Op: req.Op, Process: a.process(req.PID, r),
		Created: timestamppb.New(now), Deadline: timestamppb.New(req.Deadline),
	}}
	if req.Client.IsValid() {
		ap.pb.Client = req.Client.String()
	}
	if req.Orig.IsValid() {
		ap.pb.Orig = req.Orig.String()
	}
	ap.pb.Reason = fmt.Sprintf("no rule of policy %q names %s; held until someone answers, denied after %s",
		r.b.Metadata.Policy, ap.pattern, req.Deadline.Sub(now).Round(time.Second))
	a.mu.Lock()
	a.pending[ap.pb.Id] = ap
	a.d.metrics.approvals.WithLabelValues("requested").Inc()
	a.d.metrics.approvalsPending.Inc()
	a.publishLocked(ap.pb)
	a.event(ap.pb, apiv1.Action_ACTION_LOG, nil)
	a.mu.Unlock()

	select {
	case ans := <-ap.answer:
		return ans, nil
	case <-ctx.Done():
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pending[ap.pb.Id] != ap {
		// Answered while the context ended: the answer is in the channel.
		return <-ap.answer, nil
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		ap.pb.State = apiv1.ApprovalState_APPROVAL_STATE_TIMED_OUT
		ap.pb.Reason = fmt.Sprintf("%s: no answer within %s; denied", ap.pattern, req.Deadline.Sub(ap.pb.Created.AsTime()).Round(time.Second))
		a.resolveLocked(ap, apiv1.Action_ACTION_DENY, nil, "timed-out")
	} else {
		ap.pb.State = apiv1.ApprovalState_APPROVAL_STATE_WITHDRAWN
		ap.pb.Reason = fmt.Sprintf("%s: every held connection went away; the request is withdrawn", ap.pattern)
		a.resolveLocked(ap, apiv1.Action_ACTION_LOG, nil, "withdrawn")
	}
	return proxy.Answer{}, ctx.Err()
}

// resolveLocked ends a pending request: published, remembered, counted and
// recorded as an event.
func (a *approvals) resolveLocked(ap *approval, action apiv1.Action, rule *apiv1.Rule, outcome string) {
	delete(a.pending, ap.pb.Id)
	a.resolved = append(a.resolved, ap.pb)
	if len(a.resolved) > keepResolved {
		a.resolved = slices.Delete(a.resolved, 0, len(a.resolved)-keepResolved)
	}
	a.publishLocked(ap.pb)
	a.event(ap.pb, action, rule)
	a.d.metrics.approvals.WithLabelValues(outcome).Inc()
	a.d.metrics.approvalsPending.Dec()
}

// event records a step of a request. The Approval is cloned: the request
// changes as it is resolved.
func (a *approvals) event(pb *apiv1.Approval, action apiv1.Action, rule *apiv1.Rule) {
	c := proto.Clone(pb).(*apiv1.Approval)
	a.d.pipe.emit(&apiv1.Event{SandboxId: pb.SandboxId, Layer: apiv1.Layer_LAYER_PROXY, Action: action, Reason: pb.Reason,
		Rule: rule, Process: c.Process, Object: &apiv1.Event_Approval{Approval: c}})
}

// preApproved looks for an earlier answer that covers host:port for r: an
// allow for the sandbox, or its owner's overlay of its policy.
func (a *approvals) preApproved(r *record, host hostpattern.Host, port uint16) (proxy.Answer, bool) {
	match := func(pattern string) bool {
		p, err := hostpattern.ParsePattern(pattern)
		return err == nil && p.Match(host, port)
	}
	a.d.sbx.mu.RLock()
	for _, ad := range r.Approved {
		if match(ad.Pattern) {
			a.d.sbx.mu.RUnlock()
			return proxy.Answer{Allow: true, Rule: "approval " + ad.ID,
				Reason: fmt.Sprintf("allowed for this sandbox by %s (approval %s, %s)", ad.By, ad.ID, ad.At.UTC().Format(time.RFC3339))}, true
		}
	}
	a.d.sbx.mu.RUnlock()
	rules, path, err := a.overlayRules(r)
	if err != nil {
		a.d.logger.Error("approvals overlay unreadable; not used", "sandbox", r.ID, "err", err)
	}
	for _, hr := range rules {
		if match(hr.Pattern) {
			return proxy.Answer{Allow: true, Rule: hr.Rule.String(),
				Reason: fmt.Sprintf("allowed permanently by the approvals overlay %s (%q)", path, hr.Rule.Text)}, true
		}
	}
	return proxy.Answer{}, false
}

// process describes the process that made the connection, if it is still
// in the sandbox.
func (a *approvals) process(pid uint32, r *record) *apiv1.Process {
	if pid == 0 {
		return nil
	}
	cg, err := peer.CgroupOf(int(pid))
	rel, _ := filepath.Rel(a.d.cgroup2, r.dir)
	if err != nil || !peer.Under(cg, "/"+rel) {
		return nil
	}
	p := &apiv1.Process{Pid: pid, CgroupId: r.cg}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil {
		p.Comm = clean(string(trimNewline(b)))
	}
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil {
		p.Exe = clean(exe)
	}
	return p
}

func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		return b[:n-1]
	}
	return b
}

// who names the caller for the record of an answer.
func who(cr peer.Cred) (string, uint32) {
	if cr.Remote() {
		return clean("certificate " + cr.Cert.Subject.String()), 0
	}
	return fmt.Sprintf("uid %d", cr.UID), cr.UID
}

// mayAnswer: root (and an admin certificate, which the remote listener
// checks before) and the sandbox's owner.
func mayAnswer(cr peer.Cred, pb *apiv1.Approval) bool {
	return cr.UID == 0 || cr.UID == pb.SandboxOwnerUid
}

// answer resolves the pending request id with decision dec, as cr.
func (a *approvals) answer(cr peer.Cred, id string, dec apiv1.Decision) (*apiv1.Approval, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ap := a.pending[id]
	if ap == nil || !mayAnswer(cr, ap.pb) {
		for _, pb := range a.resolved {
			if pb.Id == id && mayAnswer(cr, pb) {
				return nil, status.Errorf(codes.FailedPrecondition, "approval %s is already resolved: %s", id, pb.Reason)
			}
		}
		// Another user's request is reported as absent, as their
		// sandboxes are.
		return nil, status.Errorf(codes.NotFound, "no pending approval %q", id)
	}
	by, byUID := who(cr)
	pb := ap.pb
	ans := proxy.Answer{Allow: dec != apiv1.Decision_DECISION_DENY, Rule: "approval " + id}
	var rule *apiv1.Rule
	outcome := ""
	switch dec {
	case apiv1.Decision_DECISION_DENY:
		ans.Reason, outcome = fmt.Sprintf("denied by %s (approval %s)", by, id), "deny"
	case apiv1.Decision_DECISION_ALLOW_ONCE:
		ans.Reason, outcome = fmt.Sprintf("allowed once by %s (approval %s)", by, id), "allow-once"
	case apiv1.Decision_DECISION_ALLOW_SANDBOX:
		ad := approvedDest{Pattern: ap.pattern, ID: id, By: by, At: time.Now().UTC()}
		if err := a.d.sbx.approve(ap.r, ad); err != nil {
			return nil, err
		}
		ans.Reason, outcome = fmt.Sprintf("allowed for sandbox %s by %s (approval %s)", ap.r.ID, by, id), "allow-sandbox"
	case apiv1.Decision_DECISION_ALLOW_PERMANENT:
		comment := fmt.Sprintf("%s, %s, %s", id, by, time.Now().UTC().Format(time.RFC3339))
		hr, path, err := a.appendOverlay(ap.r, ap.pattern, comment)
		if err != nil {
			return nil, err
		}
		pb.Overlay = path
		ans.Rule = hr.Rule.String()
		rule = &apiv1.Rule{Field: hr.Rule.Field, Text: hr.Rule.Text, File: hr.Rule.File, Line: uint32(hr.Rule.Line)}
		ans.Reason, outcome = fmt.Sprintf("allowed permanently by %s (approval %s); written to %s", by, id, path), "allow-permanent"
	default:
		return nil, status.Errorf(codes.InvalidArgument, "decision %v", dec)
	}
	pb.State, pb.Decision, pb.AnsweredBy, pb.AnsweredByUid, pb.Reason = apiv1.ApprovalState_APPROVAL_STATE_ANSWERED, dec, by, byUID, ans.Reason
	ap.answer <- ans
	action := apiv1.Action_ACTION_ALLOW
	if !ans.Allow {
		action = apiv1.Action_ACTION_DENY
	}
	a.resolveLocked(ap, action, rule, outcome)
	return proto.Clone(pb).(*apiv1.Approval), nil
}

// ---- watching ----

func (w *approvalWatcher) wants(pb *apiv1.Approval) bool {
	return mayAnswer(w.cr, pb) && (len(w.ids) == 0 || slices.Contains(w.ids, pb.SandboxId))
}

// publishLocked sends a copy of pb to every watcher that may see it; a
// watcher too far behind is dropped (its stream ends with an error and
// the client watches again, getting the pending requests afresh).
func (a *approvals) publishLocked(pb *apiv1.Approval) {
	for w := range a.watchers {
		if !w.wants(pb) {
			continue
		}
		select {
		case w.ch <- proto.Clone(pb).(*apiv1.Approval):
		default:
			delete(a.watchers, w)
			close(w.gone)
		}
	}
}

// ---- overlays ----

// overlayCache is an overlay file as last read, and how to tell it changed.
type overlayCache struct {
	ino, size uint64
	mtime     time.Time
	rules     []bundle.HostRule
}

// overlayPath is the overlay of the sandbox owner's policy, or "" when the
// policy's name cannot name a file.
func (a *approvals) overlayPath(owner uint32, policyName string) string {
	if !policy.ValidName(policyName) {
		return ""
	}
	return filepath.Join(a.d.cfg.StateDir, overlaysDir, strconv.FormatUint(uint64(owner), 10), policyName+".hcl")
}

// overlayRules returns the entries of r's overlay (none when r's policy
// does not ask, or there is no overlay).
func (a *approvals) overlayRules(r *record) ([]bundle.HostRule, string, error) {
	if r.b.Network.OnUnknown != bundle.VerdictAsk {
		return nil, "", nil
	}
	path := a.overlayPath(r.Owner, r.b.Metadata.Policy)
	if path == "" {
		return nil, "", nil
	}
	st, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, path, nil
	}
	if err != nil {
		return nil, path, err
	}
	sys := st.Sys().(*syscall.Stat_t)
	a.mu.Lock()
	c := a.overlays[path]
	a.mu.Unlock()
	if c != nil && c.ino == sys.Ino && c.size == uint64(st.Size()) && c.mtime.Equal(st.ModTime()) {
		return c.rules, path, nil
	}
	data, c, err := readOverlay(path)
	if err != nil {
		return nil, path, err
	}
	res := policy.LoadOverlay(path, data)
	if res.Overlay == nil {
		return nil, path, fmt.Errorf("%s: %s", path, res.Diags.Error())
	}
	if res.Overlay.Policy != r.b.Metadata.Policy {
		return nil, path, fmt.Errorf("%s is an overlay for policy %q, not %q", path, res.Overlay.Policy, r.b.Metadata.Policy)
	}
	c.rules = res.Overlay.HostRules(path)
	a.mu.Lock()
	a.overlays[path] = c
	a.mu.Unlock()
	return c.rules, path, nil
}

// readOverlay reads an overlay file that is a regular file owned by root
// and writable by root only, never through a symlink.
func readOverlay(path string) ([]byte, *overlayCache, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	sys := st.Sys().(*syscall.Stat_t)
	if !st.Mode().IsRegular() || sys.Uid != 0 || st.Mode().Perm()&0o022 != 0 {
		return nil, nil, fmt.Errorf("%s must be a regular file owned by root and writable by root only (it is %v, uid %d)", path, st.Mode(), sys.Uid)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxOverlayBytes+1))
	if err != nil {
		return nil, nil, err
	}
	if len(data) > maxOverlayBytes {
		return nil, nil, fmt.Errorf("%s is larger than %d bytes", path, maxOverlayBytes)
	}
	return data, &overlayCache{ino: sys.Ino, size: uint64(st.Size()), mtime: st.ModTime()}, nil
}

// appendOverlay adds pattern to r's overlay (creating it), unless it is
// there already, and returns the overlay's rule for it. The file is
// written whole to a new file beside it and renamed over it: a reader
// sees the old overlay or the new one, never half of one. Called with
// a.mu held, so writers do not race.
func (a *approvals) appendOverlay(r *record, pattern, comment string) (bundle.HostRule, string, error) {
	name := r.b.Metadata.Policy
	path := a.overlayPath(r.Owner, name)
	if path == "" {
		return bundle.HostRule{}, "", status.Errorf(codes.FailedPrecondition, "policy name %q cannot name an overlay file; allow for the sandbox instead", name)
	}
	if r.b.Network.OnUnknown != bundle.VerdictAsk {
		return bundle.HostRule{}, "", status.Errorf(codes.FailedPrecondition, "policy %q does not ask, so an overlay would never apply", name)
	}
	for _, dir := range []string{filepath.Dir(filepath.Dir(path)), filepath.Dir(path)} {
		if err := rootDir(dir, 0o755); err != nil {
			return bundle.HostRule{}, "", status.Errorf(codes.Internal, "overlay directory: %v", err)
		}
	}
	data, _, err := readOverlay(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		data = policyedit.NewOverlay(name)
	case err != nil:
		return bundle.HostRule{}, "", status.Errorf(codes.FailedPrecondition, "overlay %s: %v", path, err)
	}
	res := policy.LoadOverlay(path, data)
	if res.Overlay == nil {
		return bundle.HostRule{}, "", status.Errorf(codes.FailedPrecondition, "overlay %s has errors; fix or remove it: %s", path, res.Diags.Error())
	}
	if res.Overlay.Policy != name {
		return bundle.HostRule{}, "", status.Errorf(codes.FailedPrecondition, "overlay %s is for policy %q, not %q", path, res.Overlay.Policy, name)
	}
	if !res.Overlay.Allows(pattern) {
		if data, err = policyedit.AppendAllow(path, data, []string{pattern}, comment); err != nil {
			return bundle.HostRule{}, "", status.Errorf(codes.Internal, "overlay %s: %v", path, err)
		}
		if res = policy.LoadOverlay(path, data); res.Overlay == nil || !res.Overlay.Allows(pattern) {
			return bundle.HostRule{}, "", status.Errorf(codes.Internal, "overlay %s: the appended entry does not read back", path)
		}
		if err := writeFileAtomic(path, data, 0o644); err != nil {
			return bundle.HostRule{}, "", status.Errorf(codes.Internal, "writing overlay %s: %v", path, err)
		}
	}
	for _, hr := range res.Overlay.HostRules(path) {
		if hr.Pattern == pattern {
			return hr, path, nil
		}
	}
	return bundle.HostRule{}, "", status.Errorf(codes.Internal, "overlay %s lost %s", path, pattern)
}

// writeFileAtomic writes data to a new file in path's directory (never
// following a symlink there), syncs it and renames it over path.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+"."+newApprovalID()+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, mode)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode) // whatever the umask
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// ---- the Approvals service ----

type approvalService struct {
	apiv1.UnimplementedApprovalsServer
	a *approvals
}

func (svc *approvalService) Watch(req *apiv1.WatchApprovalsRequest, stream grpc.ServerStreamingServer[apiv1.Approval]) error {
	cr, _ := peer.FromContext(stream.Context())
	a := svc.a
	w := &approvalWatcher{cr: cr, ids: req.GetSandboxIds(), ch: make(chan *apiv1.Approval, watcherQueue), gone: make(chan struct{})}
	a.mu.Lock()
	var now []*apiv1.Approval
	for _, ap := range a.pending {
		if w.wants(ap.pb) {
			now = append(now, proto.Clone(ap.pb).(*apiv1.Approval))
		}
	}
	if req.GetFollow() {
		a.watchers[w] = struct{}{}
		defer func() {
			a.mu.Lock()
			delete(a.watchers, w)
			a.mu.Unlock()
		}()
	}
	a.mu.Unlock()
	sort.Slice(now, func(i, j int) bool { return now[i].Created.AsTime().Before(now[j].Created.AsTime()) })
	for _, pb := range now {
		if err := stream.Send(pb); err != nil {
			return err
		}
	}
	if !req.GetFollow() {
		return nil
	}
	for {
		select {
		case pb := <-w.ch:
			if err := stream.Send(pb); err != nil {
				return err
			}
		case <-w.gone:
			return status.Errorf(codes.ResourceExhausted, "this watcher fell more than %d updates behind; watch again", watcherQueue)
		case <-stream.Context().Done():
			return status.FromContextError(stream.Context().Err()).Err()
		}
	}
}

func (svc *approvalService) Answer(ctx context.Context, req *apiv1.AnswerApprovalRequest) (*apiv1.AnswerApprovalResponse, error) {
	cr, _ := peer.FromContext(ctx)
	pb, err := svc.a.answer(cr, req.GetId(), req.GetDecision())
	if err != nil {
		return nil, err
	}
	return &apiv1.AnswerApprovalResponse{Approval: pb}, nil
}
