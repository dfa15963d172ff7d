package eventlog

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Causes of the gaps the log reports by itself. AppendGap takes any cause.
const (
	CauseRotated = "rotated"             // removed to keep the log under MaxBytes
	CauseSlow    = "subscriber too slow" // a Drop subscriber's queue was full
	CauseCorrupt = "corrupt log"         // frames on disk failed their checksums
)

var (
	// ErrClosed is returned by a closed Log, and by Next on a closed Sub
	// or after its Log was closed.
	ErrClosed = errors.New("eventlog: closed")
	// ErrTooLarge is returned by Append for a record over the limit.
	ErrTooLarge = errors.New("eventlog: record too large")
)

// Options configure a Log. The zero value gives the defaults.
type Options struct {
	// SegmentBytes is the size at which the log moves to a new segment:
	// default 16 MiB, at least 4 KiB. Records larger than an empty
	// segment can hold are refused.
	SegmentBytes int64
	// MaxBytes bounds the total size of the segments: default 1 GiB, at
	// least twice SegmentBytes.
	MaxBytes int64
	// SyncInterval is how often the active segment is fsynced while it
	// has unsynced writes: default 200 ms; negative syncs only when a
	// segment is full and on Close.
	SyncInterval time.Duration
	// CacheBytes is how many bytes of recent records are kept in memory
	// for subscribers: default 4 MiB; negative keeps none.
	CacheBytes int64
}

func (o Options) withDefaults() (Options, error) {
	if o.SegmentBytes == 0 {
		o.SegmentBytes = 16 << 20
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = max(1<<30, 2*o.SegmentBytes)
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = 200 * time.Millisecond
	}
	switch {
	case o.CacheBytes == 0:
		o.CacheBytes = 4 << 20
	case o.CacheBytes < 0:
		o.CacheBytes = 0
	}
	if o.SegmentBytes < 4096 {
		return o, fmt.Errorf("eventlog: SegmentBytes %d is below 4096", o.SegmentBytes)
	}
	if o.MaxBytes < 2*o.SegmentBytes {
		return o, fmt.Errorf("eventlog: MaxBytes %d is below twice SegmentBytes", o.MaxBytes)
	}
	return o, nil
}

// Record is one entry of the log as a subscriber sees it.
type Record struct {
	// Seq is the record's sequence number. For a Gap produced for the
	// subscriber it is Gap.To, so that Seq is always a cursor to resume
	// from.
	Seq  uint64
	Time time.Time
	// Gap is set for a loss: either a marker written by AppendGap, or
	// records this subscriber will not get.
	Gap *Gap
	// Data is the payload of a record (nil for a Gap). It is shared: do
	// not modify it.
	Data []byte
}

// Gap describes lost events.
type Gap struct {
	// Count is how many events were lost. A marker written by AppendGap
	// carries the caller's count, which may be 0 for "unknown".
	Count uint64
	Cause string
	// From and To are the first and last seq not delivered (inclusive).
	// They are 0 for a marker written by AppendGap: those events were
	// lost before they had seqs.
	From, To uint64
}

// Stats is a snapshot of a Log.
type Stats struct {
	// First is the oldest retained seq and Last the newest seq ever
	// appended (0 if none); First is Last+1 when nothing is retained.
	First, Last uint64
	Bytes       int64 // size of the segment files
	Segments    int
	Subscribers int
	// Dropped counts records lost to full Drop queues; Rotated and
	// Corrupt count records reported in gaps of those causes. All are
	// summed over subscribers.
	Dropped, Rotated, Corrupt uint64
	// Truncated is how many bytes Open cut from a torn tail.
	Truncated int64
}

type segment struct {
	first uint64
	size  int64
}

// Log is an open event log. Its methods are safe for concurrent use.
type Log struct {
	opts   Options
	maxRec int
	dir    *dir

	// wmu serialises writers: seq assignment, writes, rotation. It is
	// never taken by readers, which only take mu.
	wmu     sync.Mutex
	f       *os.File // active segment; nil before the first record
	size    int64    // bytes written to f
	nextSeq uint64
	dirty   bool  // f has writes not yet synced
	werr    error // set once Append can no longer be trusted to work

	// mu guards the state readers see. It is held briefly and never
	// across I/O.
	mu     sync.Mutex
	last   uint64
	segs   []segment // oldest first; the last one is active
	bytes  int64
	ring   ring
	drops  []*Sub        // live Drop subscribers
	wake   chan struct{} // closed on the next publish; nil if nobody waits
	closed bool
	done   chan struct{} // closed by Close

	nsubs                     atomic.Int64
	dropped, rotated, corrupt atomic.Uint64
	truncated                 int64

	sealed   chan *os.File // full segments for the syncer to sync and close
	stopSync chan struct{}
	syncDone chan struct{}
	syncErr  atomic.Pointer[error]
}

