package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/paddock-sh/paddock/compiler/hostpattern"
)

// helloWith builds a ClientHello handshake message with the given
// extensions (type, body).
func helloWith(exts ...[]byte) []byte {
	var body []byte
	body = append(body, 0x03, 0x03)
	body = append(body, make([]byte, 32)...) // random
	body = append(body, 0)                   // session id
	body = append(body, 0, 2, 0x13, 0x01)    // one cipher suite
	body = append(body, 1, 0)                // null compression
	var ext []byte
	for _, e := range exts {
		ext = append(ext, e...)
	}
	if exts != nil {
		body = append(body, byte(len(ext)>>8), byte(len(ext)))
		body = append(body, ext...)
	}
	msg := []byte{handshakeHello, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}
	return append(msg, body...)
}

func extension(typ uint16, body []byte) []byte {
	return append([]byte{byte(typ >> 8), byte(typ), byte(len(body) >> 8), byte(len(body))}, body...)
}

func sniExtension(names ...string) []byte {
	var list []byte
	for _, n := range names {
		list = append(list, serverNameHost, byte(len(n)>>8), byte(len(n)))
		list = append(list, n...)
	}
	return extension(extServerName, append([]byte{byte(len(list) >> 8), byte(len(list))}, list...))
}

func helloWithSNI(name string) []byte {
	return helloWith(sniExtension(name), extension(0x002b, []byte{2, 3, 4}))
}

// clientHelloRecord wraps a handshake message in one TLS record.
func clientHelloRecord(msg []byte) []byte {
	return append([]byte{recordHandshake, 3, 1, byte(len(msg) >> 8), byte(len(msg))}, msg...)
}

// splitRecords wraps msg in records of at most n bytes each.
func splitRecords(msg []byte, n int) []byte {
	var out []byte
	for len(msg) > 0 {
		k := min(n, len(msg))
		out = append(out, recordHandshake, 3, 1, byte(k>>8), byte(k))
		out = append(out, msg[:k]...)
		msg = msg[k:]
	}
	return out
}

func TestClientHello(t *testing.T) {
	cases := []struct {
		name    string
		records []byte
		want    string // "" means no SNI
		wantErr string
	}{
		{"sni", clientHelloRecord(helloWithSNI("allowed.test")), "allowed.test", ""},
		{"sni canonicalised", clientHelloRecord(helloWithSNI("Allowed.TEST.")), "allowed.test", ""},
		{"idn", clientHelloRecord(helloWithSNI("bücher.example")), "xn--bcher-kva.example", ""},
		{"split over records", splitRecords(helloWithSNI("x.wild.test"), 20), "x.wild.test", ""},
		{"no extensions", clientHelloRecord(helloWith()), "", ""},
		{"no sni", clientHelloRecord(helloWith(extension(0x002b, []byte{2, 3, 4}))), "", ""},
		{"ip literal", clientHelloRecord(helloWithSNI("127.0.0.1")), "", "IP address"},
		{"ip literal spelled", clientHelloRecord(helloWithSNI("2130706433")), "", "IP address"},
		{"nul", clientHelloRecord(helloWithSNI("allowed.test\x00.evil")), "", "NUL"},
		{"percent", clientHelloRecord(helloWithSNI("a%2eb")), "", "'%'"},
		{"two names", clientHelloRecord(helloWith(sniExtension("a.test", "b.test"))), "", "more than one"},
		{"two sni extensions", clientHelloRecord(helloWith(sniExtension("a.test"), sniExtension("b.test"))), "", "repeats"},
		{"empty name", clientHelloRecord(helloWith(sniExtension(""))), "", "empty"},
		{"trailing garbage", clientHelloRecord(append(helloWithSNI("a.test"), 0)), "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReader(bytes.NewReader(append(tc.records, "after"...)))
			raw, msg, err := readClientHello(br)
			if err != nil {
				t.Fatalf("readClientHello: %v", err)
			}
			host, ok, err := parseClientHello(msg)
			if tc.name == "trailing garbage" {
				// The message length says where it ends; the extra byte is
				// the next message and is forwarded untouched.
				if err != nil || !ok || host.Name != "a.test" || !bytes.Equal(raw, tc.records) {
					t.Fatalf("%v %v %v", host, ok, err)
				}
				return
			}
			if !bytes.Equal(raw, tc.records) {
				t.Errorf("raw records not returned unchanged")
			}
			if rest, _ := br.Peek(5); string(rest) != "after" {
				t.Errorf("read past the ClientHello: %q", rest)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := host.String(); ok != (tc.want != "") || got != tc.want {
				t.Fatalf("got %q %v, want %q", got, ok, tc.want)
			}
		})
	}
	for _, bad := range [][]byte{
		{0x16, 3, 1, 0, 0},             // empty record
		{0x16, 3, 1, 0x50, 0},          // oversized record
		{0x16, 3, 1, 0, 4, 2, 0, 0, 0}, // ServerHello, not ClientHello
		append(clientHelloRecord(helloWithSNI("a.test"))[:20], 0x17, 3, 3, 0, 1, 0),
		splitRecords(helloWithSNI("a.test"), 2), // more records than any client sends
	} {
		if _, _, err := readClientHello(bufio.NewReader(bytes.NewReader(bad))); err == nil {
			t.Errorf("readClientHello(%x) accepted", bad)
		}
	}
	if _, _, err := readClientHello(bufio.NewReader(strings.NewReader("GET / HTTP/1.1\r\n"))); err != errNotTLS {
		t.Errorf("plain text: %v", err)
	}
}

