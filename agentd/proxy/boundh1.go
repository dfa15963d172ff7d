package proxy

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http/httputil"
	"slices"
	"strings"

	"github.com/paddock-sh/paddock/agentd/credential"
	"github.com/paddock-sh/paddock/agentd/events"
)

// The HTTP/1.1 side of credential injection. A terminated connection whose
// client does not ask for HTTP/2 is served by the proxy's own HTTP/1
// engine (http.go), on the connection's goroutine, with the same checks
// as every other request: each request's Host must name the destination
// the connection was decided for (421), framing ambiguities get 400. What
// changes is at the edges: the upstream is a verified TLS connection, the
// request head gets the secret where the credential applies (boundFields),
// and the response head and body are scrubbed (boundResponse). HTTP/2
// clients go through net/http (terminate.go).

// serveBoundH1 serves the decrypted stream tc of a sandbox's connection to
// d; up is connected to one of d's checked addresses.
func (c *conn) serveBoundH1(tc *tls.Conn, d *dest, up *upstream) {
	c.c = tc
	c.br = getReader(tc, clientReaderSize)
	h := newHTTPConn(c, true, d.port)
	h.bound, h.dest = true, d
	defer h.close()
	if err := c.p.upstreamTLS(up, d); err != nil {
		up.close()
		h.boundErr = fmt.Sprintf("the TLS connection to %s failed: %v", d.allow.host, err)
	} else {
		h.up = up
	}
	h.serve(false)
}

// upstreamTLS makes up a TLS connection to d's host, verified against the
// configured roots, HTTP/1.1.
func (p *Proxy) upstreamTLS(up *upstream, d *dest) error {
	tc := tls.Client(up.c, &tls.Config{ServerName: d.allow.host, RootCAs: p.cfg.UpstreamRoots,
		MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}})
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.DialTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	up.c = tc
	return nil
}

// dialUp connects to d: over TLS on a bound connection.
func (h *httpConn) dialUp(d *dest) (*upstream, *outcome) {
	up, o := h.p.dial(d)
	if up == nil || !h.bound {
		return up, o
	}
	if err := h.p.upstreamTLS(up, d); err != nil {
		up.close()
		out := d.allow
		out.status = 502
		out.reason = fmt.Sprintf("%s, but the TLS connection failed: %v", out.reason, err)
		return nil, &out
	}
	return up, nil
}

// boundFields writes the request's fields with the secret of every
// credential that applies to it, replacing the client's value of that
// field, and asks for an unencoded response, which the scrubber can read.
// path is the request target's path and query as forwarded.
func (h *httpConn) boundFields(w *bufio.Writer, path []byte) {
	req := &h.req
	d := h.dest
	p := string(path)
	if q := strings.IndexByte(p, '?'); q >= 0 {
		p = p[:q]
	}
	if p == "" {
		p = "/"
	}
	creds := h.cl.Sandbox.Credentials
	apply, skipped := creds.Match(d.allow.host, string(req.method), p)
	kept := req.fields[:0]
	var left []string
	for _, f := range req.fields {
		name := string(f.name)
		if strings.EqualFold(name, "Accept-Encoding") || appliedTo(apply, name) {
			continue
		}
		if strings.Contains(string(f.value), "paddock:cred:") {
			left = append(left, credential.Placeholders(string(f.value))...)
		}
		kept = append(kept, f)
	}
	req.fields = kept
	req.writeFields(w, false)
	w.WriteString("Accept-Encoding: identity\r\n")
	for _, b := range apply {
		w.WriteString(b.Header())
		w.WriteString(": ")
		w.WriteString(b.Value())
		w.WriteString("\r\n")
	}
	left = append(left, credential.Placeholders(string(path))...)
	h.noteInjection(d, string(req.method), p, apply, skipped, left)
}

// noteInjection records the credentials a request carries, and the
// placeholders it carries that stay placeholders.
func (c *conn) noteInjection(d *dest, method, path string, apply []*credential.Binding, skipped, left []string) {
	authority := d.allow.host
	if d.port != 443 {
		authority = fmt.Sprintf("%s:%d", authority, d.port)
	}
	for _, cr := range apply {
		c.emitNote(events.ActionAllow, cr.Rule().String(),
			fmt.Sprintf("credential %s injected into %s of %s https://%s%s", cr.Name(), cr.Header(), method, authority, shortPath(path)), d)
	}
	if len(left) > 0 {
		why := "no credential applies"
		if len(skipped) > 0 {
			why = strings.Join(skipped, "; ")
		}
		c.emitNote(events.ActionLog, "", fmt.Sprintf("placeholder of credential %s headed to %s https://%s%s, left as it is: %s",
			strings.Join(slices.Compact(slices.Sorted(slices.Values(left))), ", "), method, authority, shortPath(path), why), d)
	}
}