// Open opens the log in the directory path, creating it (mode 0700) if it
// is missing, and recovers the seq from the newest segment. The directory
// must be owned by the caller's effective uid and not writable by group or
// others; neither it nor any file in it is reached through a symlink, and
// every segment must be a regular file with the same owner and no write
// permission for others.
func Open(path string, opts Options) (*Log, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	d, err := openDir(path)
	if err != nil {
		return nil, err
	}
	l := &Log{
		opts:     opts,
		maxRec:   int(min(MaxRecordSize, opts.SegmentBytes-headerSize)),
		dir:      d,
		done:     make(chan struct{}),
		sealed:   make(chan *os.File, 4),
		stopSync: make(chan struct{}),
		syncDone: make(chan struct{}),
	}
	l.ring.max = opts.CacheBytes
	if err := l.recover(); err != nil {
		if l.f != nil {
			l.f.Close()
		}
		d.close()
		return nil, err
	}
	go l.syncLoop()
	return l, nil
}

func (l *Log) recover() error {
	names, err := l.dir.names()
	if err != nil {
		return fmt.Errorf("eventlog: listing %s: %w", l.dir.path, err)
	}
	for _, name := range names {
		first, ok := parseSegName(name)
		if !ok {
			continue
		}
		st, err := l.dir.stat(name)
		if err != nil {
			return fmt.Errorf("eventlog: %w", err)
		}
		if err := checkOwner(&st, unix.S_IFREG); err != nil {
			return fmt.Errorf("eventlog: segment %s %w", name, err)
		}
		l.segs = append(l.segs, segment{first: first, size: st.Size})
	}
	sort.Slice(l.segs, func(i, j int) bool { return l.segs[i].first < l.segs[j].first })

	l.nextSeq = 1
	if n := len(l.segs); n > 0 {
		act := &l.segs[n-1]
		f, err := l.dir.open(segName(act.first), unix.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("eventlog: %w", err)
		}
		l.f = f
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			return fmt.Errorf("eventlog: %w", err)
		}
		last, end, err := recoverSegment(f, act.first, st.Size)
		if err != nil {
			return fmt.Errorf("eventlog: reading %s: %w", f.Name(), err)
		}
		if end < st.Size {
			if err := f.Truncate(end); err != nil {
				return fmt.Errorf("eventlog: truncating the torn tail of %s: %w", f.Name(), err)
			}
			if err := f.Sync(); err != nil {
				return fmt.Errorf("eventlog: %w", err)
			}
			l.truncated = st.Size - end
		}
		act.size, l.size = end, end
		l.nextSeq = last + 1
	}
	for _, s := range l.segs {
		l.bytes += s.size
	}
	l.last = l.nextSeq - 1
	l.ring.reset(l.nextSeq)
	// A smaller MaxBytes than last time applies at once.
	for _, first := range l.retainLocked() {
		if err := l.dir.remove(segName(first)); err != nil {
			return fmt.Errorf("eventlog: %w", err)
		}
	}
	return nil
}

// retainLocked drops the oldest segments from the list until the sealed
// ones and a full active segment fit in MaxBytes, and returns them for the
// caller to remove.
func (l *Log) retainLocked() []uint64 {
	var removed []uint64
	sealed := l.bytes
	if n := len(l.segs); n > 0 {
		sealed -= l.segs[n-1].size
	}
	for len(l.segs) > 1 && sealed+l.opts.SegmentBytes > l.opts.MaxBytes {
		s := l.segs[0]
		l.segs = slices.Delete(l.segs, 0, 1)
		sealed -= s.size
		l.bytes -= s.size
		removed = append(removed, s.first)
	}
	return removed
}