func FuzzClientHello(f *testing.F) {
	f.Add(clientHelloRecord(helloWithSNI("allowed.test")))
	f.Add(splitRecords(helloWithSNI("a.b.wild.test"), 3))
	f.Add(clientHelloRecord(helloWith()))
	f.Add(clientHelloRecord(helloWith(sniExtension("a.test", "b.test"))))
	f.Add(clientHelloRecord(helloWithSNI("127.1")))
	f.Add(clientHelloRecord(helloWithSNI("ALLOWED.test.")))
	f.Add(clientHelloRecord(helloWithSNI("a\x00b")))
	f.Add([]byte{0x16, 3, 1, 0, 4, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		raw, msg, err := readClientHello(bufio.NewReader(bytes.NewReader(data)))
		if len(raw) > len(data) || !bytes.HasPrefix(data, raw) {
			t.Fatalf("raw %x is not a prefix of the input", raw)
		}
		if err != nil {
			return
		}
		if len(msg) > maxClientHello || msg[0] != handshakeHello {
			t.Fatalf("message of %d bytes, type %d", len(msg), msg[0])
		}
		host, ok, err := parseClientHello(msg)
		if err != nil || !ok {
			if host != (hostpattern.Host{}) {
				t.Fatalf("host %v returned with ok=%v err=%v", host, ok, err)
			}
			return
		}
		// An accepted server name is a canonical DNS name.
		again, err := hostpattern.Canonical(host.String())
		if err != nil || again != host || host.IsIP() || host.Name == "" {
			t.Fatalf("accepted server name %q is not canonical (%v, %v)", host, again, err)
		}
	})
}

