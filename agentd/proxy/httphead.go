package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
)

// A strict HTTP/1.1 message-head reader. The proxy re-serialises every head
// it forwards (request line, the fields it keeps, framing it computed
// itself), so the upstream never sees a framing the proxy did not decide;
// anything a peer could read two ways is refused instead.

const (
	maxHeadBytes   = 64 << 10
	maxHeadLines   = 512
	maxEmptyPrefix = 4 // empty lines tolerated before a request line (RFC 9112 section 2.2)
	maxMethodLen   = 32
)

// httpError is a request the proxy refuses before any upstream sees it.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return strconv.Itoa(e.status) + " " + e.msg }

func badRequest(msg string) *httpError { return &httpError{400, msg} }

var (
	errHeadTooLarge = &httpError{431, "request head is larger than 64 KiB or has too many lines"}
	errBareCR       = badRequest("bare CR or LF without CR in the request head")
	errObsFold      = badRequest("obsolete line folding in a header field")
	errFieldName    = badRequest("invalid header field name")
	errFieldValue   = badRequest("control character in a header field value")
	errRequestLine  = badRequest("malformed request line")
	errVersion      = &httpError{505, "only HTTP/1.0 and HTTP/1.1 are spoken here"}
	errCLAndTE      = badRequest("both Content-Length and Transfer-Encoding")
	errCL           = badRequest("invalid or conflicting Content-Length")
	errTE           = badRequest("Transfer-Encoding must be a single field ending in chunked")
	errHost         = badRequest("missing or repeated Host header")
	errConnToken    = badRequest("invalid Connection header")
)

// readHead reads one message head (through the empty line) from br into
// buf, which it reuses. It bounds the head's size and line count. Empty
// lines before the first line are skipped when skipEmpty is set. io.EOF
// means the peer closed before sending anything.
func readHead(br *bufio.Reader, buf []byte, skipEmpty bool) ([]byte, error) {
	buf = buf[:0]
	lineStart, lines, skipped := 0, 0, 0
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) > maxHeadBytes {
			return buf, errHeadTooLarge
		}
		buf = append(buf, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return buf, err
		}
		line := buf[lineStart:]
		if len(line) <= 2 && (len(line) == 1 || line[0] == '\r') {
			if lineStart == 0 && skipEmpty && skipped < maxEmptyPrefix {
				skipped++
				buf = buf[:0]
				continue
			}
			return buf, nil
		}
		lineStart = len(buf)
		if lines++; lines > maxHeadLines {
			return buf, errHeadTooLarge
		}
	}
}

// Header fields the proxy handles itself.
const (
	hOther uint8 = iota
	hHost
	hContentLength
	hTransferEncoding
	hConnection
	hProxyConnection
	hKeepAlive
	hProxyAuthorization
	hProxyAuthenticate
	hTE
	hTrailer
	hUpgrade
)

type field struct {
	name, value []byte
	kind        uint8
}

// message is what both request and response heads share.
type message struct {
	minor         int // HTTP/1.minor
	fields        []field
	contentLength int64 // -1 when absent
	chunked       bool
	te            []byte // the Transfer-Encoding value, when chunked
	close         bool   // the sender's connection ends after this message
	upgrade       []byte // the Upgrade value, when "Connection: upgrade" asks for it
	conn          [][]byte
}

type request struct {
	message
	method []byte
	target []byte
	host   []byte // the Host field's value; nil when absent
}

type response struct {
	message
	status     int
	statusLine []byte // without CRLF
}

func (m *message) reset() {
	m.minor = 1
	m.fields = m.fields[:0]
	m.contentLength = -1
	m.chunked = false
	m.te = nil
	m.close = false
	m.upgrade = nil
	m.conn = m.conn[:0]
}

// splitLine returns the first CRLF-terminated line of b (without CRLF) and
// the rest. A line with a bare CR, or ending in LF alone, is an error.
func splitLine(b []byte) (line, rest []byte, err error) {
	i := bytes.IndexByte(b, '\n')
	if i < 1 || b[i-1] != '\r' {
		return nil, nil, errBareCR
	}
	line = b[:i-1]
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, nil, errBareCR
	}
	return line, b[i+1:], nil
}