// Append adds a record and returns its seq. The record is copied.
func (l *Log) Append(rec []byte) (uint64, error) {
	if len(rec) > l.maxRec {
		return 0, l.tooLarge(len(rec))
	}
	first, _, err := l.append([]entry{{payload: rec}})
	return first, err
}

// AppendBatch adds records with consecutive seqs from first, writing them
// with one write(2) per segment they land in, and returns first and how
// many it added: all of them, or fewer with an error. The records are
// copied.
func (l *Log) AppendBatch(recs [][]byte) (first uint64, n int, err error) {
	es := make([]entry, len(recs))
	for i, r := range recs {
		if len(r) > l.maxRec {
			return 0, 0, l.tooLarge(len(r))
		}
		es[i].payload = r
	}
	return l.append(es)
}

func (l *Log) tooLarge(n int) error {
	return fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, n, l.maxRec)
}

// AppendGap records that count events were lost before they reached the
// log (count 0: unknown), and why: "ring buffer full", "daemon down".
// Subscribers receive it in order as a Record with Gap set.
func (l *Log) AppendGap(count uint64, cause string) (uint64, error) {
	if cause == "" || len(cause) > MaxCauseLen {
		return 0, fmt.Errorf("eventlog: a gap cause must be 1 to %d bytes", MaxCauseLen)
	}
	e := entry{payload: gapPayload(count, cause), gap: &Gap{Count: count, Cause: cause}}
	first, _, err := l.append([]entry{e})
	return first, err
}

// entry is a record on its way in.
type entry struct {
	payload []byte
	gap     *Gap // a marker
	end     int  // of its frame in the batch buffer
}

func (l *Log) append(es []entry) (first uint64, n int, err error) {
	if len(es) == 0 {
		return 0, 0, nil
	}
	// One allocation per batch: the file gets the frames, the cache and
	// subscribers share their payloads.
	size := 0
	for i := range es {
		size += headerSize + len(es[i].payload)
		es[i].end = size
	}
	buf := make([]byte, size)

	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.werr != nil {
		return 0, 0, l.werr
	}
	if p := l.syncErr.Load(); p != nil {
		// After a failed fsync the kernel may have dropped dirty pages:
		// the file no longer says what we think it does.
		l.werr = fmt.Errorf("eventlog: an earlier fsync failed: %w", *p)
		return 0, 0, l.werr
	}
	first = l.nextSeq
	now := time.Now().UnixNano()
	start := 0
	for i := range es {
		kind := byte(kindData)
		if es[i].gap != nil {
			kind = kindGap
		}
		putFrame(buf[start:es[i].end], kind, first+uint64(i), now, es[i].payload)
		start = es[i].end
	}

	for n < len(es) {
		seq := first + uint64(n)
		start := 0
		if n > 0 {
			start = es[n-1].end
		}
		if l.f == nil || (l.size > 0 && l.size+int64(es[n].end-start) > l.opts.SegmentBytes) {
			if err := l.rotate(seq); err != nil {
				return first, n, err
			}
		}
		// As many frames as fit in this segment; at least one, which
		// fits in an empty segment by the size limit.
		j := n + 1
		for j < len(es) && l.size+int64(es[j].end-start) <= l.opts.SegmentBytes {
			j++
		}
		end := es[j-1].end
		if _, err := l.f.WriteAt(buf[start:end], l.size); err != nil {
			// Undo a partial write so the next frame starts where
			// readers expect it.
			if terr := l.f.Truncate(l.size); terr != nil {
				l.werr = fmt.Errorf("eventlog: cannot undo a failed write (%v): %w", err, terr)
			}
			return first, n, fmt.Errorf("eventlog: %w", err)
		}
		l.size += int64(end - start)
		l.nextSeq += uint64(j - n)
		l.dirty = true
		l.publish(es[n:j], buf[start:end], seq, now)
		n = j
	}
	return first, n, nil
}

// publish makes frames just written visible to subscribers. Called with
// wmu held.
func (l *Log) publish(es []entry, frames []byte, seq uint64, now int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last = seq + uint64(len(es)) - 1
	l.segs[len(l.segs)-1].size = l.size
	l.bytes += int64(len(frames))
	off := 0
	for i := range es {
		e := ringEnt{t: now, gap: es[i].gap}
		size := headerSize + len(es[i].payload)
		if e.gap == nil {
			e.data = frames[off+headerSize : off+size : off+size]
		}
		off += size
		l.ring.push(e)
		for _, s := range l.drops {
			s.pushLocked(seq+uint64(i), &e)
		}
	}
	if l.wake != nil {
		close(l.wake)
		l.wake = nil
	}
}