func TestSOCKSRequest(t *testing.T) {
	cases := []struct {
		in       []byte
		host     string
		port     uint16
		code     byte
		wantFail bool
	}{
		{[]byte{5, 1, 0, 1, 127, 0, 0, 2, 0, 80}, "127.0.0.2", 80, 0, false},
		{append(append([]byte{5, 1, 0, 3, 12}, "allowed.test"...), 1, 187), "allowed.test", 443, 0, false},
		{[]byte{5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 22}, "::1", 22, 0, false},
		{[]byte{5, 2, 0, 1, 1, 2, 3, 4, 0, 80}, "1.2.3.4", 80, socksCmdUnsupported, true},
		{[]byte{5, 3, 0, 1, 1, 2, 3, 4, 0, 80}, "1.2.3.4", 80, socksCmdUnsupported, true},
		{[]byte{5, 1, 0, 9, 1, 2, 3, 4, 0, 80}, "", 0, socksAddrUnsupport, true},
		{[]byte{5, 1, 1, 1, 1, 2, 3, 4, 0, 80}, "", 0, socksFailure, true},
		{[]byte{4, 1, 0, 1, 1, 2, 3, 4, 0, 80}, "", 0, socksFailure, true},
		{[]byte{5, 1, 0, 3, 0, 0, 80}, "", 0, socksFailure, true},
		{[]byte{5, 1, 0, 3, 10, 'a'}, "", 0, 0, true},
	}
	for _, tc := range cases {
		req, code, err := readSOCKSRequest(bufio.NewReader(bytes.NewReader(tc.in)))
		if (err != nil) != tc.wantFail || code != tc.code || !tc.wantFail && (req.host != tc.host || req.port != tc.port) {
			t.Errorf("%x: %+v code %d err %v", tc.in, req, code, err)
		}
	}
}

func FuzzSOCKSRequest(f *testing.F) {
	f.Add([]byte{5, 1, 0, 1, 127, 0, 0, 2, 0, 80})
	f.Add(append(append([]byte{5, 1, 0, 3, 12}, "allowed.test"...), 1, 187))
	f.Add([]byte{5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1, 0, 22})
	f.Add([]byte{5, 2, 0, 1, 1, 2, 3, 4, 0, 80})
	f.Add([]byte{5, 1, 0, 3, 0})
	f.Add([]byte{5, 1, 0, 3, 4, 'a', 0, '%', '@', 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		req, code, err := readSOCKSRequest(bufio.NewReader(bytes.NewReader(data)))
		if err == nil {
			if code != socksSucceeded || req.cmd != socksConnect || req.host == "" || len(req.host) > 255 {
				t.Fatalf("accepted %+v code %d", req, code)
			}
			// Whatever the request holds, the host goes through Canonical
			// before anything else; it must not panic and must be stable.
			if h, err := hostpattern.Canonical(req.host); err == nil {
				if again, err := hostpattern.Canonical(h.String()); err != nil || again != h {
					t.Fatalf("canonical %q not stable", h)
				}
			}
		} else if code == socksSucceeded && err != io.EOF && err != io.ErrUnexpectedEOF {
			t.Fatalf("error %v without a reply code", err)
		}
		readSOCKSGreeting(bufio.NewReader(bytes.NewReader(data)))
	})
}

// Request heads for the parser tests and the fuzz corpus.
var headSeeds = []string{
	"GET http://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\n\r\n",
	"GET / HTTP/1.0\r\n\r\n",
	"POST http://a.test/x HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\n",
	"POST http://a.test/x HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
	"GET / HTTP/1.1\nHost: a\n\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: \x00\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
	"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /\r\nHost: a\r\n\r\n",
	"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
	"CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n",
}

