package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/paddock-sh/paddock/agentd/credential"
	"github.com/paddock-sh/paddock/agentd/events"
	"github.com/paddock-sh/paddock/compiler/hostpattern"
)

// bodyGrace is how long a finished response waits for the request body
// still being forwarded before the connection is given up.
const bodyGrace = 2 * time.Second

// httpConn serves HTTP/1.x requests on one client connection: absolute-form
// requests and CONNECT in explicit mode, origin-form requests to one
// destination in transparent mode.
type httpConn struct {
	*conn
	transparent bool   // origin-form requests to one destination
	port        uint16 // transparent: the port the client connected to
	req         request
	resp        response
	head        []byte // request head buffer, reused
	rhead       []byte // response head buffer, reused

	dest   *dest  // the checked destination of the current upstream
	key    []byte // the text (authority or Host) that last mapped to dest
	byAddr bool   // transparent: decided on the original address, no Host
	up     *upstream

	// bound: a terminated connection to a host with credentials
	// (boundh1.go); the upstream speaks TLS, requests get the secret, and
	// responses are scrubbed. boundErr, when set, is why no upstream could
	// be had: every request gets a 502 saying so.
	bound    bool
	boundErr string
}

func newHTTPConn(c *conn, transparent bool, port uint16) *httpConn {
	return &httpConn{conn: c, transparent: transparent, port: port}
}

// close closes the upstream connection, if any.
func (h *httpConn) close() {
	if h.up != nil {
		h.up.close()
		h.up = nil
	}
}

// serve reads and forwards requests until the connection ends. The
// client's first byte has already arrived and the header deadline is set.
func (h *httpConn) serve(firstArrived bool) {
	cfg := &h.p.cfg
	for n := 0; ; n++ {
		if n > 0 || !firstArrived {
			h.idle.Store(true)
			if h.p.closingFlag.Load() {
				return
			}
			h.c.SetReadDeadline(time.Now().Add(cfg.IdleTimeout))
			_, err := h.br.Peek(1)
			h.idle.Store(false)
			if err != nil {
				return
			}
			h.c.SetReadDeadline(time.Now().Add(cfg.HeaderTimeout))
		}
		head, err := readHead(h.br, h.head, true)
		h.head = head
		if err != nil {
			var he *httpError
			if errors.As(err, &he) {
				h.reject(he)
			}
			return
		}
		if err := parseRequest(head, &h.req); err != nil {
			var he *httpError
			if !errors.As(err, &he) {
				he = badRequest(err.Error())
			}
			h.reject(he)
			return
		}
		if !h.handle() {
			return
		}
	}
}

// reject answers a request the proxy cannot read safely, records it, and
// leaves the connection to be closed.
func (h *httpConn) reject(he *httpError) {
	h.emitDecision("http", nil, &outcome{reason: "malformed request refused: " + he.msg})
	h.writeError(he.status, he.msg)
}

// handle serves one parsed request. It reports whether the connection may
// carry another.
func (h *httpConn) handle() bool {
	req := &h.req
	switch string(req.method) {
	case "TRACE", "TRACK":
		h.refuse(405, "the TRACE and TRACK methods are refused (they echo requests back, credentials included)")
		return false
	}
	if h.bound {
		switch {
		case h.boundErr != "":
			h.refuse(502, h.boundErr)
			return false
		case req.upgrade != nil:
			h.refuse(403, "protocol upgrades to a host with credentials are refused: the proxy could not keep the secret out of the upgraded stream")
			return false
		}
	}
	switch string(req.method) {
	case "CONNECT":
		if h.transparent {
			h.refuse(405, "CONNECT is accepted only by the proxy's explicit port")
			return false
		}
		h.connect()
		return false
	}

	authority, path, ok := splitTarget(req.target)
	if !ok {
		h.refuse(400, "invalid request target")
		return false
	}
	if authority == nil && !h.transparent {
		h.refuse(400, "a request to the proxy must use an absolute http:// URL (use CONNECT for https)")
		return false
	}
	if path != nil && path[0] == '*' && string(req.method) != "OPTIONS" {
		h.refuse(400, "the asterisk target is only for OPTIONS")
		return false
	}

	var d *dest
	if h.transparent {
		d = h.transparentDest(authority)
	} else {
		d = h.explicitDest(authority)
	}
	if d == nil {
		return false
	}
	// Only a sandbox with credentials has placeholders worth a note; the
	// scan stays off every other request's path.
	if !h.bound && h.cl.Sandbox.Credentials != nil && bytes.Contains(h.head, placeholderMark) {
		h.strayPlaceholder(d)
	}

	if h.up == nil {
		up, o := h.dialUp(d)
		h.emitDecision("http", up, o.orAllow(d))
		if up == nil {
			h.writeDenied(o)
			return false
		}
		h.up = up
	} else {
		h.emitDecision("http", h.up, &d.allow)
	}
	return h.exchange(path)
}

