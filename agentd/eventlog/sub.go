package eventlog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Mode says what happens when a subscriber falls behind.
type Mode int

const (
	// Block subscribers get every record that is still retained. One
	// that falls behind reads the segments at its own pace; Append never
	// waits for it.
	Block Mode = iota
	// Drop subscribers have a bounded queue once they have caught up.
	// Records that find it full are lost to that subscriber and reported
	// as one Gap (CauseSlow) before the next record it gets.
	Drop
)

const (
	batchMax     = 64 // records taken per visit to the cache or the disk
	defaultQueue = 1024
	maxQueue     = 1 << 16
)

// Sub is a subscription. Next must not be called concurrently with
// itself; Close may be called at any time, from any goroutine. Close a
// Sub that is no longer read: a live Drop subscriber costs every Append a
// queue push.
type Sub struct {
	l     *Log
	mode  Mode
	qcap  int
	done  chan struct{}
	close sync.Once

	// mu is held by Next, also while it waits, and by Close once done
	// is closed, so Close waits for Next to leave.
	mu      sync.Mutex
	next    uint64   // the next seq this subscriber needs
	pending []Record // decided, not yet returned
	pi      int
	rd      *segReader // disk cursor, when behind the cache
	rdFile  *os.File

	// Guarded by l.mu. A Drop subscriber goes live once it has caught
	// up; from then on Append feeds its queue.
	live                    bool
	liveFrom                uint64
	q                       []qent
	qhead, qlen             int
	dropN, dropFrom, dropTo uint64
}

type qent struct {
	rec Record
	gap *Gap // records dropped just before rec
}

// Subscribe streams the records with seq > since: first those on disk,
// then new ones as they are appended. since 0 means from the oldest
// retained record; a since beyond the newest waits for seq since+1.
// A Drop subscriber reads history like a Block one and switches to its
// queue once caught up. queue is its length (default 1024, at most
// 65536); Block subscribers ignore it. A Mode other than Drop is Block.
func (l *Log) Subscribe(since uint64, mode Mode, queue int) *Sub {
	if queue <= 0 {
		queue = defaultQueue
	}
	s := &Sub{l: l, mode: mode, qcap: min(queue, maxQueue), done: make(chan struct{})}
	l.nsubs.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch since {
	case 0:
		s.next = l.firstLocked()
	case math.MaxUint64:
		s.next = since
	default:
		s.next = since + 1
	}
	if mode == Drop && s.next > l.last && !l.closed {
		s.goLiveLocked()
	}
	return s
}

func (s *Sub) goLiveLocked() {
	s.live, s.liveFrom = true, s.next
	s.q = make([]qent, s.qcap)
	s.l.drops = append(s.l.drops, s)
}

// pushLocked queues a record for a live Drop subscriber. Called by Append
// with l.mu held, so it only ever copies a few words.
func (s *Sub) pushLocked(seq uint64, e *ringEnt) {
	if seq < s.liveFrom {
		return
	}
	if s.qlen == len(s.q) {
		if s.dropN == 0 {
			s.dropFrom = seq
		}
		s.dropTo = seq
		s.dropN++
		s.l.dropped.Add(1)
		return
	}
	ent := qent{rec: Record{Seq: seq, Time: unixTime(e.t), Data: e.data}}
	if e.gap != nil {
		g := *e.gap
		ent.rec.Gap = &g
	}
	if s.dropN > 0 {
		ent.gap = s.takeDropLocked()
	}
	s.q[(s.qhead+s.qlen)%len(s.q)] = ent
	s.qlen++
}

func (s *Sub) takeDropLocked() *Gap {
	g := &Gap{Count: s.dropN, Cause: CauseSlow, From: s.dropFrom, To: s.dropTo}
	s.dropN = 0
	return g
}

// popLocked takes the next item of a live Drop subscriber's queue.
func (s *Sub) popLocked() (Record, bool) {
	if s.qlen > 0 {
		e := s.q[s.qhead]
		s.q[s.qhead] = qent{}
		s.qhead = (s.qhead + 1) % len(s.q)
		s.qlen--
		if e.gap != nil {
			s.pending = append(s.pending, e.rec)
			return gapRecord(e.gap), true
		}
		return e.rec, true
	}
	if s.dropN > 0 {
		// Nothing queued behind the loss: report it now rather than
		// with whatever record comes next.
		return gapRecord(s.takeDropLocked()), true
	}
	return Record{}, false
}

