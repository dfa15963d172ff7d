package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/paddock-sh/paddock/compiler/hostpattern"
)

// TLS record and handshake constants used to find the server name.
const (
	recordHeaderLen   = 5
	recordHandshake   = 0x16
	maxRecordPayload  = 1<<14 + 256 // TLSPlaintext may not exceed 2^14; allow the ciphertext slack
	handshakeHello    = 0x01
	maxClientHello    = 64 << 10 // a real ClientHello is a few KiB even with post-quantum key shares
	extServerName     = 0x0000
	serverNameHost    = 0x00
	maxHelloRecords   = 8
	helloFixedPrefix  = 2 + 32 // legacy_version, random
	maxSessionIDBytes = 32
)

// errNotTLS means the bytes do not start a TLS handshake.
var errNotTLS = errors.New("not a TLS handshake")

// readClientHello consumes the TLS records that carry the first handshake
// message from br and returns them unchanged (raw, to be forwarded) along
// with the reassembled ClientHello message (type and length included).
// It reads no further than the end of the record that completes the
// message, and at most maxClientHello bytes of message.
func readClientHello(br *bufio.Reader) (raw, msg []byte, err error) {
	for records := 0; ; records++ {
		if records == maxHelloRecords {
			return raw, nil, errors.New("ClientHello spread over too many records")
		}
		hdr, err := br.Peek(recordHeaderLen)
		if err != nil {
			if records > 0 && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return raw, nil, err
		}
		if hdr[0] != recordHandshake || hdr[1] != 0x03 {
			if records == 0 {
				return nil, nil, errNotTLS
			}
			return raw, nil, errors.New("a non-handshake record interrupts the ClientHello")
		}
		n := int(hdr[3])<<8 | int(hdr[4])
		if n == 0 || n > maxRecordPayload {
			return raw, nil, fmt.Errorf("TLS record length %d is out of range", n)
		}
		start := len(raw)
		raw = append(raw, hdr...)
		if _, err := br.Discard(recordHeaderLen); err != nil {
			return raw, nil, err
		}
		raw = append(raw, make([]byte, n)...)
		if k, err := io.ReadFull(br, raw[start+recordHeaderLen:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return raw[:start+recordHeaderLen+k], nil, err
		}
		msg = append(msg, raw[start+recordHeaderLen:]...)
		if len(msg) >= 4 {
			if msg[0] != handshakeHello {
				return raw, nil, fmt.Errorf("first handshake message has type %d, not ClientHello", msg[0])
			}
			total := 4 + (int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3]))
			if total > maxClientHello {
				return raw, nil, fmt.Errorf("ClientHello of %d bytes is too large", total)
			}
			if len(msg) >= total {
				// Bytes after the message in the same record belong to
				// the next handshake message; a client sends none before
				// the server answers, but they are forwarded untouched.
				return raw, msg[:total], nil
			}
		}
	}
}

// parseClientHello returns the server name of a ClientHello message (type
// and length included), canonical, or ok false when it carries none. A
// malformed message, a server_name extension that is malformed or holds
// more than one host name, a duplicated extension, a name that Canonical
// rejects, and an IP literal (RFC 6066 forbids them) are errors.
func parseClientHello(msg []byte) (host hostpattern.Host, ok bool, err error) {
	s := cursor(msg)
	typ, _ := s.u8()
	length, okLen := s.u24()
	if typ != handshakeHello || !okLen || int(length) != len(s) {
		return host, false, errors.New("malformed ClientHello header")
	}
	if !s.skip(helloFixedPrefix) {
		return host, false, errors.New("ClientHello too short")
	}
	sid, okSID := s.vec8()
	if !okSID || len(sid) > maxSessionIDBytes {
		return host, false, errors.New("malformed ClientHello session id")
	}
	suites, okSuites := s.vec16()
	if !okSuites || len(suites) < 2 || len(suites)%2 != 0 {
		return host, false, errors.New("malformed ClientHello cipher suites")
	}
	comp, okComp := s.vec8()
	if !okComp || len(comp) < 1 {
		return host, false, errors.New("malformed ClientHello compression methods")
	}
	if len(s) == 0 {
		return host, false, nil // no extensions at all
	}
	exts, okExts := s.vec16()
	if !okExts || len(s) != 0 {
		return host, false, errors.New("malformed ClientHello extensions")
	}
	var seen [64]uint64 // one bit per extension type below 4096, enough to catch repeats of all assigned types
	var name []byte
	for len(exts) > 0 {
		typ, ok1 := exts.u16()
		body, ok2 := exts.vec16()
		if !ok1 || !ok2 {
			return host, false, errors.New("malformed ClientHello extension")
		}
		if typ < 4096 {
			if seen[typ/64]&(1<<(typ%64)) != 0 {
				return host, false, fmt.Errorf("ClientHello repeats extension %d", typ)
			}
			seen[typ/64] |= 1 << (typ % 64)
		}
		if typ != extServerName {
			continue
		}
		name, err = parseServerName(body)
		if err != nil {
			return host, false, err
		}
	}
	if name == nil {
		return host, false, nil
	}
	host, err = hostpattern.Canonical(string(name))
	if err != nil {
		return hostpattern.Host{}, false, fmt.Errorf("TLS server name: %v", err)
	}
	if host.IsIP() {
		return hostpattern.Host{}, false, fmt.Errorf("TLS server name %s is an IP address, which RFC 6066 forbids", host)
	}
	return host, true, nil
}

// parseServerName reads a server_name extension body and returns its one
// host_name.
func parseServerName(body cursor) ([]byte, error) {
	list, ok := body.vec16()
	if !ok || len(body) != 0 || len(list) == 0 {
		return nil, errors.New("malformed server_name extension")
	}
	var name []byte
	for len(list) > 0 {
		typ, ok1 := list.u8()
		n, ok2 := list.vec16()
		if !ok1 || !ok2 {
			return nil, errors.New("malformed server_name entry")
		}
		if typ != serverNameHost {
			continue
		}
		if name != nil {
			return nil, errors.New("server_name holds more than one host name")
		}
		if len(n) == 0 {
			return nil, errors.New("server_name holds an empty host name")
		}
		name = n
	}
	if name == nil {
		return nil, errors.New("server_name holds no host name")
	}
	return name, nil
}

// cursor reads big-endian TLS fields from a byte slice.
type cursor []byte

func (c *cursor) u8() (uint8, bool) {
	if len(*c) < 1 {
		return 0, false
	}
	v := (*c)[0]
	*c = (*c)[1:]
	return v, true
}

func (c *cursor) u16() (uint16, bool) {
	if len(*c) < 2 {
		return 0, false
	}
	v := uint16((*c)[0])<<8 | uint16((*c)[1])
	*c = (*c)[2:]
	return v, true
}

func (c *cursor) u24() (uint32, bool) {
	if len(*c) < 3 {
		return 0, false
	}
	v := uint32((*c)[0])<<16 | uint32((*c)[1])<<8 | uint32((*c)[2])
	*c = (*c)[3:]
	return v, true
}

func (c *cursor) skip(n int) bool {
	if len(*c) < n {
		return false
	}
	*c = (*c)[n:]
	return true
}

func (c *cursor) vec8() (cursor, bool) {
	n, ok := c.u8()
	if !ok || len(*c) < int(n) {
		return nil, false
	}
	v := (*c)[:n:n]
	*c = (*c)[n:]
	return v, true
}

func (c *cursor) vec16() (cursor, bool) {
	n, ok := c.u16()
	if !ok || len(*c) < int(n) {
		return nil, false
	}
	v := (*c)[:n:n]
	*c = (*c)[n:]
	return v, true
}
