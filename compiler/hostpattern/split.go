package hostpattern

import (
	"errors"
	"fmt"
	"strings"
)

// SplitHostPort splits "host", "host:port", "[v6]" or "[v6]:port" into the
// host (brackets removed, not yet canonical) and the port, 0 when absent.
//
// Unbracketed text with two or more colons is a bare IPv6 address and has no
// port: "2001:db8::1:443" is the address 2001:db8::1:443. The port is
// decimal, 1 to 65535, without sign or leading zero.
func SplitHostPort(s string) (host string, port uint16, err error) {
	host, portText, hasPort, err := splitPort(s)
	if err != nil {
		return "", 0, err
	}
	if hasPort {
		port, err = parsePort(portText)
		if err != nil {
			return "", 0, err
		}
	}
	return host, port, nil
}

// splitPort separates the host from the text after the port colon, without
// judging either.
func splitPort(s string) (host, port string, hasPort bool, err error) {
	if s == "" {
		return "", "", false, errors.New("empty host")
	}
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", false, fmt.Errorf("%q has '[' without a closing ']'", s)
		}
		host, rest := s[1:end], s[end+1:]
		if strings.IndexByte(host, ':') < 0 {
			return "", "", false, fmt.Errorf("%q: brackets are only for IPv6 addresses", s)
		}
		if strings.IndexByte(host, '[') >= 0 {
			return "", "", false, fmt.Errorf("%q has nested '['", s)
		}
		if rest == "" {
			return host, "", false, nil
		}
		if rest[0] != ':' {
			return "", "", false, fmt.Errorf("%q has %q after ']'; expected \":port\"", s, rest)
		}
		return host, rest[1:], true, nil
	}
	switch strings.Count(s, ":") {
	case 0:
		return s, "", false, nil
	case 1:
		host, port, _ := strings.Cut(s, ":")
		if host == "" {
			return "", "", false, fmt.Errorf("%q has a port but no host", s)
		}
		return host, port, true, nil
	default:
		return s, "", false, nil // a bare IPv6 address
	}
}

// parsePort accepts exactly the decimal spellings of 1..65535.
func parsePort(text string) (uint16, error) {
	if text == "" {
		return 0, errors.New("empty port after ':'")
	}
	if !allDigits(text, 10) {
		return 0, fmt.Errorf("port %q is not a decimal number", text)
	}
	if len(text) > 5 {
		return 0, fmt.Errorf("port %q is out of range 1-65535", text)
	}
	if text == "0" {
		return 0, errors.New("port 0 is not a valid port")
	}
	if text[0] == '0' {
		return 0, fmt.Errorf("port %q has a leading zero", text)
	}
	var n uint32
	for i := 0; i < len(text); i++ {
		n = n*10 + uint32(text[i]-'0')
	}
	if n > 65535 {
		return 0, fmt.Errorf("port %q is out of range 1-65535", text)
	}
	return uint16(n), nil
}
