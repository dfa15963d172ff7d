package audit

import (
	"slices"
	"time"
)

// assembler turns the record stream into what Read returns. Seccomp
// records stand alone and pass straight through. Landlock access records
// wait for the rest of their event: the AUDIT_SYSCALL context (who, which
// syscall) and the AUDIT_EOE that ends it, or, when the process has no
// audit context and the kernel sends neither, for wait to pass. An
// allocated-domain record joins the access record it came with, by serial
// (same event) or, without a context, by domain id, and is delivered before
// it, so a reader learns a domain before its first denial; a
// deallocated-domain record is held back behind its domain's waiting
// denials.
type assembler struct {
	wait    time.Duration
	max     int // pending events at most; the oldest is flushed beyond
	pending []*event
	out     []Record
	partial uint64 // events flushed without their end, since the last look
}

type event struct {
	serial   uint64
	deadline time.Time
	access   []*LandlockAccess
	domain   *LandlockDomain
	ctx      *Context
	after    []Record // a deallocated domain that came while this event waited
}

func (a *assembler) find(serial uint64) *event {
	for _, e := range a.pending {
		if e.serial == serial {
			return e
		}
	}
	return nil
}

// wants reports whether a context or end-of-event record with this serial
// belongs to a pending event; other ones need no parsing.
func (a *assembler) wants(serial uint64) bool { return a.find(serial) != nil }

// add takes one decoded record that arrived at now. It reports false for a
// record it had no use for (a context or end of an event nobody waits for).
func (a *assembler) add(r Record, now time.Time) bool {
	switch r := r.(type) {
	case *LandlockAccess:
		e := a.find(r.Serial)
		if e == nil {
			e = &event{serial: r.Serial, deadline: now.Add(a.wait)}
			a.pending = append(a.pending, e)
			if a.max > 0 && len(a.pending) > a.max {
				a.partial++
				a.flush(a.pending[0])
			}
		}
		e.access = append(e.access, r)
	case *LandlockDomain:
		if r.Status != DomainAllocated {
			// Not before the denials of the domain still waiting.
			for i := len(a.pending) - 1; i >= 0; i-- {
				if e := a.pending[i]; len(e.access) > 0 && e.access[0].Domain == r.ID {
					e.after = append(e.after, r)
					return true
				}
			}
			a.out = append(a.out, r)
			break
		}
		if e := a.find(r.Serial); e != nil && e.domain == nil {
			e.domain = r
			break
		}
		for i := len(a.pending) - 1; i >= 0; i-- {
			e := a.pending[i]
			if e.domain == nil && e.ctx == nil && len(e.access) > 0 && e.access[0].Domain == r.ID {
				e.domain = r
				return true
			}
		}
		a.out = append(a.out, r)
	case *Context:
		e := a.find(r.Serial)
		if e == nil || e.ctx != nil {
			return false
		}
		e.ctx = r
	case *EndOfEvent:
		e := a.find(r.Serial)
		if e == nil {
			return false
		}
		a.flush(e)
	default:
		a.out = append(a.out, r)
	}
	return true
}

// expire flushes the events whose wait is over.
func (a *assembler) expire(now time.Time) {
	for len(a.pending) > 0 {
		var due *event
		for _, e := range a.pending {
			if !e.deadline.After(now) {
				due = e
				break
			}
		}
		if due == nil {
			return
		}
		a.partial++
		a.flush(due)
	}
}

// deadline is when the next pending event expires (zero when none is).
func (a *assembler) deadline() time.Time {
	var d time.Time
	for _, e := range a.pending {
		if d.IsZero() || e.deadline.Before(d) {
			d = e.deadline
		}
	}
	return d
}

func (a *assembler) flush(e *event) {
	for i, p := range a.pending {
		if p == e {
			a.pending = append(a.pending[:i], a.pending[i+1:]...)
			break
		}
	}
	if e.domain != nil {
		a.out = append(a.out, e.domain)
	}
	for _, r := range e.access {
		if c := e.ctx; c != nil {
			r.Context = true
			r.Task = c.Task
			r.Arch = c.Arch
			r.Syscall = c.Syscall
			r.Exit = c.Exit
		}
		a.out = append(a.out, r)
	}
	a.out = append(a.out, e.after...)
}

// next pops the oldest ready record.
func (a *assembler) next() Record {
	if len(a.out) == 0 {
		return nil
	}
	r := a.out[0]
	a.out[0] = nil
	a.out = a.out[1:]
	return r
}

// serials finds records that never arrived. Every record the kernel emits
// takes the next serial (records of one event share theirs), and records
// are queued in nearly that order, but not exactly: a serial is taken when
// a record is started and queued when it is finished, on any CPU. So a
// serial counts as missing only once a later serial has been seen for
// settle and it still has not come.
type serials struct {
	settle  time.Duration
	started bool
	next    uint64              // every serial below is accounted for
	seen    map[uint64]struct{} // serials >= next that arrived
	marks   []mark              // the highest serial seen so far, each time it rose
}

type mark struct {
	serial uint64
	at     time.Time
}

func (s *serials) see(serial uint64, now time.Time) {
	if !s.started {
		s.started, s.next, s.seen = true, serial, map[uint64]struct{}{}
	}
	if serial < s.next {
		return
	}
	s.seen[serial] = struct{}{}
	if n := len(s.marks); n == 0 || serial > s.marks[n-1].serial {
		s.marks = append(s.marks, mark{serial, now})
	}
}

// advance accounts for the serials below the highest one seen at least
// settle ago, and returns the gap among them, if any (count 0 when none).
func (s *serials) advance(now time.Time) (count, first, last uint64) {
	upto := s.next
	k := 0
	for k < len(s.marks) && !s.marks[k].at.After(now.Add(-s.settle)) {
		upto = s.marks[k].serial
		k++
	}
	s.marks = s.marks[k:]
	if upto <= s.next {
		return 0, 0, 0
	}
	// Every serial in [next, upto) arrived or is lost.
	var got []uint64
	for serial := range s.seen {
		if serial < upto {
			got = append(got, serial)
			delete(s.seen, serial)
		}
	}
	slices.Sort(got)
	lo, hi := s.next, upto
	s.next = upto
	if count = hi - lo - uint64(len(got)); count == 0 {
		return 0, 0, 0
	}
	first, last = lo, hi-1
	for _, serial := range got {
		if serial != first {
			break
		}
		first++
	}
	for i := len(got) - 1; i >= 0 && got[i] == last; i-- {
		last--
	}
	return count, first, last
}

// deadline is when advance next has something to do (zero: nothing).
func (s *serials) deadline() time.Time {
	if len(s.marks) == 0 {
		return time.Time{}
	}
	return s.marks[0].at.Add(s.settle)
}
