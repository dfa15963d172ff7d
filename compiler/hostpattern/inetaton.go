package hostpattern

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// endsInNumber reports whether the last label of a lower-case name looks like
// a number to inet_aton(3): all decimal digits, or "0x" and hex digits.
// Such names are IPv4 addresses or errors, never DNS names.
func endsInNumber(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	if rest, ok := strings.CutPrefix(last, "0x"); ok {
		return allDigits(rest, 16)
	}
	return last != "" && allDigits(last, 10)
}

// parseInetAton decodes the IPv4 spellings inet_aton(3) accepts: one to four
// dot-separated parts, each decimal, octal (leading 0) or hex (leading 0x);
// all parts but the last are one byte, and the last fills the remaining
// bytes. Unlike many C implementations, a part that does not fit is an
// error, not a wrapped value.
func parseInetAton(s string) (netip.Addr, error) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, fmt.Errorf("it has %d parts; an IPv4 address has at most 4", len(parts))
	}
	var n uint32
	for i, part := range parts {
		v, err := parseInetAtonPart(part)
		if err != nil {
			return netip.Addr{}, err
		}
		if i < len(parts)-1 {
			if v > 0xff {
				return netip.Addr{}, fmt.Errorf("part %q is larger than 255", part)
			}
			n |= uint32(v) << (24 - 8*i)
			continue
		}
		// The last part fills the bytes the earlier parts left.
		limit := uint64(1) << (8 * (5 - len(parts)))
		if v >= limit {
			return netip.Addr{}, fmt.Errorf("last part %q is larger than %d", part, limit-1)
		}
		n |= uint32(v)
	}
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), nil
}

func parseInetAtonPart(part string) (uint64, error) {
	if part == "" {
		return 0, errors.New("it has an empty part")
	}
	base, digits := uint64(10), part
	switch {
	case strings.HasPrefix(part, "0x") || strings.HasPrefix(part, "0X"):
		base, digits = 16, part[2:]
		if digits == "" {
			return 0, fmt.Errorf("part %q has no hex digits after 0x", part)
		}
	case len(part) > 1 && part[0] == '0':
		base, digits = 8, part[1:]
	}
	if !allDigits(digits, base) {
		switch base {
		case 8:
			return 0, fmt.Errorf("part %q starts with 0 but is not a valid octal number", part)
		case 16:
			return 0, fmt.Errorf("part %q is not a valid hex number", part)
		}
		return 0, fmt.Errorf("part %q is not a number", part)
	}
	var v uint64
	for i := 0; i < len(digits); i++ {
		v = v*base + digitValue(digits[i])
		if v > 0xffffffff {
			return 0, fmt.Errorf("part %q is larger than 32 bits", part)
		}
	}
	return v, nil
}

// allDigits reports whether every byte of s is a digit in base (10, 8 or 16).
func allDigits(s string, base uint64) bool {
	for i := 0; i < len(s); i++ {
		if digitValue(s[i]) >= base {
			return false
		}
	}
	return true
}

func digitValue(c byte) uint64 {
	switch {
	case '0' <= c && c <= '9':
		return uint64(c - '0')
	case 'a' <= c && c <= 'f':
		return uint64(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return uint64(c-'A') + 10
	}
	return 99 // not a digit in any base
}
