//go:build linux

package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
	"github.com/paddock-sh/paddock/agentd/audit"
	"github.com/paddock-sh/paddock/agentd/events"
	"github.com/paddock-sh/paddock/agentd/peer"
	"github.com/paddock-sh/paddock/compiler/bundle"
	cseccomp "github.com/paddock-sh/paddock/compiler/seccomp"
	"github.com/paddock-sh/paddock/compiler/syscalls"
)

// Seccomp and Landlock decide inside the workload's own syscalls; the
// kernel reports their denials only through audit (package audit). The
// audit reader turns each record into an event of the sandbox whose
// process made it, with the bundle rule that decided:
//
//   - seccomp records name the process; its cgroup is read from /proc
//     while it lives, and from a small cache when it is gone (a killed
//     process is gone fast, a short-lived one often before its record is
//     read): the cache holds earlier answers and the processes the hooks'
//     exec and exit records placed, and a record that finds nothing waits
//     a little (auditSettle) for those to arrive;
//   - Landlock records name only their domain (under a task,never audit
//     rule, as on this machine, the kernel sends no syscall context): the
//     domain's allocation record names the process that created it, whose
//     cgroup is the sandbox's, since the domain is created by the shim
//     inside it and inherited only by its descendants.
//
// A record whose process lies outside agentd's cgroups is another
// program's business and is skipped; one whose process cannot be placed is
// emitted without a sandbox and says so.

const (
	auditPoll = 3 * time.Second // how often the kernel's lost counter is read
	auditPIDs = 4096            // pids whose cgroups are remembered
	auditDoms = 4096            // Landlock domains remembered
	// auditSettle is how long a record of an unknown process waits for the
	// hooks' exec and exit records (read every 20 ms), at most auditWaiting
	// records at a time.
	auditSettle  = 250 * time.Millisecond
	auditWaiting = 1024
)

// openAudit is audit.Open; tests make it fail.
var openAudit = audit.Open

type auditReader struct {
	d *Daemon
	r *audit.Reader

	mu  sync.Mutex
	err error // why denials are not reported; nil while they are

	cancel  context.CancelFunc
	wg      sync.WaitGroup
	waiting atomic.Int32 // records waiting for their process to be placed

	pidMu sync.Mutex // pids: the pipeline fills it too
	pids  *bounded[uint32, cgroupRef]

	hmu     sync.Mutex // handling: the reader and the records that waited
	domains *bounded[uint64, domainRef]
	fs      *bounded[string, *bundle.ResolvedFS] // by sandbox id

	// Used by the polling goroutine only.
	lost      uint32 // the kernel's lost counter, last seen
	malformed uint64
}

type cgroupRef struct {
	path string // as /proc/PID/cgroup writes it
	id   uint64 // its inode number; 0 when the directory is gone
}

type domainRef struct {
	creator audit.Task
	cg      cgroupRef
	known   bool
}

func newAuditReader(d *Daemon) *auditReader {
	return &auditReader{d: d, pids: newBounded[uint32, cgroupRef](auditPIDs),
		domains: newBounded[uint64, domainRef](auditDoms), fs: newBounded[string, *bundle.ResolvedFS](256)}
}

// startAudit opens the audit reader. The daemon runs without it, and says
// what is missing (degraded).
func startAudit(d *Daemon) *auditReader {
	a := newAuditReader(d)
	r, err := openAudit()
	if err != nil {
		a.err = err
		d.logger.Warn("seccomp and Landlock denials will not be reported", "err", err)
		return a
	}
	a.r = r
	if st, err := audit.GetStatus(); err == nil {
		a.lost = st.Lost
	}
	d.metrics.lost.WithLabelValues("audit")
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.wg.Add(2)
	go a.read(ctx)
	go a.poll(ctx)
	return a
}

func (a *auditReader) stop() {
	if a == nil || a.r == nil {
		return
	}
	a.cancel()
	a.wg.Wait()
	a.r.Close()
}

