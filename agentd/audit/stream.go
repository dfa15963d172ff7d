package audit

import (
	"encoding/binary"
	"sync"
	"time"
)

// Defaults of a Reader.
const (
	// EventWait is how long a Landlock access record waits for the rest
	// of its event (context and end marker) before it is delivered
	// without them.
	EventWait = 100 * time.Millisecond
	// SettleTime is how long a serial may stay missing after a later one
	// arrived before it is reported lost.
	SettleTime = 2 * time.Second
	// receiveBuffer is the socket's receive buffer (SO_RCVBUFFORCE). The
	// default (rmem_default, 208 KiB) lost 16% of a 21,000-record burst
	// here; 8 MiB lost none of 40,000.
	receiveBuffer = 8 << 20
	// maxPending bounds the Landlock events waiting for their end.
	maxPending = 4096
)

// Stats counts what a Reader saw. Every record is counted once in
// Received, and then in exactly one of Delivered (returned by Read, or
// folded into a record that was), Skipped or Malformed.
type Stats struct {
	Received  uint64 // records from the kernel
	Delivered uint64 // records returned by Read or folded into one
	Skipped   uint64 // records of types not decoded, and contexts of events not reported
	Malformed uint64 // records of decoded types that did not parse
	Foreign   uint64 // datagrams not sent by the kernel (netlink port id not 0): dropped, not in Received
	Overruns  uint64 // ENOBUFS: the kernel dropped records for this socket, count unknown
	Missing   uint64 // serials that never arrived, records of every type included
	// Partial counts Landlock events delivered after EventWait without
	// their end-of-event record: all of them for processes without an
	// audit context.
	Partial uint64
}

// stream is the part of a Reader that does not touch the system: it takes
// datagrams with their arrival time and hands out records. Tests replay
// captured records through it.
type stream struct {
	asm     assembler
	serials serials

	mu    sync.Mutex // stats is read by Stats from any goroutine
	stats Stats
}

func newStream(wait, settle time.Duration) *stream {
	return &stream{asm: assembler{wait: wait, max: maxPending}, serials: serials{settle: settle}}
}

func (s *stream) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

func (s *stream) snapshot() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// next returns the next ready record at now, or nil.
func (s *stream) next(now time.Time) Record {
	s.asm.expire(now)
	if p := s.asm.partial; p > 0 {
		s.asm.partial = 0
		s.count(func(st *Stats) { st.Partial += p })
	}
	if n, first, last := s.serials.advance(now); n > 0 {
		s.count(func(st *Stats) { st.Missing += n })
		s.asm.out = append(s.asm.out, &Gap{Stamp: Stamp{Time: now}, Cause: GapMissing, Count: n, First: first, Last: last})
	}
	return s.asm.next()
}

// deadline is when next may have something without a new datagram (zero:
// not before one arrives).
func (s *stream) deadline() time.Time {
	d := s.asm.deadline()
	if t := s.serials.deadline(); !t.IsZero() && (d.IsZero() || t.Before(d)) {
		d = t
	}
	return d
}

// overrun notes that the socket overflowed.
func (s *stream) overrun(now time.Time) {
	s.count(func(st *Stats) { st.Overruns++ })
	s.asm.out = append(s.asm.out, &Gap{Stamp: Stamp{Time: now}, Cause: GapOverrun})
}

const sizeofNlMsghdr = 16

// datagram takes the netlink messages of one datagram from port id from.
// The kernel sends one record per datagram and, on the multicast group,
// without the padding of the last message (nlmsg_len 198 in a 198-byte
// datagram), which syscall.ParseNetlinkMessage rejects.
func (s *stream) datagram(b []byte, from uint32, now time.Time) {
	if from != 0 {
		s.count(func(st *Stats) { st.Foreign++ })
		return
	}
	for len(b) >= sizeofNlMsghdr {
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		typ := binary.NativeEndian.Uint16(b[4:6])
		if l < sizeofNlMsghdr || l > len(b) {
			s.count(func(st *Stats) { st.Received++; st.Malformed++ })
			return
		}
		if typ >= 0x10 { // NLMSG_MIN_TYPE: below are netlink's own messages
			s.record(typ, b[sizeofNlMsghdr:l], now)
		}
		l = (l + 3) &^ 3
		if l >= len(b) {
			return
		}
		b = b[l:]
	}
}

// record takes one record's payload.
func (s *stream) record(typ uint16, data []byte, now time.Time) {
	st, _, err := ParseStamp(data)
	if err != nil {
		s.count(func(st *Stats) { st.Received++; st.Malformed++ })
		return
	}
	s.serials.see(st.Serial, now)
	skipped := func(st *Stats) { st.Received++; st.Skipped++ }
	switch typ {
	case TypeSeccomp, TypeLandlockAccess, TypeLandlockDomain:
	case TypeSyscall, TypeEOE:
		if !s.asm.wants(st.Serial) {
			s.count(skipped)
			return
		}
	default:
		s.count(skipped)
		return
	}
	rec, err := ParseRecord(typ, data)
	if err != nil {
		s.count(func(st *Stats) { st.Received++; st.Malformed++ })
		return
	}
	if !s.asm.add(rec, now) {
		s.count(skipped)
		return
	}
	s.count(func(st *Stats) { st.Received++; st.Delivered++ })
}
