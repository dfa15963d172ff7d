package eventlog

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
)

const (
	headerSize = 32
	version    = 1

	kindData = 0
	kindGap  = 1

	// MaxRecordSize is the largest payload Append accepts. Segments smaller
	// than this lower the limit to what fits in an empty segment.
	MaxRecordSize = 1 << 20
	// MaxCauseLen is the longest cause AppendGap accepts, in bytes.
	MaxCauseLen = 256

	readChunk = 64 << 10
)

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	le         = binary.LittleEndian
	frameStart = []byte{'p', 'd', version}
)

// putFrame writes the frame of payload into dst, which must be
// headerSize+len(payload) bytes long.
func putFrame(dst []byte, kind byte, seq uint64, t int64, payload []byte) {
	dst[0], dst[1], dst[2], dst[3] = 'p', 'd', version, kind
	le.PutUint32(dst[4:], uint32(len(payload)))
	le.PutUint64(dst[8:], seq)
	le.PutUint64(dst[16:], uint64(t))
	copy(dst[headerSize:], payload)
	sum := crc32.Update(crc32.Update(0, castagnoli, dst[:24]), castagnoli, dst[headerSize:])
	le.PutUint32(dst[24:], sum)
	le.PutUint32(dst[28:], crc32.Checksum(dst[:28], castagnoli))
}

type header struct {
	kind byte
	n    int
	seq  uint64
	time int64
}

// parseHeader checks a header on its own: magic, version, kind, length and
// the header checksum.
func parseHeader(h []byte) (header, bool) {
	if len(h) < headerSize || h[0] != 'p' || h[1] != 'd' || h[2] != version {
		return header{}, false
	}
	if crc32.Checksum(h[:28], castagnoli) != le.Uint32(h[28:]) {
		return header{}, false
	}
	hd := header{kind: h[3], seq: le.Uint64(h[8:]), time: int64(le.Uint64(h[16:]))}
	n := le.Uint32(h[4:])
	switch {
	case n > MaxRecordSize:
		return header{}, false
	case hd.kind == kindData:
	case hd.kind == kindGap && n >= 8 && n <= 8+MaxCauseLen:
	default:
		return header{}, false
	}
	hd.n = int(n)
	return hd, true
}

// dataOK checks the frame checksum, which covers the header and payload.
func dataOK(f []byte) bool {
	sum := crc32.Update(crc32.Update(0, castagnoli, f[:24]), castagnoli, f[headerSize:])
	return sum == le.Uint32(f[24:])
}

// frame is one decoded frame. payload aliases the reader's buffer.
type frame struct {
	header
	payload  []byte
	off, end int64
	// bad: the header verified but the payload did not. The seq is known,
	// the contents are not.
	bad bool
}

type status int

const (
	stOK      status = iota
	stBadData        // header verified, payload did not
	stCut            // header verified, frame runs past the readable end
	stBad            // no frame here
)

// segReader decodes the frames of one segment in order, through ReadAt so
// that it never disturbs a file offset and can read a segment that is
// being appended to, up to a limit the caller knows to be complete.
type segReader struct {
	src   io.ReaderAt
	first uint64 // seq in the segment's name

	off     int64  // where the next frame is expected
	prevSeq uint64 // seq of the last frame whose header verified
	prevEnd int64  // offset just past that frame
	// err is the first read error other than EOF. What the reader said
	// after it is not to be trusted: bytes it could not read are not
	// damaged bytes.
	err error

	buf    []byte
	bufOff int64
	// reuse lets the reader overwrite its buffer; only when no payload
	// it returned is kept (recovery).
	reuse bool
}

func newSegReader(src io.ReaderAt, first uint64) *segReader {
	return &segReader{src: src, first: first, prevSeq: first - 1}
}