// degraded lists the layers whose denials go unreported, and why.
func (a *auditReader) degraded() []*apiv1.Degraded {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	err := a.err
	a.mu.Unlock()
	if err == nil {
		return nil
	}
	return []*apiv1.Degraded{
		{Layer: apiv1.Layer_LAYER_SECCOMP, Reason: "seccomp denials are enforced but not reported: the audit reader is not running: " + err.Error()},
		{Layer: apiv1.Layer_LAYER_LANDLOCK, Reason: "Landlock denials are enforced but not reported: the audit reader is not running: " + err.Error()},
	}
}

func (a *auditReader) read(ctx context.Context) {
	defer a.wg.Done()
	for {
		rec, err := a.r.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			a.mu.Lock()
			a.err = fmt.Errorf("reading audit records: %w", err)
			a.mu.Unlock()
			a.d.logger.Error("the audit reader stopped; seccomp and Landlock denials are no longer reported", "err", err)
			a.d.pipe.gap(0, "audit reader stopped: seccomp and Landlock denials are no longer reported")
			return
		}
		a.hmu.Lock()
		a.handle(rec)
		a.hmu.Unlock()
	}
}

// later handles a record again after auditSettle, unless too many wait.
func (a *auditReader) later(h func()) bool {
	if a.waiting.Add(1) > auditWaiting {
		a.waiting.Add(-1)
		return false
	}
	a.wg.Add(1)
	time.AfterFunc(auditSettle, func() {
		defer a.wg.Done()
		defer a.waiting.Add(-1)
		a.hmu.Lock()
		defer a.hmu.Unlock()
		h()
	})
	return true
}

// sawProcess remembers where another source (the hooks' exec, exit and
// socket records) placed a process, for audit records that arrive when it
// is gone.
func (a *auditReader) sawProcess(pid uint32, r *record, cg uint64) {
	if a == nil || pid == 0 {
		return
	}
	if cg == 0 {
		cg = r.cg
	}
	a.pidMu.Lock()
	a.pids.put(pid, cgroupRef{path: strings.TrimSuffix(a.d.subtree, "/") + "/" + r.ID, id: cg})
	a.pidMu.Unlock()
}

// poll reports what the kernel dropped before any listener (its lost
// counter), records the reader could not parse, and audit being switched
// off, without which Landlock logs nothing.
func (a *auditReader) poll(ctx context.Context) {
	defer a.wg.Done()
	t := time.NewTicker(auditPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if st, err := audit.GetStatus(); err == nil {
			if st.Lost > a.lost {
				n := uint64(st.Lost - a.lost)
				a.d.metrics.lost.WithLabelValues("audit").Add(float64(n))
				a.d.pipe.gap(n, "audit: the kernel dropped records (backlog or rate limit; records of every kind, so at most this many denials)")
			}
			a.lost = st.Lost
			if st.Enabled == 0 {
				err := audit.SetEnabled(true)
				a.d.logger.Warn("audit was disabled; Landlock denials in between were not logged", "re-enabled", err == nil, "err", err)
				a.d.pipe.gap(0, "audit was disabled: Landlock denials made meanwhile were not logged (count unknown)")
			}
		}
		if m := a.r.Stats().Malformed; m > a.malformed {
			a.d.metrics.lost.WithLabelValues("audit").Add(float64(m - a.malformed))
			a.d.pipe.gap(m-a.malformed, "audit: records that did not parse")
			a.malformed = m
		}
	}
}

