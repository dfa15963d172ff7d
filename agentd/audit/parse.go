package audit

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ErrUnknownType is returned by ParseRecord for record types it does not
// decode.
var ErrUnknownType = errors.New("audit: record type not decoded")

// ParseRecord decodes the payload of one audit netlink message of type typ
// (the text after the netlink header, "audit(...): key=value ..."). It is a
// pure function: it never looks at the system.
func ParseRecord(typ uint16, data []byte) (Record, error) {
	switch typ {
	case TypeSeccomp, TypeLandlockAccess, TypeLandlockDomain, TypeSyscall, TypeEOE:
	default:
		return nil, ErrUnknownType
	}
	st, rest, err := ParseStamp(data)
	if err != nil {
		return nil, err
	}
	fs := splitFields(rest)
	switch typ {
	case TypeSeccomp:
		return parseSeccomp(st, fs)
	case TypeLandlockAccess:
		return parseLandlockAccess(st, fs)
	case TypeLandlockDomain:
		return parseLandlockDomain(st, fs)
	case TypeSyscall:
		return parseContext(st, fs)
	default:
		return &EndOfEvent{Stamp: st}, nil
	}
}

// ParseStamp reads the "audit(SECONDS.MILLIS:SERIAL): " prefix of a record
// and returns it with the rest of the record.
func ParseStamp(data []byte) (Stamp, []byte, error) {
	data = bytes.TrimRight(data, "\x00")
	rest, ok := bytes.CutPrefix(data, []byte("audit("))
	if !ok {
		return Stamp{}, nil, errors.New("audit: record does not start with audit(")
	}
	end := bytes.IndexByte(rest, ')')
	if end < 0 {
		return Stamp{}, nil, errors.New("audit: unterminated audit( stamp")
	}
	stamp := string(rest[:end])
	rest = rest[end+1:]
	rest, ok = bytes.CutPrefix(rest, []byte(":"))
	if !ok {
		return Stamp{}, nil, fmt.Errorf("audit: no colon after audit(%s)", stamp)
	}
	when, serial, ok := strings.Cut(stamp, ":")
	if !ok {
		return Stamp{}, nil, fmt.Errorf("audit: stamp %q has no serial", stamp)
	}
	n, err := strconv.ParseUint(serial, 10, 64)
	if err != nil {
		return Stamp{}, nil, fmt.Errorf("audit: stamp %q: bad serial", stamp)
	}
	sec, frac, _ := strings.Cut(when, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil || s < 0 || len(frac) > 9 {
		return Stamp{}, nil, fmt.Errorf("audit: stamp %q: bad time", stamp)
	}
	var ns int64
	if frac != "" {
		f, err := strconv.ParseUint(frac, 10, 32)
		if err != nil {
			return Stamp{}, nil, fmt.Errorf("audit: stamp %q: bad time", stamp)
		}
		ns = int64(f)
		for i := len(frac); i < 9; i++ {
			ns *= 10
		}
	}
	return Stamp{Time: time.Unix(s, ns), Serial: n}, rest, nil
}

// field is one key=value of a record. Quoted values ("..." or '...') come
// without their quotes.
type field struct {
	key, val string
	quoted   bool
}

// splitFields splits the body of a record into its key=value fields.
// Values are "quoted" (audit never puts a quote, a space or a control
// character inside), 'single quoted' (user messages), or run to the next
// space. Words without '=' are skipped.
func splitFields(b []byte) []field {
	var fs []field
	s := string(b)
	for {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			return fs
		}
		eq := strings.IndexAny(s, "= ")
		if eq < 0 {
			return fs
		}
		if s[eq] == ' ' { // a bare word
			s = s[eq:]
			continue
		}
		f := field{key: s[:eq]}
		s = s[eq+1:]
		if s != "" && (s[0] == '"' || s[0] == '\'') {
			q := s[0]
			if end := strings.IndexByte(s[1:], q); end >= 0 {
				f.val, f.quoted = s[1:1+end], true
				s = s[2+end:]
			} else { // unterminated: take the rest as it is
				f.val, s = s, ""
			}
		} else {
			end := strings.IndexByte(s, ' ')
			if end < 0 {
				end = len(s)
			}
			f.val, s = s[:end], s[end:]
		}
		if f.key != "" {
			fs = append(fs, f)
		}
	}
}

// text decodes a field that audit writes with audit_log_untrustedstring:
// quoted when it holds only printable characters other than '"', as
// upper-case hex otherwise; "(null)" and "(none)" stand for no value.
func (f field) text() string {
	if f.quoted {
		return f.val
	}
	if f.val == "(null)" || f.val == "(none)" {
		return ""
	}
	if b, ok := unhex(f.val); ok {
		return string(b)
	}
	return f.val
}