// placeholderMark starts every credential placeholder.
var placeholderMark = []byte("paddock:cred:")

// strayPlaceholder records a placeholder in a plain-HTTP request: it is
// forwarded as it is, never replaced, since a secret goes only over TLS to
// the hosts it is bound to.
func (h *httpConn) strayPlaceholder(d *dest) {
	names := credential.Placeholders(string(h.head))
	h.p.emit(events.Event{
		Sandbox: h.cl.Sandbox.ID, Action: events.ActionLog,
		Reason: fmt.Sprintf("placeholder of credential %s sent to %s:%d over plain HTTP, left as it is: credentials go only over TLS to their bound hosts",
			strings.Join(names, ", "), d.allow.host, d.port),
		Net: &events.Net{Op: "http", Proto: "tcp", Client: h.client, Orig: h.cl.Orig, Host: d.allow.host, Port: d.port},
	})
}

// splitTarget splits an absolute-form target into its authority and the
// rest (path and query), or returns an origin-form or asterisk target as
// the path with a nil authority. The path of "http://host?q" is "?q"; the
// writer adds the "/".
func splitTarget(t []byte) (authority, path []byte, ok bool) {
	switch {
	case len(t) == 0:
		return nil, nil, false
	case t[0] == '/':
		return nil, t, true
	case len(t) == 1 && t[0] == '*':
		return nil, t, true
	case len(t) > 7 && asciiEqualFold(t[:7], "http://"):
		rest := t[7:]
		i := bytes.IndexAny(rest, "/?")
		if i < 0 {
			authority, path = rest, nil
		} else {
			authority, path = rest[:i], rest[i:]
		}
		if len(authority) == 0 {
			return nil, nil, false
		}
		return authority, path, true
	}
	return nil, nil, false
}

// explicitDest checks the absolute-form authority of the request, reusing
// the current destination when it is the same, and checks that the Host
// header agrees. It answers the client itself and returns nil on refusal.
func (h *httpConn) explicitDest(authority []byte) *dest {
	d := h.dest
	if d == nil || !bytes.Equal(authority, h.key) {
		hostText, port, err := hostpattern.SplitHostPort(string(authority))
		if err != nil {
			h.deny(refused("", 0, "", fmt.Sprintf("destination refused: %v", err)))
			return nil
		}
		if port == 0 {
			port = 80
		}
		if hc, err := hostpattern.Canonical(hostText); err != nil || d == nil || hc != d.host || port != d.port {
			nd, o := h.check("http", hostText, port)
			if o != nil {
				h.deny(o)
				return nil
			}
			h.close() // a new destination needs a new upstream
			d, h.dest = nd, nd
		}
		h.key = append(h.key[:0], authority...)
	}
	if host := h.req.host; host != nil && !bytes.Equal(host, authority) {
		if why := agrees(host, d, 80); why != "" {
			h.misdirected(d, why)
			return nil
		}
	}
	return d
}