func gapRecord(g *Gap) Record { return Record{Seq: g.To, Time: time.Now(), Gap: g} }

// Next returns the next record or gap, waiting for one if need be. It
// returns ctx.Err() if ctx ends while it waits, and ErrClosed once the
// Sub or the Log is closed. Any other error is an I/O error reading a
// segment; Next may be called again.
func (s *Sub) Next(ctx context.Context) (Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.l
	for {
		select {
		case <-s.done:
			return Record{}, ErrClosed
		default:
		}
		if s.pi < len(s.pending) {
			r := s.pending[s.pi]
			s.pending[s.pi] = Record{}
			if s.pi++; s.pi == len(s.pending) {
				s.pending, s.pi = s.pending[:0], 0
			}
			return r, nil
		}

		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			s.closeReader()
			return Record{}, ErrClosed
		}
		if s.live {
			if r, ok := s.popLocked(); ok {
				l.mu.Unlock()
				return r, nil
			}
			w := l.waitLocked()
			l.mu.Unlock()
			if err := s.wait(ctx, w); err != nil {
				return Record{}, err
			}
			continue
		}
		if s.next > l.last {
			if s.mode == Drop {
				// Caught up: from here Append queues for us. The switch
				// happens under l.mu, between two appends.
				s.goLiveLocked()
				l.mu.Unlock()
				s.closeReader()
				continue
			}
			w := l.waitLocked()
			l.mu.Unlock()
			if err := s.wait(ctx, w); err != nil {
				return Record{}, err
			}
			continue
		}
		if s.next >= l.ring.first {
			s.pending = l.ring.copyOut(s.pending, s.next, batchMax)
			s.next += uint64(len(s.pending))
			if s.mode == Drop && s.next > l.last {
				// Caught up once this batch is out: bound what comes next.
				s.goLiveLocked()
			}
			l.mu.Unlock()
			s.closeReader()
			continue
		}
		p, decided := s.planLocked()
		l.mu.Unlock()
		if decided {
			continue
		}
		if err := s.readDisk(p); err != nil {
			return Record{}, err
		}
	}
}

func (s *Sub) wait(ctx context.Context, w <-chan struct{}) error {
	select {
	case <-w:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return ErrClosed
	case <-s.l.done:
		return ErrClosed
	}
}

// plan is what a disk read needs to know of the log, taken under l.mu.
type plan struct {
	first     uint64 // the segment
	limit     int64  // bytes known complete; -1: removed, read to its end
	sealed    bool   // no more bytes will come
	nextFirst uint64 // first seq of the following segment, if sealed and listed
	last      uint64
	ringFirst uint64 // from here on the cache has the records
}

// planLocked chooses where the records from s.next are, or reports them
// removed by rotation (decided).
func (s *Sub) planLocked() (p plan, decided bool) {
	l := s.l
	segs := l.segs
	p = plan{last: l.last, ringFirst: l.ring.first}
	i := -1
	if s.rd != nil {
		j, found := slices.BinarySearchFunc(segs, s.rd.first, func(g segment, f uint64) int { return cmp.Compare(g.first, f) })
		if !found {
			// Removed while we read it; the open file still has it.
			p.first, p.limit, p.sealed = s.rd.first, -1, true
			return p, false
		}
		i = j
	} else {
		if len(segs) == 0 || s.next < segs[0].first {
			to := l.last
			if len(segs) > 0 {
				to = segs[0].first - 1
			}
			to = min(to, l.ring.first-1)
			s.addGap(s.next, to, CauseRotated)
			s.next = to + 1
			return p, true
		}
		i = sort.Search(len(segs), func(i int) bool { return segs[i].first > s.next }) - 1
	}
	p.first, p.limit = segs[i].first, segs[i].size
	if i < len(segs)-1 {
		p.sealed, p.nextFirst = true, segs[i+1].first
	}
	return p, false
}