func unhex(s string) ([]byte, bool) {
	if len(s) == 0 || len(s)%2 != 0 {
		return nil, false
	}
	b := make([]byte, len(s)/2)
	for i := range b {
		hi, ok1 := hexDigit(s[2*i])
		lo, ok2 := hexDigit(s[2*i+1])
		if !ok1 || !ok2 {
			return nil, false
		}
		b[i] = hi<<4 | lo
	}
	return b, true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// numbers: decimal unless noted; the kernel prints hex without 0x for
// arch= and domain=, with 0x for code=, ip= and ioctlcmd=.

func parseUint(f field, base, bits int) (uint64, error) {
	s := f.val
	if base == 16 {
		s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	}
	v, err := strconv.ParseUint(s, base, bits)
	if err != nil {
		return 0, fmt.Errorf("audit: %s=%q: not a number", f.key, f.val)
	}
	return v, nil
}

func parseInt(f field) (int64, error) {
	v, err := strconv.ParseInt(f.val, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("audit: %s=%q: not a number", f.key, f.val)
	}
	return v, nil
}

// decoder collects the first error of a record's conversions.
type decoder struct{ err error }

func (d *decoder) u32(f field) uint32 {
	v, err := parseUint(f, 10, 32)
	d.keep(err)
	return uint32(v)
}

func (d *decoder) u64(f field, base int) uint64 {
	v, err := parseUint(f, base, 64)
	d.keep(err)
	return v
}

func (d *decoder) hex32(f field) uint32 {
	v, err := parseUint(f, 16, 32)
	d.keep(err)
	return uint32(v)
}

func (d *decoder) i64(f field) int64 {
	v, err := parseInt(f)
	d.keep(err)
	return v
}

func (d *decoder) port(f field) uint16 {
	v, err := parseUint(f, 10, 16)
	d.keep(err)
	return uint16(v)
}

func (d *decoder) addr(f field) netip.Addr {
	a, err := netip.ParseAddr(f.val)
	if err != nil {
		d.keep(fmt.Errorf("audit: %s=%q: not an address", f.key, f.val))
	}
	return a
}

func (d *decoder) keep(err error) {
	if d.err == nil && err != nil {
		d.err = err
	}
}

// task reads the fields of a process that seccomp, SYSCALL and domain
// records share; it reports whether f was one of them.
func (d *decoder) task(t *Task, f field) bool {
	switch f.key {
	case "pid":
		t.PID = d.u32(f)
	case "ppid":
		t.PPID = d.u32(f)
	case "uid":
		t.UID = d.u32(f)
	case "gid":
		t.GID = d.u32(f)
	case "euid":
		t.EUID = d.u32(f)
	case "auid":
		t.AUID = d.u32(f)
	case "ses":
		t.Session = d.u32(f)
	case "comm":
		t.Comm = f.text()
	case "exe":
		t.Exe = f.text()
	default:
		return false
	}
	return true
}

func parseSeccomp(st Stamp, fs []field) (*Seccomp, error) {
	r := &Seccomp{Stamp: st}
	var d decoder
	nr, haveNr, haveCode := 0, false, false
	for _, f := range fs {
		if d.task(&r.Task, f) {
			continue
		}
		switch f.key {
		case "arch":
			r.Arch = Arch(d.hex32(f))
		case "syscall":
			nr, haveNr = int(d.i64(f)), true
		case "compat":
			r.Compat = f.val == "1"
		case "ip":
			r.IP = d.u64(f, 16)
		case "sig":
			r.Signal = int(d.i64(f))
		case "code":
			r.Code, haveCode = d.hex32(f), true
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if !haveNr || !haveCode {
		return nil, errors.New("audit: seccomp record without syscall= or code=")
	}
	r.Syscall = syscallOf(r.Arch, nr)
	r.Action = SeccompAction(r.Code)
	return r, nil
}

func parseLandlockAccess(st Stamp, fs []field) (*LandlockAccess, error) {
	r := &LandlockAccess{Stamp: st}
	var d decoder
	haveDomain := false
	for _, f := range fs {
		switch f.key {
		case "domain":
			r.Domain, haveDomain = d.u64(f, 16), true
		case "blockers":
			if f.val != "" {
				r.Blockers = strings.Split(f.val, ",")
			}
		case "path":
			r.Path = f.text()
		case "name":
			r.Name = f.text()
		case "dev":
			r.Dev = f.text()
		case "ino":
			r.Ino = d.u64(f, 10)
		case "ioctlcmd":
			r.IoctlCmd = d.hex32(f)
		case "daddr":
			r.Addr = d.addr(f)
		case "dest":
			r.Port = d.port(f)
		case "saddr":
			r.LocalAddr = d.addr(f)
		case "src":
			r.LocalPort = d.port(f)
		case "opid":
			r.TargetPID = d.u32(f)
		case "ocomm":
			r.TargetComm = f.text()
		default:
			if r.Extra == nil {
				r.Extra = map[string]string{}
			}
			r.Extra[f.key] = f.text()
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if !haveDomain || len(r.Blockers) == 0 {
		return nil, errors.New("audit: landlock access record without domain= or blockers=")
	}
	return r, nil
}

func parseLandlockDomain(st Stamp, fs []field) (*LandlockDomain, error) {
	r := &LandlockDomain{Stamp: st}
	var d decoder
	haveID := false
	for _, f := range fs {
		if d.task(&r.Creator, f) {
			continue
		}
		switch f.key {
		case "domain":
			r.ID, haveID = d.u64(f, 16), true
		case "status":
			r.Status = f.val
		case "mode":
			r.Mode = f.val
		case "denials":
			r.Denials = d.u64(f, 10)
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if !haveID || r.Status == "" {
		return nil, errors.New("audit: landlock domain record without domain= or status=")
	}
	return r, nil
}

func parseContext(st Stamp, fs []field) (*Context, error) {
	r := &Context{Stamp: st}
	var d decoder
	nr, haveNr := 0, false
	for _, f := range fs {
		if d.task(&r.Task, f) {
			continue
		}
		switch f.key {
		case "arch":
			r.Arch = Arch(d.hex32(f))
		case "syscall":
			nr, haveNr = int(d.i64(f)), true
		case "success":
			r.Success = f.val == "yes"
		case "exit":
			r.Exit = d.i64(f)
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if !haveNr {
		return nil, errors.New("audit: syscall record without syscall=")
	}
	r.Syscall = syscallOf(r.Arch, nr)
	return r, nil
}