func (a *auditReader) handle(rec audit.Record) {
	switch rec := rec.(type) {
	case *audit.Seccomp:
		a.seccomp(rec, false)
	case *audit.LandlockDomain:
		// Deallocation is not acted on: a denial may still wait for its
		// process to be placed, and ids are never reused; the cache is
		// bounded.
		if rec.Status == audit.DomainAllocated {
			cg, ok := a.cgroupOf(rec.Creator.PID)
			a.domains.put(rec.ID, domainRef{creator: rec.Creator, cg: cg, known: ok})
		}
	case *audit.LandlockAccess:
		a.landlock(rec, false)
	case *audit.Gap:
		switch rec.Cause {
		case audit.GapOverrun:
			// The serials it cost are counted when they turn out missing.
			a.d.pipe.gap(0, "audit: the reader's socket overflowed; seccomp and Landlock denials were lost")
		case audit.GapMissing:
			a.d.metrics.lost.WithLabelValues("audit").Add(float64(rec.Count))
			a.d.pipe.gap(rec.Count, fmt.Sprintf("audit: records %d-%d never arrived (records of every kind, so at most this many denials)", rec.First, rec.Last))
		}
	}
}

// cgroupOf finds the cgroup pid is in, from /proc while it lives and from
// the cache when it is gone.
func (a *auditReader) cgroupOf(pid uint32) (cgroupRef, bool) {
	if pid == 0 {
		return cgroupRef{}, false
	}
	if path, err := peer.CgroupOf(int(pid)); err == nil {
		c := cgroupRef{path: path}
		var st unix.Stat_t
		if unix.Stat(filepath.Join(a.d.cgroup2, path), &st) == nil {
			c.id = st.Ino
		}
		a.pidMu.Lock()
		a.pids.put(pid, c)
		a.pidMu.Unlock()
		return c, true
	}
	a.pidMu.Lock()
	defer a.pidMu.Unlock()
	return a.pids.get(pid)
}

// sandboxOf finds the sandbox a cgroup is or lies below. ours is false
// for cgroups outside the daemon's subtree.
func (a *auditReader) sandboxOf(c cgroupRef) (r *record, ours bool) {
	if !peer.Under(c.path, a.d.subtree) {
		return nil, false
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(c.path, strings.TrimSuffix(a.d.subtree, "/")), "/")
	id, _, _ := strings.Cut(rel, "/")
	if r = a.d.sbx.get(id); r == nil && c.id != 0 {
		r = a.d.sbx.byCgroup(c.id)
	}
	return r, true
}

// attribute places a process: its sandbox, or why it has none. skip is set
// for processes that are none of agentd's.
func (a *auditReader) attribute(c cgroupRef, known bool, pid uint32) (r *record, why string, skip bool) {
	if !known {
		return nil, fmt.Sprintf("attribution failed: process %d was gone before its cgroup could be read", pid), false
	}
	r, ours := a.sandboxOf(c)
	switch {
	case !ours:
		return nil, "", true
	case r == nil:
		return nil, fmt.Sprintf("attribution failed: cgroup %s is below agentd's but is no sandbox it knows", c.path), false
	}
	return r, "", false
}

// emit sends an event; one without a sandbox still says whether the kernel
// enforced it.
func (a *auditReader) emit(e events.Event, enforced bool) {
	ev := fromLayer(e)
	ev.Enforced = enforced
	a.d.pipe.emit(ev)
}

func (a *auditReader) seccomp(rec *audit.Seccomp, waited bool) {
	cg, known := a.cgroupOf(rec.PID)
	if !known && !waited && a.later(func() { a.seccomp(rec, true) }) {
		return
	}
	r, why, skip := a.attribute(cg, known, rec.PID)
	if skip {
		return
	}
	e := events.Event{
		Time: rec.Time, Layer: events.LayerSeccomp, Action: events.ActionDeny,
		Proc:    &events.Process{PID: rec.PID, UID: rec.UID, Comm: rec.Comm, Exe: rec.Exe, CgroupID: cg.id},
		Syscall: &events.Syscall{Nr: uint32(rec.Syscall.Number), Name: rec.Syscall.Name, Arch: rec.Arch.String()},
	}
	switch rec.Action {
	case audit.ActionKillProcess, audit.ActionKillThread:
		e.Action = events.ActionKill
	case audit.ActionErrno, audit.ActionTrap:
	case audit.ActionLog:
		// The call ran. Paddock's programs log what audit mode would
		// have refused; in enforce mode it is some other filter's log.
		if r == nil || r.b.Metadata.Mode != bundle.ModeAudit {
			e.Action = events.ActionLog
		}
	default:
		e.Action = events.ActionLog
	}
	if r != nil {
		e.Sandbox = r.ID
		var errno int32
		e.Rule, errno, e.Reason = seccompRule(r.b, rec)
		if rec.Action == audit.ActionErrno {
			e.Syscall.Errno = errno
		}
	} else {
		e.Reason = why + "; seccomp answered " + rec.Action
	}
	a.emit(e, rec.Action != audit.ActionLog)
}