// readDisk decides up to batchMax records from the segment in p.
func (s *Sub) readDisk(p plan) error {
	if s.rd == nil {
		f, err := s.l.dir.open(segName(p.first), unix.O_RDONLY, 0)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if s.listed(p.first) {
				// Gone from the disk behind the log's back.
				s.exhausted(p)
			}
			// Otherwise rotation removed it since we looked: the
			// next plan says so.
			return nil
		case err != nil:
			return err
		}
		s.rdFile, s.rd = f, newSegReader(f, p.first)
	}
	limit := p.limit
	if limit < 0 {
		fi, err := s.rdFile.Stat()
		if err != nil {
			s.closeReader()
			return err
		}
		limit = fi.Size()
	}
	for n := 0; n < batchMax && s.next < p.ringFirst; {
		fr, ok := s.rd.next(limit)
		if err := s.rd.err; err != nil {
			// Not a loss: the cursor stays, and the next call reopens
			// the segment and tries again.
			s.closeReader()
			return fmt.Errorf("eventlog: reading segment %s: %w", segName(p.first), err)
		}
		if !ok || fr.seq > p.last {
			s.exhausted(p)
			return nil
		}
		if fr.seq < s.next {
			continue
		}
		if fr.seq > s.next {
			// Frames between failed to verify: the seqs say how many.
			to := min(fr.seq, p.ringFirst) - 1
			s.addGap(s.next, to, CauseCorrupt)
			s.next = to + 1
			if s.next < fr.seq {
				// The cache has the rest, fr included. Should it move
				// on first, a fresh cursor will find fr again.
				s.closeReader()
				break
			}
		}
		if fr.bad {
			s.addGap(fr.seq, fr.seq, CauseCorrupt)
		} else {
			s.pending = append(s.pending, fr.record())
			n++
		}
		s.next = fr.seq + 1
	}
	return nil
}

func (s *Sub) listed(first uint64) bool {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	_, found := slices.BinarySearchFunc(s.l.segs, first, func(g segment, f uint64) int { return cmp.Compare(g.first, f) })
	return found
}

// exhausted handles the end of the readable part of a segment: whatever
// the segment should have held up to the next segment (or the newest
// record) and did not is reported as corrupt.
func (s *Sub) exhausted(p plan) {
	switch {
	case p.limit < 0:
		// A removed segment: what follows is rotation's to report.
	case p.sealed:
		if to := min(p.nextFirst, p.ringFirst) - 1; s.next <= to {
			s.addGap(s.next, to, CauseCorrupt)
			s.next = to + 1
		}
	default:
		if to := min(p.last, p.ringFirst-1); s.next <= to {
			s.addGap(s.next, to, CauseCorrupt)
			s.next = to + 1
		}
		return // the active segment: keep the cursor
	}
	s.closeReader()
}

// addGap queues a gap for seqs from..to, merged into a gap just before it
// of the same cause.
func (s *Sub) addGap(from, to uint64, cause string) {
	if from > to {
		return
	}
	n := to - from + 1
	switch cause {
	case CauseRotated:
		s.l.rotated.Add(n)
	case CauseCorrupt:
		s.l.corrupt.Add(n)
	}
	if k := len(s.pending); k > s.pi {
		if g := s.pending[k-1].Gap; g != nil && g.Cause == cause && g.From != 0 && g.To+1 == from {
			g.To, g.Count = to, g.Count+n
			s.pending[k-1].Seq = to
			return
		}
	}
	s.pending = append(s.pending, gapRecord(&Gap{Count: n, Cause: cause, From: from, To: to}))
}

func (s *Sub) closeReader() {
	if s.rdFile != nil {
		s.rdFile.Close()
		s.rdFile, s.rd = nil, nil
	}
}

// Close ends the subscription. A Next in progress returns ErrClosed.
func (s *Sub) Close() {
	first := false
	s.close.Do(func() { close(s.done); first = true })
	if !first {
		return
	}
	s.mu.Lock()
	s.closeReader()
	s.pending, s.pi = nil, 0
	s.mu.Unlock()

	l := s.l
	l.mu.Lock()
	if s.live {
		if i := slices.Index(l.drops, s); i >= 0 {
			l.drops = slices.Delete(l.drops, i, i+1)
		}
		s.q = nil
		s.qlen = 0
	}
	l.mu.Unlock()
	l.nsubs.Add(-1)
}