// transparentDest decides the first request of a transparent connection
// on its Host (or on the original address when it has none) and holds
// every later request to that destination.
func (h *httpConn) transparentDest(authority []byte) *dest {
	req := &h.req
	port := h.port
	name := req.host
	if name == nil {
		name = authority
	} else if authority != nil && !bytes.Equal(authority, name) {
		if h.dest != nil {
			if why := agrees(authority, h.dest, port); why != "" {
				h.misdirected(h.dest, why)
				return nil
			}
		} else if why := sameAuthority(authority, name, port); why != "" {
			h.refuse(421, why)
			return nil
		}
	}

	if h.dest != nil {
		switch {
		case name == nil || bytes.Equal(name, h.key) && !h.byAddr:
			return h.dest
		case h.byAddr:
			h.misdirected(h.dest, "this connection was decided on its address, without a Host, and cannot change destination")
			return nil
		}
		if why := agrees(name, h.dest, port); why != "" {
			h.misdirected(h.dest, why)
			return nil
		}
		h.key = append(h.key[:0], name...)
		return h.dest
	}

	var d *dest
	var o *outcome
	if name == nil {
		d, o = h.check("http", h.cl.Orig.Addr().String(), port)
		h.byAddr = true
	} else {
		hostText, hport, err := hostpattern.SplitHostPort(string(name))
		switch {
		case err != nil:
			o = refused("", port, "", fmt.Sprintf("destination refused: %v", err))
		case hport != 0 && hport != port || hport == 0 && port != 80:
			h.refuse(421, fmt.Sprintf("the Host port (%d) differs from the port the connection was made to (%d)", defaultPort(hport, 80), port))
			return nil
		default:
			d, o = h.check("http", hostText, port)
		}
	}
	if o != nil {
		h.deny(o)
		return nil
	}
	h.dest = d
	h.key = append(h.key[:0], name...)
	return d
}

func defaultPort(p, def uint16) uint16 {
	if p == 0 {
		return def
	}
	return p
}

// agrees checks that an authority or Host value names d (port defaulting
// to def), returning why not, or "".
func agrees(v []byte, d *dest, def uint16) string {
	hostText, port, err := hostpattern.SplitHostPort(string(v))
	if err != nil {
		return "the Host header is not a valid host"
	}
	port = defaultPort(port, def)
	hc, err := hostpattern.Canonical(hostText)
	if err != nil {
		return "the Host header is not a valid host"
	}
	if hc != d.host || port != d.port {
		return fmt.Sprintf("the Host header names %s:%d, but the request goes to %s:%d", hc, port, d.host, d.port)
	}
	return ""
}

// sameAuthority checks that two authorities name the same host and port.
func sameAuthority(a, b []byte, def uint16) string {
	ha, pa, err1 := hostpattern.SplitHostPort(string(a))
	hb, pb, err2 := hostpattern.SplitHostPort(string(b))
	if err1 != nil || err2 != nil {
		return "the request target or the Host header is not a valid host"
	}
	ca, err1 := hostpattern.Canonical(ha)
	cb, err2 := hostpattern.Canonical(hb)
	if err1 != nil || err2 != nil || ca != cb || defaultPort(pa, def) != defaultPort(pb, def) {
		return "the request target and the Host header name different destinations"
	}
	return ""
}

// connect serves an explicit CONNECT: check, dial, 200, then a tunnel
// whose ClientHello, if any, must name the checked host.
func (h *httpConn) connect() {
	req := &h.req
	if req.chunked || req.contentLength > 0 {
		h.refuse(400, "a CONNECT request has no body")
		return
	}
	hostText, port, err := hostpattern.SplitHostPort(string(req.target))
	if err == nil && port == 0 {
		err = errors.New("CONNECT needs host:port")
	}
	if err != nil {
		h.denyOp("connect-tunnel", refused("", port, "", fmt.Sprintf("destination refused: %v", err)))
		return
	}
	d, o := h.check("connect-tunnel", hostText, port)
	if o != nil {
		h.denyOp("connect-tunnel", o)
		return
	}
	if host := req.host; host != nil && !bytes.Equal(host, req.target) {
		if why := agrees(host, d, 443); why != "" {
			o := d.allow
			o.allowed, o.status, o.reason = false, 421, why
			h.emitDecision("connect-tunnel", nil, &o)
			h.writeError(421, why)
			return
		}
	}
	h.close()
	up, o := h.p.dial(d)
	h.emitDecision("connect-tunnel", up, o.orAllow(d))
	if up == nil {
		h.writeDenied(o)
		return
	}
	bw := h.writer()
	bw.WriteString("HTTP/1.1 200 Connection established\r\n\r\n")
	if bw.Flush() != nil {
		up.close()
		return
	}
	h.conn.tunnelChecked(up, d, "connect-tunnel")
}