// parseRequest parses and validates a request head as read by readHead.
// The fields of req point into head.
func parseRequest(head []byte, req *request) error {
	req.reset()
	req.method, req.target, req.host = nil, nil, nil
	line, rest, err := splitLine(head)
	if err != nil {
		return err
	}
	// method SP request-target SP HTTP-version, single spaces only.
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 || sp1 > maxMethodLen {
		return errRequestLine
	}
	method := line[:sp1]
	for _, c := range method {
		if !isTchar(c) {
			return badRequest("invalid method")
		}
	}
	rest1 := line[sp1+1:]
	sp2 := bytes.IndexByte(rest1, ' ')
	if sp2 <= 0 {
		return badRequest("request line without an HTTP version")
	}
	target, version := rest1[:sp2], rest1[sp2+1:]
	for _, c := range target {
		if c <= ' ' || c >= 0x7f || c == '#' {
			return badRequest("invalid character in the request target")
		}
	}
	switch {
	case string(version) == "HTTP/1.1":
		req.minor = 1
	case string(version) == "HTTP/1.0":
		req.minor = 0
	case len(version) == 8 && string(version[:5]) == "HTTP/" && isDigit(version[5]) && version[6] == '.' && isDigit(version[7]):
		return errVersion
	default:
		return badRequest("invalid HTTP version")
	}
	req.method, req.target = method, target
	if err := req.parseFields(rest); err != nil {
		return err
	}
	hosts := 0
	for i := range req.fields {
		if req.fields[i].kind == hHost {
			hosts++
			req.host = req.fields[i].value
		}
	}
	if hosts > 1 || hosts == 0 && req.minor == 1 {
		return errHost
	}
	if req.chunked && req.minor == 0 {
		return badRequest("Transfer-Encoding in an HTTP/1.0 request")
	}
	if req.minor == 0 {
		req.close = true // one request per HTTP/1.0 connection
	}
	return nil
}

// parseResponse parses and validates a response head.
func parseResponse(head []byte, resp *response) error {
	resp.reset()
	line, rest, err := splitLine(head)
	if err != nil {
		return err
	}
	// HTTP-version SP 3DIGIT [SP reason-phrase]
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' ||
		!isDigit(line[9]) || !isDigit(line[10]) || !isDigit(line[11]) || len(line) > 12 && line[12] != ' ' {
		return errors.New("malformed status line")
	}
	switch line[7] {
	case '0':
		resp.minor = 0
	case '1':
		resp.minor = 1
	default:
		return errors.New("unsupported HTTP version in status line")
	}
	for _, c := range line[12:] {
		if c < ' ' && c != '\t' || c == 0x7f {
			return errors.New("control character in reason phrase")
		}
	}
	resp.status = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	if resp.status < 100 {
		return errors.New("status code below 100")
	}
	resp.statusLine = line
	if err := resp.parseFields(rest); err != nil {
		return err
	}
	if resp.minor == 0 {
		resp.close = !resp.hasConnToken("keep-alive")
	}
	return nil
}

// parseFields reads header fields up to the final empty line and sets the
// framing and connection properties.
func (m *message) parseFields(b []byte) error {
	var sawTE, sawUpgradeToken bool
	var upgrade []byte
	upgrades := 0
	for {
		line, rest, err := splitLine(b)
		if err != nil {
			return err
		}
		b = rest
		if len(line) == 0 {
			if len(b) != 0 {
				return badRequest("bytes after the end of the head")
			}
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return errObsFold
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return errFieldName
		}
		name := line[:colon]
		for _, c := range name {
			if !isTchar(c) {
				return errFieldName
			}
		}
		value := trimOWS(line[colon+1:])
		for _, c := range value {
			if c < ' ' && c != '\t' || c == 0x7f {
				return errFieldValue
			}
		}
		f := field{name: name, value: value, kind: fieldKind(name)}
		switch f.kind {
		case hContentLength:
			n, ok := parseContentLength(value)
			if !ok || m.contentLength >= 0 && m.contentLength != n {
				return errCL
			}
			m.contentLength = n
		case hTransferEncoding:
			if sawTE || !finalChunked(value) {
				return errTE
			}
			sawTE, m.chunked, m.te = true, true, value
		case hConnection:
			if err := m.addConnTokens(value); err != nil {
				return err
			}
		case hUpgrade:
			upgrades++
			upgrade = value
		}
		m.fields = append(m.fields, f)
	}
	if m.chunked && m.contentLength >= 0 {
		return errCLAndTE
	}
	for _, t := range m.conn {
		switch {
		case asciiEqualFold(t, "close"):
			m.close = true
		case asciiEqualFold(t, "upgrade"):
			sawUpgradeToken = true
		}
	}
	if sawUpgradeToken && upgrades == 1 && len(upgrade) > 0 {
		m.upgrade = upgrade
	}
	return nil
}