// TestParseRequest checks the strict reader on the framing shapes that
// let a message be read two ways.
func TestParseRequest(t *testing.T) {
	cases := []struct {
		head   string
		status int // 0: accepted
	}{
		{headSeeds[0], 0},
		{headSeeds[1], 0},
		{headSeeds[2], 0},
		{headSeeds[3], 0},
		{headSeeds[4], 0},    // identical duplicates are one length
		{headSeeds[5], 400},  // differing duplicates
		{headSeeds[6], 400},  // both framings
		{headSeeds[7], 400},  // chunked not last
		{headSeeds[8], 400},  // two Transfer-Encoding fields
		{headSeeds[9], 400},  // space before the colon
		{headSeeds[10], 400}, // obs-fold
		{headSeeds[11], 400}, // bare CR
		{headSeeds[12], 400}, // bare LF
		{headSeeds[13], 400}, // NUL
		{headSeeds[14], 0},
		{headSeeds[15], 0},
		{headSeeds[16], 0},   // leading empty lines are skipped by readHead
		{headSeeds[17], 400}, // invalid method
		{headSeeds[18], 400}, // no version
		{headSeeds[19], 400}, // double space
		{headSeeds[20], 400}, // two Host fields
		{headSeeds[21], 0},
		{"GET / HTTP/1.1\r\n\r\n", 400}, // HTTP/1.1 needs Host
		{"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,1\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: a\r\nX\x01: 1\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: a\r\nX: \x7f\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n", 400},
		{"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"GET /# HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505},
		{"GET / HTTPS/1.1\r\nHost: a\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n", 400}, // no empty line: readHead never returns such a head
	}
	for _, tc := range cases {
		var req request
		status := 0
		head, err := readHead(bufio.NewReader(strings.NewReader(tc.head)), nil, true)
		if err == nil {
			err = parseRequest(head, &req)
		}
		if err != nil {
			var he *httpError
			if !errors.As(err, &he) {
				status = 400 // an incomplete head: the connection just ends
			} else {
				status = he.status
			}
		}
		if status != tc.status {
			t.Errorf("%q: status %d (%v), want %d", tc.head, status, err, tc.status)
		}
	}

	// Oversized heads are refused without reading them whole.
	big := "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("a", maxHeadBytes) + "\r\n\r\n"
	if _, err := readHead(bufio.NewReader(strings.NewReader(big)), nil, true); err != errHeadTooLarge {
		t.Errorf("oversized head: %v", err)
	}
	many := "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: 1\r\n", maxHeadLines+1) + "\r\n"
	if _, err := readHead(bufio.NewReader(strings.NewReader(many)), nil, true); err != errHeadTooLarge {
		t.Errorf("too many lines: %v", err)
	}

	// Hop-by-hop fields and fields Connection names are not forwarded;
	// framing is re-written once.
	var req request
	head := "POST / HTTP/1.1\r\nHost: a\r\nConnection: X-Secret, keep-alive, Content-Length\r\nX-Secret: 1\r\nKeep-Alive: 5\r\n" +
		"Proxy-Authorization: Basic eA==\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: X\r\nUpgrade: h2c\r\n" +
		"Content-Length: 3\r\nContent-Length: 3\r\nX-Kept: yes\r\n\r\n"
	if err := parseRequest([]byte(head), &req); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	req.writeFields(bw, true)
	bw.Flush()
	if got, want := out.String(), "X-Kept: yes\r\nContent-Length: 3\r\n"; got != want {
		t.Errorf("forwarded fields %q, want %q", got, want)
	}
}

func FuzzRequestHead(f *testing.F) {
	for _, s := range headSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// An empty line after the input lets most inputs reach the parser.
		data = append(data[:len(data):len(data)], "\r\n\r\n"...)
		head, err := readHead(bufio.NewReader(bytes.NewReader(data)), nil, true)
		if err != nil {
			return
		}
		if len(head) > maxHeadBytes {
			t.Fatalf("head of %d bytes accepted", len(head))
		}
		var req request
		if err := parseRequest(head, &req); err != nil {
			var he *httpError
			if !errors.As(err, &he) || he.status < 400 || he.status > 599 {
				t.Fatalf("parseRequest error %v is not an HTTP refusal", err)
			}
			return
		}
		// Invariants of an accepted head.
		if req.chunked && req.contentLength >= 0 {
			t.Fatal("both framings accepted")
		}
		if req.minor == 1 && req.host == nil {
			t.Fatal("HTTP/1.1 without Host accepted")
		}
		for _, c := range string(req.method) + string(req.target) {
			if c <= ' ' || c >= 0x7f {
				t.Fatalf("control or space in request line: %q %q", req.method, req.target)
			}
		}
		// What the proxy forwards reads back the same way: no field can
		// change meaning between the proxy and the upstream.
		var out bytes.Buffer
		bw := bufio.NewWriter(&out)
		bw.Write(req.method)
		bw.WriteString(" /x HTTP/1.1\r\nHost: h\r\n")
		req.writeFields(bw, req.upgrade != nil)
		bw.WriteString("\r\n")
		bw.Flush()
		var again request
		if err := parseRequest(out.Bytes(), &again); err != nil {
			t.Fatalf("forwarded head %q does not parse: %v", out.Bytes(), err)
		}
		if again.chunked != req.chunked || again.contentLength != req.contentLength || string(again.method) != string(req.method) {
			t.Fatalf("framing changed: %+v -> %+v", req.message, again.message)
		}
		for _, fl := range again.fields {
			switch fl.kind {
			case hHost, hContentLength, hTransferEncoding, hUpgrade, hConnection, hOther:
			default:
				t.Fatalf("hop-by-hop field %q forwarded", fl.name)
			}
		}
	})
}

