package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
)

// SOCKS5 (RFC 1928), CONNECT only, without authentication: the proxy
// knows its client from the kernel, not from a password.
const (
	socksVersion   = 0x05
	socksNoAuth    = 0x00
	socksNoMethods = 0xff
	socksConnect   = 0x01
	atypIPv4       = 0x01
	atypDomain     = 0x03
	atypIPv6       = 0x04
)

// socksRequest is a parsed SOCKS5 request.
type socksRequest struct {
	cmd  byte
	host string // an IP address in text form, or the domain name as sent
	port uint16
}

// readSOCKSGreeting reads the version/method-selection message and reports
// whether the client offers "no authentication".
func readSOCKSGreeting(br *bufio.Reader) (bool, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return false, err
	}
	if hdr[0] != socksVersion {
		return false, fmt.Errorf("SOCKS version %d", hdr[0])
	}
	if hdr[1] == 0 {
		return false, errors.New("SOCKS5 greeting offers no methods")
	}
	var methods [255]byte
	if _, err := io.ReadFull(br, methods[:hdr[1]]); err != nil {
		return false, err
	}
	for _, m := range methods[:hdr[1]] {
		if m == socksNoAuth {
			return true, nil
		}
	}
	return false, nil
}

// readSOCKSRequest reads one request. On error, code is the reply to send
// (0 when the stream is unusable and no reply is possible).
func readSOCKSRequest(br *bufio.Reader) (req socksRequest, code byte, err error) {
	var hdr [4]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return req, 0, err
	}
	if hdr[0] != socksVersion {
		return req, socksFailure, fmt.Errorf("SOCKS request version %d", hdr[0])
	}
	if hdr[2] != 0 {
		return req, socksFailure, errors.New("SOCKS request reserved byte is not zero")
	}
	req.cmd = hdr[1]
	switch hdr[3] {
	case atypIPv4:
		var a [4]byte
		if _, err := io.ReadFull(br, a[:]); err != nil {
			return req, 0, err
		}
		req.host = netip.AddrFrom4(a).String()
	case atypIPv6:
		var a [16]byte
		if _, err := io.ReadFull(br, a[:]); err != nil {
			return req, 0, err
		}
		req.host = netip.AddrFrom16(a).String()
	case atypDomain:
		n, err := br.ReadByte()
		if err != nil {
			return req, 0, err
		}
		if n == 0 {
			return req, socksFailure, errors.New("SOCKS request with an empty domain name")
		}
		var name [255]byte
		if _, err := io.ReadFull(br, name[:n]); err != nil {
			return req, 0, err
		}
		req.host = string(name[:n])
	default:
		return req, socksAddrUnsupport, fmt.Errorf("SOCKS address type %d is not supported", hdr[3])
	}
	var p [2]byte
	if _, err := io.ReadFull(br, p[:]); err != nil {
		return req, 0, err
	}
	req.port = uint16(p[0])<<8 | uint16(p[1])
	if req.cmd != socksConnect {
		return req, socksCmdUnsupported, fmt.Errorf("SOCKS command %d is not supported (only CONNECT)", req.cmd)
	}
	return req, socksSucceeded, nil
}

// socks serves a SOCKS5 client. The header deadline is set.
func (c *conn) socks() {
	bw := c.writer()
	ok, err := readSOCKSGreeting(c.br)
	if err != nil {
		c.emitDecision("socks5", nil, &outcome{reason: fmt.Sprintf("malformed SOCKS5 greeting refused: %v", err)})
		return
	}
	if !ok {
		bw.Write([]byte{socksVersion, socksNoMethods})
		bw.Flush()
		c.emitDecision("socks5", nil, &outcome{reason: "the SOCKS5 client offers no method without authentication; refused"})
		return
	}
	bw.Write([]byte{socksVersion, socksNoAuth})
	if bw.Flush() != nil {
		return
	}
	req, code, err := readSOCKSRequest(c.br)
	if err != nil {
		if code != socksSucceeded {
			c.socksReply(code)
		}
		o := &outcome{reason: fmt.Sprintf("SOCKS5 request refused: %v", err)}
		if req.cmd != socksConnect && code == socksCmdUnsupported {
			if h, err := canonicalText(req.host); err == nil {
				o.host = h
			}
			o.port = req.port
		}
		c.emitDecision("socks5", nil, o)
		return
	}
	d, o := c.check("socks5", req.host, req.port)
	if o != nil {
		c.socksReply(o.socks)
		c.emitDecision("socks5", nil, o)
		return
	}
	up, o := c.p.dial(d)
	c.emitDecision("socks5", up, o.orAllow(d))
	if up == nil {
		c.socksReply(o.socks)
		return
	}
	if !c.socksReply(socksSucceeded) {
		up.close()
		return
	}
	c.tunnelChecked(up, d, "socks5")
}

// socksReply sends a reply with an unspecified bound address: the
// upstream socket's address is nothing the sandbox needs to know.
func (c *conn) socksReply(code byte) bool {
	bw := c.writer()
	bw.Write([]byte{socksVersion, code, 0, atypIPv4, 0, 0, 0, 0, 0, 0})
	return bw.Flush() == nil
}