// addConnTokens records the tokens of a Connection field.
func (m *message) addConnTokens(v []byte) error {
	for len(v) > 0 {
		var tok []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = trimOWS(v[:i]), v[i+1:]
		} else {
			tok, v = trimOWS(v), nil
		}
		if len(tok) == 0 {
			continue
		}
		for _, c := range tok {
			if !isTchar(c) {
				return errConnToken
			}
		}
		if len(m.conn) >= 32 {
			return errConnToken
		}
		m.conn = append(m.conn, tok)
	}
	return nil
}

func (m *message) hasConnToken(s string) bool {
	for _, t := range m.conn {
		if asciiEqualFold(t, s) {
			return true
		}
	}
	return false
}

// hopByHop reports whether f is dropped when the message is forwarded:
// fields for this hop only, fields the Connection header names, and the
// framing fields, which the proxy writes itself. Framing and Host are
// never removed merely because Connection names them.
func (m *message) hopByHop(f *field) bool {
	switch f.kind {
	case hOther:
		return m.hasConnTokenBytes(f.name)
	case hHost:
		return false // decided by the caller
	}
	return true
}

func (m *message) hasConnTokenBytes(name []byte) bool {
	for _, t := range m.conn {
		if len(t) == len(name) && asciiEqualFoldBytes(t, name) {
			return true
		}
	}
	return false
}

// finalChunked accepts a Transfer-Encoding list whose last coding is
// chunked and which names chunked nowhere else.
func finalChunked(v []byte) bool {
	chunks := 0
	last := false
	for len(v) > 0 || !last {
		var tok []byte
		i := bytes.IndexByte(v, ',')
		if i >= 0 {
			tok, v = trimOWS(v[:i]), v[i+1:]
		} else {
			tok, v, last = trimOWS(v), nil, true
		}
		if len(tok) == 0 {
			return false
		}
		for _, c := range tok {
			if !isTchar(c) {
				return false
			}
		}
		isChunked := asciiEqualFold(tok, "chunked")
		if isChunked {
			chunks++
		}
		if last {
			return isChunked && chunks == 1
		}
	}
	return false
}

// parseContentLength accepts 1 to 18 decimal digits.
func parseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func fieldKind(name []byte) uint8 {
	switch len(name) {
	case 2:
		if asciiEqualFold(name, "te") {
			return hTE
		}
	case 4:
		if asciiEqualFold(name, "host") {
			return hHost
		}
	case 7:
		if asciiEqualFold(name, "upgrade") {
			return hUpgrade
		}
		if asciiEqualFold(name, "trailer") {
			return hTrailer
		}
	case 10:
		if asciiEqualFold(name, "connection") {
			return hConnection
		}
		if asciiEqualFold(name, "keep-alive") {
			return hKeepAlive
		}
	case 14:
		if asciiEqualFold(name, "content-length") {
			return hContentLength
		}
	case 16:
		if asciiEqualFold(name, "proxy-connection") {
			return hProxyConnection
		}
	case 17:
		if asciiEqualFold(name, "transfer-encoding") {
			return hTransferEncoding
		}
	case 18:
		if asciiEqualFold(name, "proxy-authenticate") {
			return hProxyAuthenticate
		}
	case 19:
		if asciiEqualFold(name, "proxy-authorization") {
			return hProxyAuthorization
		}
	}
	return hOther
}

// writeFields writes the end-to-end fields of m (all but Host, hop-by-hop
// and framing fields), then the framing the proxy decided, then the
// upgrade fields when keepUpgrade is set.
func (m *message) writeFields(w *bufio.Writer, keepUpgrade bool) {
	for i := range m.fields {
		f := &m.fields[i]
		if f.kind == hHost || m.hopByHop(f) {
			continue
		}
		w.Write(f.name)
		w.WriteString(": ")
		w.Write(f.value)
		w.WriteString("\r\n")
	}
	if m.chunked {
		w.WriteString("Transfer-Encoding: ")
		w.Write(m.te)
		w.WriteString("\r\n")
	} else if m.contentLength >= 0 {
		var num [20]byte
		w.WriteString("Content-Length: ")
		w.Write(strconv.AppendInt(num[:0], m.contentLength, 10))
		w.WriteString("\r\n")
	}
	if keepUpgrade && m.upgrade != nil {
		w.WriteString("Connection: Upgrade\r\nUpgrade: ")
		w.Write(m.upgrade)
		w.WriteString("\r\n")
	}
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// tchar per RFC 9110 section 5.6.2.
var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isTchar(c byte) bool { return tchar[c] }

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

func asciiEqualFoldBytes(a, b []byte) bool {
	for i := range a {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
