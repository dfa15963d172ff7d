package proxy

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/paddock-sh/paddock/compiler/hostpattern"
)

// maxDeniedHeader bounds the X-Paddock-Denied header.
const maxDeniedHeader = 300

// writeDenied answers a refused destination: 403 (or 502 when the policy
// allowed it but it could not be reached) with a short text an agent can
// act on, naming the destination, the reason and the rule.
func (c *conn) writeDenied(o *outcome) {
	var b strings.Builder
	dst := destText(o)
	if o.status == 502 {
		b.WriteString("Paddock could not reach " + dst + ".\n")
	} else {
		b.WriteString("Paddock denied the connection to " + dst + ".\n")
	}
	b.WriteString("Reason: " + o.reason + "\n")
	if o.rule != "" {
		b.WriteString("Rule: " + o.rule + "\n")
	} else if o.status != 502 {
		b.WriteString("Rule: none; no rule allows it\n")
	}
	status := o.status
	if status == 0 {
		status = 403
	}
	c.writeResponse(status, b.String(), o.reason)
}

// writeError answers a request the proxy refuses for what it is rather
// than where it goes (400, 405, 421, 431, 502, 505).
func (c *conn) writeError(status int, why string) {
	body := "Paddock refused this request: " + why + "\n"
	if status == 502 {
		body = "Paddock could not complete this request: " + why + "\n"
	}
	c.writeResponse(status, body, why)
}

func (c *conn) writeResponse(status int, body, reason string) {
	bw := c.writer()
	bw.WriteString("HTTP/1.1 ")
	bw.WriteString(strconv.Itoa(status))
	bw.WriteByte(' ')
	bw.WriteString(http.StatusText(status))
	bw.WriteString("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ")
	bw.WriteString(strconv.Itoa(len(body)))
	bw.WriteString("\r\nX-Paddock-Denied: ")
	bw.WriteString(headerSafe(reason))
	bw.WriteString("\r\nConnection: close\r\n\r\n")
	bw.WriteString(body)
	bw.Flush()
}

func destText(o *outcome) string {
	if o.host == "" {
		return "the requested destination"
	}
	h := o.host
	if strings.IndexByte(h, ':') >= 0 {
		h = "[" + h + "]"
	}
	if o.port == 0 {
		return h
	}
	return h + ":" + strconv.Itoa(int(o.port))
}

// headerSafe turns a reason into one line of printable ASCII, bounded.
func headerSafe(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < maxDeniedHeader; i++ {
		c := s[i]
		if c < ' ' || c >= 0x7f {
			c = '?'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// canonicalText returns the canonical text of a host, for messages.
func canonicalText(s string) (string, error) {
	h, err := hostpattern.Canonical(s)
	if err != nil {
		return "", err
	}
	return h.String(), nil
}