// rotate starts a new segment for seq, hands the full one to the syncer
// and removes what no longer fits. Called with wmu held.
func (l *Log) rotate(seq uint64) error {
	f, err := l.dir.open(segName(seq), unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("eventlog: starting a segment: %w", err)
	}
	old := l.f
	l.f, l.size, l.dirty = f, 0, false

	l.mu.Lock()
	l.segs = append(l.segs, segment{first: seq})
	removed := l.retainLocked()
	l.mu.Unlock()

	// Readers that have a removed segment open keep reading it; the
	// others see it gone from the list before it is gone from the disk.
	for _, first := range removed {
		l.dir.remove(segName(first)) // a leftover is retried at the next Open
	}
	if old != nil {
		select {
		case l.sealed <- old:
		default:
			// The syncer is behind: sync here rather than queue without
			// bound.
			l.syncClose(old)
			l.dir.sync()
		}
	}
	return nil
}

func (l *Log) syncClose(f *os.File) {
	if err := f.Sync(); err != nil {
		l.syncErr.CompareAndSwap(nil, &err)
	}
	f.Close()
}

// syncLoop syncs full segments and, every SyncInterval, the active one,
// so that Append never waits for the disk.
func (l *Log) syncLoop() {
	defer close(l.syncDone)
	var tick <-chan time.Time
	if l.opts.SyncInterval > 0 {
		t := time.NewTicker(l.opts.SyncInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case f := <-l.sealed:
			l.syncClose(f)
			// The new segment's and removed segments' names.
			l.dir.sync()
		case <-tick:
			l.wmu.Lock()
			f, dirty := l.f, l.dirty
			l.dirty = false
			l.wmu.Unlock()
			// f is closed only by this goroutine (after rotation) or by
			// Close (after this goroutine has stopped).
			if dirty {
				// ErrClosed: rotation synced and closed it meanwhile.
				if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
					l.syncErr.CompareAndSwap(nil, &err)
				}
			}
		case <-l.stopSync:
			for {
				select {
				case f := <-l.sealed:
					l.syncClose(f)
				default:
					return
				}
			}
		}
	}
}

// Close syncs and closes the log. Subscribers' Next returns ErrClosed.
func (l *Log) Close() error {
	l.wmu.Lock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.wmu.Unlock()
		return ErrClosed
	}
	l.closed = true
	close(l.done)
	l.mu.Unlock()
	// From here Append fails without touching l.f.
	l.werr = ErrClosed
	l.wmu.Unlock()

	// Not under wmu: the syncer takes it.
	close(l.stopSync)
	<-l.syncDone
	var err error
	if l.f != nil {
		err = l.f.Sync()
		if cerr := l.f.Close(); err == nil {
			err = cerr
		}
	}
	if serr := l.dir.sync(); err == nil {
		err = serr
	}
	if cerr := l.dir.close(); err == nil {
		err = cerr
	}
	if p := l.syncErr.Load(); p != nil && err == nil {
		err = *p
	}
	if err != nil {
		return fmt.Errorf("eventlog: closing: %w", err)
	}
	return nil
}

// Stats returns a snapshot of the log's state and loss counters.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	s := Stats{
		First:    l.firstLocked(),
		Last:     l.last,
		Bytes:    l.bytes,
		Segments: len(l.segs),
	}
	l.mu.Unlock()
	s.Subscribers = int(l.nsubs.Load())
	s.Dropped = l.dropped.Load()
	s.Rotated = l.rotated.Load()
	s.Corrupt = l.corrupt.Load()
	s.Truncated = l.truncated
	return s
}

// firstLocked is the oldest retained seq, or last+1 when nothing is.
func (l *Log) firstLocked() uint64 {
	if len(l.segs) == 0 {
		return l.last + 1
	}
	return min(l.segs[0].first, l.last+1)
}

// waitLocked returns a channel closed by the next publish or Close.
func (l *Log) waitLocked() <-chan struct{} {
	if l.wake == nil {
		l.wake = make(chan struct{})
	}
	return l.wake
}

func unixTime(ns int64) time.Time { return time.Unix(0, ns) }