// seccompRule names the bundle rule behind a seccomp denial, the errno the
// policy gives it, and a sentence. The record has no arguments, so a call
// refused by one of several argument rules names them all.
func seccompRule(b *bundle.Bundle, rec *audit.Seccomp) (rule string, errno int32, reason string) {
	defer func() {
		if rec.Action == audit.ActionLog {
			reason = "audit mode, the call ran: " + reason
		}
	}()
	nr, name := uint32(rec.Syscall.Number), rec.Syscall.Name
	arch, err := cseccomp.ArchByName(rec.Arch.String())
	if err != nil {
		return "", 0, fmt.Sprintf("a call through the %s ABI: every Paddock program refuses calls through a foreign ABI", rec.Arch)
	}
	if name == "" {
		name = fmt.Sprint(nr)
	}
	switch {
	case arch.X32Bit != 0 && nr&arch.X32Bit != 0:
		return "", int32(unix.ENOSYS), fmt.Sprintf("%s is an x32 ABI call: every Paddock program answers those with ENOSYS", name)
	case int(nr) > syscalls.MaxNumber(arch.Name):
		return "", int32(unix.ENOSYS), fmt.Sprintf("syscall %d is newer than the policy's syscall catalogue: it fails with ENOSYS, so libc can fall back", nr)
	case slices.Contains(cseccomp.Fallbacks, name):
		return "", int32(unix.ENOSYS), fmt.Sprintf("%s fails with ENOSYS so that libc falls back to an older call whose arguments a filter can check", name)
	}
	find := func(list []bundle.SyscallRule) *bundle.Rule {
		if i := slices.IndexFunc(list, func(r bundle.SyscallRule) bool { return r.Name == name }); i >= 0 {
			return &list[i].Rule
		}
		return nil
	}
	policyErrno := errnoNumber(b.Syscalls.Errno)
	if allowed := find(b.Syscalls.Allowed); allowed != nil {
		var rs []bundle.Restriction
		for _, r := range b.Syscalls.Restrictions {
			if r.Syscall == name {
				rs = append(rs, r)
			}
		}
		switch {
		case len(rs) == 1:
			r := rs[0]
			return r.Rule.String(), errnoNumber(r.Errno), fmt.Sprintf("%s is allowed only when %s %s [%s]; this call was not, so it failed with %s",
				name, r.Arg, strings.ReplaceAll(r.Op, "_", " "), strings.Join(r.Names, ", "), r.Errno)
		case len(rs) > 1:
			var rules []string
			errno = errnoNumber(rs[0].Errno)
			for _, r := range rs {
				rules = append(rules, r.Rule.String())
				if errnoNumber(r.Errno) != errno {
					errno = 0
				}
			}
			return strings.Join(rules, " or "), errno, fmt.Sprintf("%s is allowed only under %d argument rules and this call broke one of them (the kernel's record carries no arguments, so which one is not known)", name, len(rs))
		case name == "seccomp":
			return "", int32(unix.EPERM), "seccomp() may not create a user-notification listener inside a sandbox; it fails with EPERM"
		}
		return "", 0, fmt.Sprintf("%s is allowed by %s; another seccomp filter of the process refused this call (one the launcher adds, or one the workload installed)", name, allowed)
	}
	if denied := find(b.Syscalls.Denied); denied != nil {
		return denied.String(), policyErrno, fmt.Sprintf("%s is denied by %q; it fails with %s", name, denied.Text, b.Syscalls.Errno)
	}
	return "", policyErrno, fmt.Sprintf("%s is in no allow rule, so the default decided: it fails with %s", name, b.Syscalls.Errno)
}