// boundResponseFields removes the fields the policy strips and scrubs the
// secrets from the rest, and from the status line's reason phrase; a
// field whose name holds a secret is dropped.
func (h *httpConn) boundResponseFields() {
	resp := &h.resp
	creds := h.cl.Sandbox.Credentials
	if v := creds.Scrub(string(resp.statusLine)); v != string(resp.statusLine) {
		resp.statusLine = []byte(v)
	}
	strip := creds.StripHeaders(h.dest.allow.host)
	kept := resp.fields[:0]
	for _, f := range resp.fields {
		stripped := slices.ContainsFunc(strip, func(n string) bool { return strings.EqualFold(n, string(f.name)) })
		if stripped || creds.Scrub(string(f.name)) != string(f.name) {
			continue
		}
		if v := creds.Scrub(string(f.value)); v != string(f.value) {
			f.value = []byte(v)
		}
		kept = append(kept, f)
	}
	resp.fields = kept
}

// boundResponse writes the response head and body with every secret
// replaced by its placeholder. A body of known, modest length is scrubbed
// whole and keeps a length; any other is scrubbed as it streams and sent
// chunked (close-delimited to an HTTP/1.0 client), so a replacement of
// another length never breaks the framing. Trailers are dropped: they
// would arrive past the scrubber. It returns whether the client
// connection must close after it.
func (h *httpConn) boundResponse(bw *bufio.Writer, ubr *bufio.Reader, noBody, clientClose bool) (bool, error) {
	resp, req := &h.resp, &h.req
	creds := h.cl.Sandbox.Credentials
	upChunked := resp.chunked
	h.boundResponseFields()
	if noBody {
		writeResponseHead(bw, resp, clientClose, false)
		return clientClose, nil
	}
	if resp.chunked && !strings.EqualFold(strings.TrimSpace(string(resp.te)), "chunked") {
		return true, &preHead{fmt.Sprintf("the upstream's transfer coding %q cannot be scrubbed", resp.te)}
	}
	gz := false
	switch enc := fieldValue(resp.fields, "Content-Encoding"); {
	case enc == "" || strings.EqualFold(enc, "identity"):
	case strings.EqualFold(enc, "gzip"):
		// Sent though identity was asked for: decoded here, sent plain.
		gz = true
		resp.fields = dropField(resp.fields, "Content-Encoding")
	default:
		return true, &preHead{fmt.Sprintf("the response is %s-encoded, which the proxy cannot check for the secret", enc)}
	}
	if !gz && !resp.chunked && resp.contentLength >= 0 && resp.contentLength <= maxScrubbedWhole {
		b := make([]byte, resp.contentLength)
		if _, err := io.ReadFull(ubr, b); err != nil {
			return true, err
		}
		b = []byte(creds.Scrub(string(b)))
		resp.contentLength = int64(len(b))
		writeResponseHead(bw, resp, clientClose, false)
		_, err := bw.Write(b)
		return clientClose, err
	}
	var src io.Reader
	switch {
	case resp.chunked:
		src = httputil.NewChunkedReader(ubr)
	case resp.contentLength >= 0:
		src = &exactReader{r: ubr, n: resp.contentLength}
	default:
		src = ubr
	}
	framed := src
	if gz {
		zr, err := gzip.NewReader(src)
		if err != nil {
			return true, &preHead{fmt.Sprintf("the gzip response does not decode: %v", err)}
		}
		src = zr
	}
	z := creds.Body(io.NopCloser(src))
	defer z.Close()
	var out io.Writer = bw
	var cw io.WriteCloser
	if req.minor >= 1 {
		resp.chunked, resp.te, resp.contentLength = true, []byte("chunked"), -1
		cw = httputil.NewChunkedWriter(bw)
		out = cw
	} else {
		resp.chunked, resp.contentLength = false, -1
		clientClose = true
	}
	writeResponseHead(bw, resp, clientClose, false)
	buf := make([]byte, 16<<10)
	for {
		n, err := z.Read(buf)
		if n > 0 {
			if _, werr := out.Write(buf[:n]); werr != nil {
				return true, werr
			}
			if err := bw.Flush(); err != nil { // streams (server-sent events) go out as they come
				return true, err
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return true, err
		}
	}
	// gzip's end is not always the framing's: read the rest of what the
	// upstream framed (nothing, usually).
	if _, err := io.Copy(io.Discard, framed); err != nil {
		return true, err
	}
	if upChunked {
		// The upstream's trailer section, read and dropped.
		if err := copyTrailers(bufio.NewWriterSize(io.Discard, 64), ubr); err != nil {
			return true, err
		}
	}
	if cw != nil {
		cw.Close()
		bw.WriteString("\r\n")
	}
	return clientClose, nil
}

// exactReader reads exactly n bytes: fewer is an error.
type exactReader struct {
	r *bufio.Reader
	n int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.n {
		p = p[:e.n]
	}
	n, err := e.r.Read(p)
	e.n -= int64(n)
	if err == io.EOF && e.n > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err == io.EOF {
		err = nil
	}
	return n, err
}

func fieldValue(fs []field, name string) string {
	for _, f := range fs {
		if strings.EqualFold(string(f.name), name) {
			return strings.TrimSpace(string(f.value))
		}
	}
	return ""
}

// preHead is a failure found before anything of the response was sent:
// the client still gets a 502 that says why.
type preHead struct{ msg string }

func (e *preHead) Error() string { return e.msg }

func dropField(fs []field, name string) []field {
	kept := fs[:0]
	for _, f := range fs {
		if !strings.EqualFold(string(f.name), name) {
			kept = append(kept, f)
		}
	}
	return kept
}
