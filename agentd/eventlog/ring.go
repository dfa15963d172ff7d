package eventlog

// ringSlots is the most records the cache holds, whatever their size.
const ringSlots = 8192

// entOverhead is what the cache charges a record beyond its payload.
const entOverhead = 40

type ringEnt struct {
	data []byte
	t    int64
	gap  *Gap // a marker; copied on the way out
}

// ring caches the newest records so that subscribers that keep up never
// touch the disk. It holds seqs first .. next-1.
type ring struct {
	ents        [ringSlots]ringEnt
	first, next uint64
	bytes, max  int64
}

func (r *ring) reset(next uint64) { r.first, r.next = next, next }

func entBytes(e *ringEnt) int64 { return int64(len(e.data)) + entOverhead }

// push adds the record with seq r.next, evicting the oldest as needed.
func (r *ring) push(e ringEnt) {
	size := entBytes(&e)
	for r.first < r.next && (r.next-r.first >= ringSlots || r.bytes+size > r.max) {
		old := &r.ents[r.first%ringSlots]
		r.bytes -= entBytes(old)
		*old = ringEnt{}
		r.first++
	}
	r.next++
	if size > r.max {
		// Too big to cache (or caching is off): leave it to the disk.
		r.first = r.next
		return
	}
	r.ents[(r.next-1)%ringSlots] = e
	r.bytes += size
}

func (r *ring) record(seq uint64) Record {
	e := &r.ents[seq%ringSlots]
	rec := Record{Seq: seq, Time: unixTime(e.t), Data: e.data}
	if e.gap != nil {
		g := *e.gap
		rec.Gap = &g
	}
	return rec
}

// copyOut appends the records from seq on, at most n of them.
func (r *ring) copyOut(dst []Record, seq uint64, n int) []Record {
	for ; seq < r.next && n > 0; seq, n = seq+1, n-1 {
		dst = append(dst, r.record(seq))
	}
	return dst
}
