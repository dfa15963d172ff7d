package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"time"
)

// What a client's first bytes are.
type firstBytes int

const (
	sniffClosed firstBytes = iota // the client went away or failed
	sniffSilent                   // nothing within SniffTimeout: the server speaks first
	sniffTLS                      // a TLS handshake record
	sniffHTTP                     // an HTTP/1.x request line
	sniffOther                    // anything else
)

// sniff waits up to SniffTimeout for the client's first byte and, once it
// has come, up to HeaderTimeout for enough bytes to classify the stream.
// It consumes nothing.
func (c *conn) sniff() firstBytes {
	cfg := &c.p.cfg
	c.c.SetReadDeadline(time.Now().Add(cfg.SniffTimeout))
	b, err := c.br.Peek(1)
	if err != nil {
		if isTimeout(err) {
			return sniffSilent
		}
		return sniffClosed
	}
	c.c.SetReadDeadline(time.Now().Add(cfg.HeaderTimeout))
	switch {
	case b[0] == recordHandshake:
		return sniffTLS
	case looksLikeHTTP(c.br):
		return sniffHTTP
	}
	return sniffOther
}

// looksLikeHTTP reports whether br starts with an HTTP/1.x request line:
// a method token, a space, and a line ending in "HTTP/d.d". A line that
// starts like a request but is longer than the buffer, or is cut short by
// the deadline, counts as HTTP: the strict reader then refuses it, rather
// than letting it bypass the per-request checks. "SSH-2.0-OpenSSH_9.6 x"
// and other protocols' greetings do not end in an HTTP version.
func looksLikeHTTP(br *bufio.Reader) bool {
	for n := 0; ; n++ {
		b, err := br.Peek(n + 1)
		if err != nil {
			return false
		}
		if b[n] == ' ' && n > 0 {
			break
		}
		if !isTchar(b[n]) || n >= maxMethodLen {
			return false
		}
	}
	for {
		b, _ := br.Peek(br.Buffered())
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line := bytes.TrimSuffix(b[:i], []byte{'\r'})
			v := line[bytes.LastIndexByte(line, ' ')+1:]
			return len(v) == 8 && string(v[:5]) == "HTTP/" && isDigit(v[5]) && v[6] == '.' && isDigit(v[7])
		}
		if len(b) >= br.Size() {
			return true
		}
		if _, err := br.Peek(len(b) + 1); err != nil {
			return true
		}
	}
}

// tunnelChecked serves the client's stream after a CONNECT or SOCKS5
// request to the checked destination d, to which up is connected. A TLS
// ClientHello must name d's host (when it names any); plain HTTP is served
// request by request, each Host held to d; anything else, or a client
// that waits for the server, is tunnelled as it is.
func (c *conn) tunnelChecked(up *upstream, d *dest, op string) {
	switch c.sniff() {
	case sniffClosed:
		up.close()
	case sniffTLS:
		raw, ok := c.checkTunnelTLS(up, d, op)
		if !ok {
			up.close()
			return
		}
		if c.terminates(d) {
			c.terminate(up, d, raw)
			return
		}
		c.tunnel(up, raw)
	case sniffHTTP:
		h := newHTTPConn(c, true, d.port)
		h.dest, h.up = d, up
		defer h.close()
		h.serve(true)
	default:
		c.tunnel(up, nil)
	}
}

// checkTunnelTLS reads the ClientHello at the start of a tunnel to d and
// returns its raw records, to be sent upstream first. It reports false,
// with an event, when the server name differs from d's host or the
// ClientHello is refused.
func (c *conn) checkTunnelTLS(up *upstream, d *dest, op string) ([]byte, bool) {
	raw, msg, err := readClientHello(c.br)
	if err == errNotTLS {
		return nil, true
	}
	deny := func(reason string) ([]byte, bool) {
		o := d.allow
		o.allowed, o.rule, o.reason = false, "", reason
		c.emitDecision("tls", up, &o)
		return nil, false
	}
	if err != nil {
		return deny(fmt.Sprintf("unreadable TLS ClientHello in a %s to %s:%d (%v); closed", op, d.host, d.port, err))
	}
	host, ok, err := parseClientHello(msg)
	if err != nil {
		return deny(fmt.Sprintf("refused TLS ClientHello in a %s to %s:%d: %v; closed", op, d.host, d.port, err))
	}
	if ok && host != d.host {
		return deny(fmt.Sprintf("TLS server name %s differs from the checked destination %s; closed (a 421 cannot be sent inside TLS)", host, d.host))
	}
	return raw, true
}

// tunnel joins the client and up in both directions until both are done,
// then closes up. pre holds client bytes the proxy consumed while
// deciding; they are sent upstream first.
//
// Bytes still buffered on either side are written first; after that the
// copies run between the raw connections, so that io.Copy can splice.
func (c *conn) tunnel(up *upstream, pre []byte) {
	defer up.close()
	c.c.SetDeadline(time.Time{})
	up.c.SetDeadline(time.Time{})

	down := make(chan struct{})
	go func() {
		defer close(down)
		if up.br != nil && up.br.Buffered() > 0 {
			b, _ := up.br.Peek(up.br.Buffered())
			if _, err := c.c.Write(b); err != nil {
				c.c.Close()
				up.c.Close()
				return
			}
		}
		if _, err := io.Copy(c.c, up.c); err != nil {
			c.c.Close()
			up.c.Close()
			return
		}
		closeWrite(c.c)
	}()
	defer func() { <-down }()

	if len(pre) > 0 {
		if _, err := up.c.Write(pre); err != nil {
			c.c.Close()
			return
		}
	}
	if n := c.br.Buffered(); n > 0 {
		b, _ := c.br.Peek(n)
		if _, err := up.c.Write(b); err != nil {
			c.c.Close()
			return
		}
	}
	c.release()
	if _, err := io.Copy(up.c, c.c); err != nil {
		c.c.Close()
		up.c.Close()
		return
	}
	closeWrite(up.c)
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	c.Close()
}