func errnoNumber(name string) int32 {
	n, _ := syscalls.Errno(name)
	return int32(n)
}

func (a *auditReader) landlock(rec *audit.LandlockAccess, waited bool) {
	proc := &events.Process{}
	var cg cgroupRef
	var known bool
	var who string
	if rec.Context {
		// The kernel named the process (it has an audit context).
		proc = &events.Process{PID: rec.PID, UID: rec.UID, Comm: rec.Comm, Exe: rec.Exe}
		cg, known = a.cgroupOf(rec.PID)
	} else if dom, ok := a.domains.get(rec.Domain); ok {
		c := dom.creator
		proc = &events.Process{PID: c.PID, UID: c.UID, Comm: c.Comm, Exe: c.Exe}
		cg, known = dom.cg, dom.known
		if !known {
			if cg, known = a.cgroupOf(c.PID); known {
				dom.cg, dom.known = cg, true
				a.domains.put(rec.Domain, dom)
			}
		}
		// What the creator runs now, if it still lives where it made the
		// domain: the shim restricts itself and then execs the workload.
		if now, ok := a.cgroupOf(c.PID); ok && known && now.path == cg.path {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", c.PID)); err == nil {
				proc.Comm = strings.TrimSuffix(string(b), "\n")
			}
			if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", c.PID)); err == nil {
				proc.Exe = exe
			}
		}
		who = fmt.Sprintf("; the process is the Landlock domain's creator: the kernel names no other, so a descendant of pid %d may have made the call", c.PID)
	}
	if !known && proc.PID != 0 && !waited && a.later(func() { a.landlock(rec, true) }) {
		return
	}
	proc.CgroupID = cg.id
	var r *record
	var why string
	if !rec.Context && proc.PID == 0 {
		why = fmt.Sprintf("attribution failed: Landlock domain %x was never announced (its creator is unknown)", rec.Domain)
	} else {
		var skip bool
		if r, why, skip = a.attribute(cg, known, proc.PID); skip {
			return
		}
	}

	e := events.Event{Time: rec.Time, Layer: events.LayerLandlock, Action: events.ActionDeny, Proc: proc}
	blockers := strings.Join(rec.Blockers, ",")
	kind, _, _ := strings.Cut(blockers, ".")
	path := rec.Path
	if path == "" {
		path = rec.Name
	}
	switch {
	case slices.Contains(rec.Blockers, "net.connect_tcp"):
		e.Net = &events.Net{Op: "connect", Proto: "tcp", Orig: netip.AddrPortFrom(rec.Addr, rec.Port), Port: rec.Port}
		e.Reason = fmt.Sprintf("Landlock refused a TCP connection to port %d: only the ports the launcher lists are granted", rec.Port)
	case slices.Contains(rec.Blockers, "net.bind_tcp"):
		e.Net = &events.Net{Op: "bind", Proto: "tcp", Client: netip.AddrPortFrom(rec.LocalAddr, rec.LocalPort), Port: rec.LocalPort}
		e.Reason = fmt.Sprintf("Landlock refused binding TCP port %d", rec.LocalPort)
	case slices.Contains(rec.Blockers, "scope.abstract_unix_socket"):
		e.Net = &events.Net{Op: "connect", Proto: "unix", Path: "@" + strings.TrimPrefix(path, "\x00")}
		e.Reason = "Landlock refused an abstract unix socket outside the sandbox's domain"
	case slices.Contains(rec.Blockers, "scope.signal"):
		e.Reason = fmt.Sprintf("Landlock refused a signal to pid %d (%s), outside the sandbox's domain", rec.TargetPID, rec.TargetComm)
	case kind == "fs":
		e.File = &events.File{Path: path, Operation: fsOperation(rec.Blockers), Access: rec.Blockers}
		if r != nil {
			e.Rule, e.Reason = a.fsRule(r, path, rec.Blockers)
		}
		if rec.IoctlCmd != 0 {
			e.Reason += fmt.Sprintf(" (ioctl %#x)", rec.IoctlCmd)
		}
	default:
		e.Reason = "Landlock refused " + blockers
	}
	if e.Reason == "" {
		e.Reason = "Landlock refused " + blockers
	}
	if r != nil {
		e.Sandbox = r.ID
	} else {
		e.Reason = why + "; " + e.Reason
	}
	e.Reason += who
	a.emit(e, true)
}