// exchange forwards the request to the current upstream and streams the
// response back. It reports whether the client connection may carry
// another request.
func (h *httpConn) exchange(path []byte) bool {
	req := &h.req
	hasBody := req.chunked || req.contentLength > 0
	if req.upgrade != nil && !asciiEqualFold(req.upgrade, "websocket") {
		req.upgrade = nil // only WebSocket upgrades pass; others are dropped
	}
	for attempt := 0; ; attempt++ {
		up := h.up
		reused := up.br != nil
		w := up.writer()
		h.writeRequestHead(w, path)
		var bodyErr chan error
		if hasBody {
			h.c.SetReadDeadline(time.Time{})
			bodyErr = make(chan error, 1)
			go func() {
				err := errChunk // what a panic leaves
				defer func() {
					if err != nil {
						up.c.Close() // unblocks the response reader
					}
					bodyErr <- err
				}()
				defer h.p.recover("request body")
				err = h.copyRequestBody(w)
			}()
		} else if err := w.Flush(); err != nil {
			if reused && attempt == 0 && replayable(req.method) && h.redial() {
				continue
			}
			h.writeError(502, "the upstream connection failed")
			return false
		}
		keep, retry := h.response(up, hasBody, bodyErr, reused && attempt == 0 && !hasBody && replayable(req.method))
		if retry && h.redial() {
			continue
		}
		return keep
	}
}

// replayable reports whether a request may be sent again when a reused
// upstream connection closed before answering it.
func replayable(method []byte) bool {
	switch string(method) {
	case "GET", "HEAD", "OPTIONS":
		return true
	}
	return false
}

// redial replaces an upstream that closed while idle.
func (h *httpConn) redial() bool {
	h.up.close()
	h.up = nil
	up, o := h.dialUp(h.dest)
	if up == nil {
		h.emitDecision("http", nil, o)
		return false
	}
	h.up = up
	return true
}

// writeRequestHead writes the forwarded head: origin-form target, the
// canonical Host, end-to-end fields, framing.
func (h *httpConn) writeRequestHead(w *bufio.Writer, path []byte) {
	req := &h.req
	w.Write(req.method)
	w.WriteByte(' ')
	if len(path) == 0 || path[0] == '?' {
		w.WriteByte('/')
	}
	w.Write(path)
	if req.minor == 0 {
		w.WriteString(" HTTP/1.0\r\n")
	} else {
		w.WriteString(" HTTP/1.1\r\n")
	}
	w.Write(h.dest.hostField())
	if h.bound {
		h.boundFields(w, path)
	} else {
		req.writeFields(w, req.upgrade != nil)
	}
	w.WriteString("\r\n")
}

func (h *httpConn) copyRequestBody(w *bufio.Writer) error {
	if err := w.Flush(); err != nil { // the head first: the client may wait for 100 Continue
		return err
	}
	var err error
	if h.req.chunked {
		err = copyChunked(w, h.br)
	} else {
		err = copyN(w, h.br, h.req.contentLength)
	}
	if err != nil {
		return err
	}
	return w.Flush()
}