// window returns up to n bytes of the file from off, not past limit; fewer
// if the file ends first. The slice aliases the reader's buffer and is
// valid until the next call.
func (r *segReader) window(off int64, n int, limit int64) []byte {
	if off >= limit {
		return nil
	}
	if rem := limit - off; int64(n) > rem {
		n = int(rem)
	}
	if off >= r.bufOff && off+int64(n) <= r.bufOff+int64(len(r.buf)) {
		i := off - r.bufOff
		return r.buf[i : i+int64(n)]
	}
	want := int64(max(n, readChunk))
	want = min(want, limit-off)
	var b []byte
	if r.reuse && int64(cap(r.buf)) >= want {
		b = r.buf[:want]
	} else {
		// A fresh buffer: payloads handed out from the old one stay valid.
		b = make([]byte, want)
	}
	k, err := r.src.ReadAt(b, off)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	b = b[:k]
	r.buf, r.bufOff = b, off
	if n > k {
		n = k
	}
	return b[:n]
}

// plausible says whether a frame with seq at off can follow the last
// frame: every seq takes at least one header's worth of bytes.
func (r *segReader) plausible(seq uint64, off int64) bool {
	if seq <= r.prevSeq {
		return false
	}
	room := uint64(off-r.prevEnd) / headerSize
	return seq-r.prevSeq-1 <= room
}

// at decodes the frame at off.
func (r *segReader) at(off, limit int64) (frame, status) {
	h, ok := parseHeader(r.window(off, headerSize, limit))
	if !ok || !r.plausible(h.seq, off) {
		return frame{}, stBad
	}
	size := headerSize + h.n
	end := off + int64(size)
	if end > limit {
		return frame{}, stCut
	}
	w := r.window(off, size, limit)
	if len(w) < size {
		return frame{}, stCut
	}
	f := frame{header: h, payload: w[headerSize:], off: off, end: end}
	if !dataOK(w) {
		f.bad, f.payload = true, nil
		return f, stBadData
	}
	return f, stOK
}

// next returns the next frame that lies below limit, or false when there
// is none (yet). Damaged bytes are passed over: a frame whose header
// verified but whose payload did not is returned with bad set, and bytes
// that are no frame at all are searched for the next frame that verifies
// completely.
func (r *segReader) next(limit int64) (frame, bool) {
	for {
		if r.off >= limit {
			return frame{}, false
		}
		f, st := r.at(r.off, limit)
		switch st {
		case stOK, stBadData:
			r.off, r.prevSeq, r.prevEnd = f.end, f.seq, f.end
			return f, true
		case stCut:
			// Nothing that verifies can start inside this frame's
			// declared extent without being part of it: stop here.
			r.off = limit
			return frame{}, false
		}
		c, found := r.resync(r.off+1, limit)
		if !found {
			r.off = limit
			return frame{}, false
		}
		r.off = c
	}
}

// resync finds the first offset at or after from where a whole frame
// verifies.
func (r *segReader) resync(from, limit int64) (int64, bool) {
	for from+headerSize <= limit {
		w := r.window(from, readChunk, limit)
		i := bytes.Index(w, frameStart)
		if i < 0 {
			if len(w) <= len(frameStart) {
				return 0, false
			}
			// Keep a partial magic at the end of the window.
			from += int64(len(w) - len(frameStart) + 1)
			continue
		}
		c := from + int64(i)
		if _, st := r.at(c, limit); st == stOK {
			return c, true
		}
		from = c + 1
	}
	return 0, false
}

// recoverSegment reads a whole segment and returns the seq of its last
// frame whose header verified (first-1 if none) and the offset just past
// that frame, where appending resumes.
func recoverSegment(src io.ReaderAt, first uint64, size int64) (last uint64, end int64, err error) {
	r := newSegReader(src, first)
	r.reuse = true
	for {
		_, ok := r.next(size)
		if r.err != nil {
			// Never truncate what could not be read.
			return 0, 0, r.err
		}
		if !ok {
			return r.prevSeq, r.prevEnd, nil
		}
	}
}

// gapPayload encodes a gap marker's payload.
func gapPayload(count uint64, cause string) []byte {
	p := make([]byte, 8+len(cause))
	le.PutUint64(p, count)
	copy(p[8:], cause)
	return p
}

// record turns a verified frame into a Record.
func (f *frame) record() Record {
	r := Record{Seq: f.seq, Time: unixTime(f.time)}
	if f.kind == kindGap {
		r.Gap = &Gap{Count: le.Uint64(f.payload), Cause: string(f.payload[8:])}
		return r
	}
	r.Data = f.payload
	return r
}