// Response heads and chunked bodies, the other half of the reader.
func FuzzChunked(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"))
	f.Add([]byte("5;ext=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"))
	f.Add([]byte("5\nhello\r\n0\r\n\r\n"))
	f.Add([]byte("fffffffffffffffff\r\n"))
	f.Add([]byte("0x5\r\nhello\r\n0\r\n\r\n"))
	f.Add([]byte("5 \r\nhello\r\n0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		bw := bufio.NewWriter(&out)
		br := bufio.NewReader(bytes.NewReader(data))
		if err := copyChunked(bw, br); err != nil {
			return
		}
		bw.Flush()
		// The re-written body is itself a valid chunked body with the
		// same content, and copying it again changes nothing.
		var again bytes.Buffer
		bw2 := bufio.NewWriter(&again)
		if err := copyChunked(bw2, bufio.NewReader(bytes.NewReader(out.Bytes()))); err != nil {
			t.Fatalf("re-written body %q does not parse: %v", out.Bytes(), err)
		}
		bw2.Flush()
		if !bytes.Equal(out.Bytes(), again.Bytes()) {
			t.Fatalf("re-writing is not stable: %q -> %q", out.Bytes(), again.Bytes())
		}
	})
}

func FuzzResponseHead(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 204\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		head, err := readHead(bufio.NewReader(bytes.NewReader(data)), nil, false)
		if err != nil {
			return
		}
		var resp response
		if err := parseResponse(head, &resp); err != nil {
			return
		}
		if resp.status < 100 || resp.status > 999 || resp.chunked && resp.contentLength >= 0 {
			t.Fatalf("accepted %+v", resp)
		}
		var out bytes.Buffer
		bw := bufio.NewWriter(&out)
		writeResponseHead(bw, &resp, true, false)
		bw.Flush()
		var again response
		if err := parseResponse(out.Bytes(), &again); err != nil {
			t.Fatalf("forwarded head %q does not parse: %v", out.Bytes(), err)
		}
		if again.status != resp.status || again.chunked != resp.chunked || again.contentLength != resp.contentLength || !again.close {
			t.Fatalf("forwarded head changed meaning: %q", out.Bytes())
		}
	})
}

func TestLooksLikeHTTP(t *testing.T) {
	for in, want := range map[string]bool{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n":          true,
		"GET / HTTP/1.1\n":                           true, // refused later as a bare LF
		"OPTIONS * HTTP/1.0\r\n":                     true,
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n":           true, // refused later with 505
		"GET /" + strings.Repeat("a", 9000) + " HTT": true, // too long to see the end: HTTP
		"GET /partial":                               true, // cut short: HTTP, the reader refuses it
		"SSH-2.0-OpenSSH_9.6 Debian-1\r\n":           false,
		"\x16\x03\x01":                               false,
		" GET / HTTP/1.1\r\n":                        false,
		"GET\t/ HTTP/1.1\r\n":                        false,
		"EHLO example.com\r\n":                       false,
		"":                                           false,
	} {
		br := bufio.NewReaderSize(strings.NewReader(in), 4096)
		if got := looksLikeHTTP(br); got != want {
			t.Errorf("looksLikeHTTP(%.40q) = %v, want %v", in, got, want)
		}
		if br.Buffered() > 0 {
			if b, _ := br.Peek(1); b[0] != in[0] {
				t.Errorf("looksLikeHTTP consumed input")
			}
		}
	}
}
