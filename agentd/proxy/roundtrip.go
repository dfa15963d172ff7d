package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"
)

// boundRT is the upstream side of a terminated connection: HTTP/1.1 over
// TLS to d's checked addresses, run on the caller's goroutine. A request
// and its response pass no goroutine but the handler's, which is most of
// what termination costs on a kept-alive connection beyond the crypto.
type boundRT struct {
	b   *bound
	cfg *tls.Config

	mu     sync.Mutex
	idle   []*rtConn
	closed bool
}

type rtConn struct {
	c  *tls.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

func (t *boundRT) get(ctx context.Context) (*rtConn, error) {
	t.mu.Lock()
	if n := len(t.idle); n > 0 {
		pc := t.idle[n-1]
		t.idle = t.idle[:n-1]
		t.mu.Unlock()
		return pc, nil
	}
	t.mu.Unlock()
	raw, err := t.b.dial(ctx, "", "")
	if err != nil {
		return nil, err
	}
	tc := tls.Client(raw, t.cfg)
	hctx, cancel := context.WithTimeout(ctx, t.b.c.p.cfg.DialTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		raw.Close()
		return nil, err
	}
	return &rtConn{c: tc, br: bufio.NewReaderSize(tc, 16<<10), bw: bufio.NewWriterSize(tc, 8<<10)}, nil
}

func (t *boundRT) put(pc *rtConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || len(t.idle) >= 4 {
		pc.c.Close()
		return
	}
	t.idle = append(t.idle, pc)
}

// close closes the idle connections and any put back later.
func (t *boundRT) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for _, pc := range t.idle {
		pc.c.Close()
	}
	t.idle = nil
}

func (t *boundRT) RoundTrip(req *http.Request) (*http.Response, error) {
	pc, err := t.get(req.Context())
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	// A request that fails before its response may be sent again by the
	// client: the connection is never reused after an error.
	stop := context.AfterFunc(req.Context(), func() { pc.c.SetDeadline(time.Unix(1, 0)) })
	if err := req.Write(pc.bw); err != nil {
		stop()
		pc.c.Close()
		return nil, err
	}
	if err := pc.bw.Flush(); err != nil {
		stop()
		pc.c.Close()
		return nil, err
	}
	pc.c.SetReadDeadline(time.Now().Add(t.b.c.p.cfg.ResponseHeaderTimeout))
	resp, err := http.ReadResponse(pc.br, req)
	// Interim responses (100 Continue, 103 Early Hints) are dropped: the
	// request body has been sent already, and hints name other hosts.
	for err == nil && resp.StatusCode >= 100 && resp.StatusCode < 200 {
		if resp.StatusCode == http.StatusSwitchingProtocols {
			err = errors.New("the upstream switched protocols, which is refused on hosts with credentials")
			break
		}
		resp, err = http.ReadResponse(pc.br, req)
	}
	if err != nil {
		stop()
		pc.c.Close()
		return nil, err
	}
	pc.c.SetReadDeadline(time.Time{})
	resp.Body = &rtBody{ReadCloser: resp.Body, t: t, pc: pc, stop: stop, reuse: !resp.Close && !req.Close}
	return resp, nil
}

// rtBody gives the connection back once the body has been read to its
// end, and closes it if the body is abandoned.
type rtBody struct {
	io.ReadCloser
	t     *boundRT
	pc    *rtConn
	stop  func() bool
	reuse bool
	eof   bool
	done  bool
}

func (b *rtBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		b.eof = true
	}
	return n, err
}

func (b *rtBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	err := b.ReadCloser.Close()
	if b.stop() && b.eof && b.reuse {
		b.t.put(b.pc)
	} else {
		b.pc.c.Close()
	}
	return err
}