// fsOperation names what a set of refused filesystem rights was for.
func fsOperation(blockers []string) string {
	for _, b := range blockers {
		switch {
		case b == "fs.execute":
			return "exec"
		case b == "fs.read_file", b == "fs.write_file", b == "fs.read_dir":
			return "open"
		case strings.HasPrefix(b, "fs.make_"):
			return "create"
		case strings.HasPrefix(b, "fs.remove_"):
			return "remove"
		case b == "fs.refer":
			return "rename"
		case b == "fs.truncate":
			return "truncate"
		case b == "fs.ioctl_dev":
			return "ioctl"
		}
	}
	return ""
}

// fsRule asks the bundle, resolved as agentd resolves it for the sandbox,
// which rule refuses path. Landlock is an allowlist: unless a deny rule
// matches, no grant covered the access, and the default decided.
func (a *auditReader) fsRule(r *record, path string, blockers []string) (rule, reason string) {
	what := strings.Join(blockers, ",")
	rfs, ok := a.fs.get(r.ID)
	if !ok {
		if v, err := vars(r.Owner, r.Workspace); err == nil {
			rfs, _ = r.b.Filesystem.Resolve(v)
		}
		a.fs.put(r.ID, rfs) // nil too: it will not resolve later either
	}
	write := slices.ContainsFunc(blockers, func(b string) bool {
		return b != "fs.read_file" && b != "fs.read_dir" && b != "fs.execute"
	})
	if rfs != nil {
		if d := rfs.Decide(path, write); d.Verdict == bundle.VerdictDeny && d.Rule != nil {
			return d.Rule.String(), fmt.Sprintf("Landlock refused %s: %s", what, d.Reason)
		}
	}
	where := path
	if slices.ContainsFunc(blockers, func(b string) bool {
		return strings.HasPrefix(b, "fs.make_") || strings.HasPrefix(b, "fs.remove_") || b == "fs.refer"
	}) {
		where = "in " + path
	}
	return "", fmt.Sprintf("Landlock refused %s %s: no grant gives it, so the default (deny) decided", what, where)
}

// bounded is a map that forgets its oldest entries beyond max.
type bounded[K comparable, V any] struct {
	m     map[K]V
	ring  []K
	used  []bool
	next  int
	limit int
}

func newBounded[K comparable, V any](limit int) *bounded[K, V] {
	return &bounded[K, V]{m: map[K]V{}, ring: make([]K, limit), used: make([]bool, limit), limit: limit}
}

func (b *bounded[K, V]) get(k K) (V, bool) {
	v, ok := b.m[k]
	return v, ok
}

func (b *bounded[K, V]) put(k K, v V) {
	if _, ok := b.m[k]; !ok {
		if b.used[b.next] {
			delete(b.m, b.ring[b.next])
		}
		b.ring[b.next], b.used[b.next] = k, true
		b.next = (b.next + 1) % b.limit
	}
	b.m[k] = v
}
