package credential

import (
	"bytes"
	"io"
	"strings"
	"sync"
)

// scrubber replaces secrets with placeholders.
type scrubber struct {
	pats  [][]byte
	repl  [][]byte
	maxLn int
}

func (s *scrubber) add(secret []byte, placeholder string) {
	for _, e := range encodings(secret) {
		s.pats = append(s.pats, e)
		s.repl = append(s.repl, []byte(placeholder))
		s.maxLn = max(s.maxLn, len(e))
	}
}

// next finds the earliest (then longest) pattern in b.
func (s *scrubber) next(b []byte) (at, pat int) {
	at, pat = -1, -1
	for i, p := range s.pats {
		j := bytes.Index(b, p)
		if j >= 0 && (at < 0 || j < at || j == at && len(p) > len(s.pats[pat])) {
			at, pat = j, i
		}
	}
	return at, pat
}

func (s *scrubber) replaceString(v string) string {
	if len(s.pats) == 0 {
		return v
	}
	if at, _ := s.next([]byte(v)); at < 0 {
		return v
	}
	var out strings.Builder
	b := []byte(v)
	for {
		at, i := s.next(b)
		if at < 0 {
			out.Write(b)
			return out.String()
		}
		out.Write(b[:at])
		out.Write(s.repl[i])
		b = b[at+len(s.pats[i]):]
	}
}

// held is how many bytes at the end of b could be the start of a pattern:
// they wait for the next read. Everything before goes out at once, so a
// stream (server-sent events) is not delayed unless its bytes really could
// be a secret's beginning.
func (s *scrubber) held(b []byte) int {
	for k := min(len(b), s.maxLn-1); k > 0; k-- {
		tail := b[len(b)-k:]
		for _, p := range s.pats {
			if len(p) > k && bytes.HasPrefix(p, tail) {
				return k
			}
		}
	}
	return 0
}

// Body wraps a response body so that every secret of the set in it reads
// as its placeholder, across read boundaries.
func (s *Set) Body(r io.ReadCloser) io.ReadCloser {
	if !s.Scrubs() {
		return r
	}
	return &scrubReader{r: r, s: &s.scrub, buf: bufs.Get().(*[]byte)}
}

// bufs are the read buffers of scrubReaders, returned on Close.
var bufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

type scrubReader struct {
	r   io.ReadCloser
	s   *scrubber
	buf *[]byte
	in  []byte // read, not yet scanned to the end (a possible partial secret)
	out []byte // scanned, ready
	err error
}

func (z *scrubReader) Read(p []byte) (int, error) {
	for len(z.out) == 0 {
		if z.err != nil {
			if len(z.in) > 0 {
				z.out, z.in = z.in, nil // the stream ended: a partial match is just text
				break
			}
			return 0, z.err
		}
		if z.buf == nil {
			return 0, io.ErrClosedPipe
		}
		n, err := z.r.Read(*z.buf)
		z.err = err
		z.in = append(z.in, (*z.buf)[:n]...)
		z.scan()
	}
	n := copy(p, z.out)
	z.out = z.out[n:]
	return n, nil
}

// scan moves what is surely not the start of a secret from in to out,
// replacing the secrets found.
func (z *scrubReader) scan() {
	for {
		at, i := z.s.next(z.in)
		if at < 0 {
			break
		}
		z.out = append(z.out, z.in[:at]...)
		z.out = append(z.out, z.s.repl[i]...)
		z.in = z.in[at+len(z.s.pats[i]):]
	}
	keep := z.s.held(z.in)
	z.out = append(z.out, z.in[:len(z.in)-keep]...)
	z.in = append(z.in[:0:0], z.in[len(z.in)-keep:]...)
}

func (z *scrubReader) Close() error {
	if z.buf != nil {
		bufs.Put(z.buf)
		z.buf = nil
	}
	return z.r.Close()
}