// response reads the upstream's response (after any 1xx) and streams it to
// the client. keep reports whether the client connection stays open;
// retry that the upstream closed before answering and the request may be
// sent again on a new connection.
func (h *httpConn) response(up *upstream, hasBody bool, bodyErr chan error, mayRetry bool) (keep, retry bool) {
	req, resp := &h.req, &h.resp
	ubr := up.reader()
	bw := h.writer()
	up.c.SetReadDeadline(time.Now().Add(h.p.cfg.ResponseHeaderTimeout))
	for {
		rh, err := readHead(ubr, h.rhead, false)
		h.rhead = rh
		if err != nil {
			if mayRetry && (err == io.EOF || len(rh) == 0 && errors.Is(err, syscall.ECONNRESET)) {
				return false, true
			}
			h.failed(bodyErr, "the upstream closed the connection or sent no valid response")
			return false, false
		}
		if err := parseResponse(rh, resp); err != nil {
			h.failed(bodyErr, "the upstream sent a malformed response head")
			return false, false
		}
		if resp.status >= 200 {
			break
		}
		if resp.status == 101 {
			if req.upgrade == nil || resp.upgrade == nil || hasBody {
				h.failed(bodyErr, "the upstream switched protocols without a WebSocket upgrade being asked for")
				return false, false
			}
			writeResponseHead(bw, resp, false, true)
			if bw.Flush() != nil {
				return false, false
			}
			h.up = nil
			h.conn.tunnel(up, nil)
			return false, false
		}
		if req.minor == 0 {
			continue // no interim responses for HTTP/1.0 clients
		}
		if h.bound {
			h.boundResponseFields()
		}
		writeResponseHead(bw, resp, false, false)
		if bw.Flush() != nil {
			h.abandon(bodyErr)
			return false, false
		}
	}
	up.c.SetReadDeadline(time.Time{})

	noBody := string(req.method) == "HEAD" || resp.status == 204 || resp.status == 304
	closeDelimited := !noBody && !resp.chunked && resp.contentLength < 0
	clientClose := req.close || closeDelimited || h.p.closingFlag.Load()
	var err error
	if h.bound {
		clientClose, err = h.boundResponse(bw, ubr, noBody, clientClose)
	} else {
		writeResponseHead(bw, resp, clientClose, false)
		switch {
		case noBody:
		case resp.chunked:
			err = copyChunked(bw, ubr)
		case resp.contentLength >= 0:
			err = copyN(bw, ubr, resp.contentLength)
		default:
			err = copyAll(bw, ubr)
		}
	}
	var ph *preHead
	if errors.As(err, &ph) {
		h.failed(bodyErr, ph.msg)
		return false, false
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		h.abandon(bodyErr)
		return false, false
	}
	if bodyErr != nil {
		t := time.NewTimer(bodyGrace)
		select {
		case err = <-bodyErr:
			bodyErr = nil
		case <-t.C:
			err = errors.New("request body still unsent after the response ended")
		}
		t.Stop()
		if err != nil {
			h.abandon(bodyErr)
			return false, false
		}
	}
	if resp.close || closeDelimited {
		h.close()
	}
	return !clientClose, false
}

// abandon ends a failed exchange: it closes the upstream and, if a request
// body is still being forwarded, stops reading the client (without closing
// it, so that an error can still be written) and waits for that copy. It
// returns the copy's error.
func (h *httpConn) abandon(bodyErr chan error) error {
	up := h.up
	h.up = nil
	if up != nil {
		up.c.Close()
	}
	var err error
	if bodyErr != nil {
		select {
		case err = <-bodyErr:
		default:
			h.c.SetReadDeadline(time.Unix(1, 0))
			err = <-bodyErr
		}
	}
	if up != nil {
		up.release()
	}
	return err
}

// failed answers a failed exchange: 400 when the request body was
// malformed, else 502 with why.
func (h *httpConn) failed(bodyErr chan error, why string) {
	err := h.abandon(bodyErr)
	if h.dest != nil {
		h.p.log.Debug("proxy: request failed", "sandbox", h.cl.Sandbox.ID, "host", h.dest.allow.host,
			"port", h.dest.port, "why", why, "body_err", err)
	}
	if err == errChunk {
		h.refuse(400, "malformed chunked request body")
		return
	}
	h.writeError(502, why)
}

func writeResponseHead(w *bufio.Writer, resp *response, close, upgrade bool) {
	w.Write(resp.statusLine)
	w.WriteString("\r\n")
	resp.writeFields(w, upgrade)
	if close {
		w.WriteString("Connection: close\r\n")
	}
	w.WriteString("\r\n")
}

// deny answers a refused request with 403 and records it.
func (h *httpConn) deny(o *outcome) { h.denyOp("http", o) }

func (h *httpConn) denyOp(op string, o *outcome) {
	h.emitDecision(op, nil, o)
	h.writeDenied(o)
}

// refuse answers a request the proxy does not serve (405, 400, 421) and
// records it.
func (h *httpConn) refuse(status int, why string) {
	h.emitDecision("http", nil, &outcome{reason: why, status: status})
	h.writeError(status, why)
}

// misdirected answers 421 for a request whose Host does not match the
// connection's checked destination.
func (h *httpConn) misdirected(d *dest, why string) {
	o := outcome{host: d.allow.host, port: d.port, reason: why, status: 421}
	h.emitDecision("http", nil, &o)
	h.writeError(421, why)
}

// Body copying. Each copies exactly one message body from src to dst,
// flushing dst whenever src has nothing buffered, so responses stream.

