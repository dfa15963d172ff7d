package proxy

import (
	"fmt"
	"io"
	"net"
	"time"
)

// tunnel joins the client and up in both directions until both are done,
// then closes up. pre holds client bytes the proxy consumed while
// deciding; they are sent upstream first. When check is set (CONNECT and
// SOCKS5), a TLS ClientHello at the start of the client's stream must
// name check's host, else both connections are closed.
//
// Bytes still buffered on either side are written first; after that the
// copies run between the raw connections, so that io.Copy can splice.
func (c *conn) tunnel(up *upstream, pre []byte, check *dest, op string) {
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

	if check != nil && !c.checkTunnelTLS(up, check, op) {
		c.c.Close()
		up.c.Close()
		return
	}
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

// checkTunnelTLS waits for the client's first bytes in a tunnel to a
// checked destination. If they start a TLS handshake, the ClientHello is
// read (and kept in pre position by writing it upstream) and its server
// name, when present, must equal the checked host.
func (c *conn) checkTunnelTLS(up *upstream, d *dest, op string) bool {
	b, err := c.br.Peek(1)
	if err != nil || b[0] != recordHandshake {
		return err == nil
	}
	c.c.SetReadDeadline(time.Now().Add(c.p.cfg.HeaderTimeout))
	defer c.c.SetReadDeadline(time.Time{})
	raw, msg, err := readClientHello(c.br)
	if err == errNotTLS {
		return true
	}
	deny := func(reason string) bool {
		o := d.allow
		o.allowed, o.rule, o.reason = false, "", reason
		c.emitDecision("tls", up, &o)
		return false
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
	if _, err := up.c.Write(raw); err != nil {
		return false
	}
	return true
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	c.Close()
}