// copyN copies n bytes.
func copyN(dst *bufio.Writer, src *bufio.Reader, n int64) error {
	for n > 0 {
		if src.Buffered() == 0 {
			if dst.Buffered() > 0 {
				if err := dst.Flush(); err != nil {
					return err
				}
			}
			if _, err := src.Peek(1); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
		}
		k := src.Buffered()
		if int64(k) > n {
			k = int(n)
		}
		b, _ := src.Peek(k)
		if _, err := dst.Write(b); err != nil {
			return err
		}
		src.Discard(k)
		n -= int64(k)
	}
	return nil
}

// copyAll copies until src ends.
func copyAll(dst *bufio.Writer, src *bufio.Reader) error {
	err := copyN(dst, src, 1<<62)
	if err == io.ErrUnexpectedEOF {
		return nil
	}
	return err
}

const maxChunkLine = 4 << 10

var errChunk = errors.New("malformed chunked body")

// copyChunked copies a chunked body, re-writing each chunk-size line
// without extensions and checking every CRLF, then the validated trailer
// section.
func copyChunked(dst *bufio.Writer, src *bufio.Reader) error {
	var num [20]byte
	for {
		line, err := readChunkLine(src, dst)
		if err != nil {
			return err
		}
		size, err := parseChunkSize(line)
		if err != nil {
			return err
		}
		dst.Write(strconv.AppendInt(num[:0], size, 16))
		dst.WriteString("\r\n")
		if size == 0 {
			return copyTrailers(dst, src)
		}
		if err := copyN(dst, src, size); err != nil {
			return err
		}
		crlf, err := readChunkLine(src, dst)
		if err != nil {
			return err
		}
		if len(crlf) != 0 {
			return errChunk
		}
		dst.WriteString("\r\n")
	}
}

// readChunkLine reads one CRLF-terminated line of at most maxChunkLine
// bytes and returns it without the CRLF.
func readChunkLine(src *bufio.Reader, dst *bufio.Writer) ([]byte, error) {
	if src.Buffered() == 0 && dst.Buffered() > 0 {
		if err := dst.Flush(); err != nil {
			return nil, err
		}
	}
	line, err := src.ReadSlice('\n')
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err == bufio.ErrBufferFull {
			err = errChunk
		}
		return nil, err
	}
	if len(line) > maxChunkLine || len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, errChunk
	}
	line = line[:len(line)-2]
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, errChunk
	}
	return line, nil
}

// parseChunkSize reads "1*HEXDIG [BWS ; ext]" and returns the size; the
// extension may hold no control characters and is dropped.
func parseChunkSize(line []byte) (int64, error) {
	i := 0
	var n int64
	for ; i < len(line); i++ {
		c := line[i]
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			v = c - 'A' + 10
		default:
			goto ext
		}
		if n > (1<<59)-1 {
			return 0, errChunk
		}
		n = n<<4 | int64(v)
	}
ext:
	if i == 0 {
		return 0, errChunk
	}
	rest := line[i:]
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		rest = rest[1:]
	}
	if len(rest) == 0 {
		if i != len(line) {
			return 0, errChunk // whitespace with no extension after it
		}
		return n, nil
	}
	if rest[0] != ';' {
		return 0, errChunk
	}
	for _, c := range rest {
		if c < ' ' && c != '\t' || c == 0x7f {
			return 0, errChunk
		}
	}
	return n, nil
}

// copyTrailers copies the trailer section after the last chunk, each field
// validated, and the final empty line.
func copyTrailers(dst *bufio.Writer, src *bufio.Reader) error {
	total := 0
	for {
		line, err := readChunkLine(src, dst)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			dst.WriteString("\r\n")
			return nil
		}
		if total += len(line); total > maxHeadBytes {
			return errChunk
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || line[0] == ' ' || line[0] == '\t' {
			return errChunk
		}
		for _, c := range line[:colon] {
			if !isTchar(c) {
				return errChunk
			}
		}
		for _, c := range line[colon+1:] {
			if c < ' ' && c != '\t' || c == 0x7f {
				return errChunk
			}
		}
		if fieldKind(line[:colon]) != hOther {
			continue // framing and hop-by-hop fields have no place in a trailer
		}
		dst.Write(line)
		dst.WriteString("\r\n")
	}
}
