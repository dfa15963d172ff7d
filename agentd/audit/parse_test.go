package audit

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

type rawRecord struct {
	typ  uint16
	data string
}

// loadRecords reads a capture: one record a line, "TYPE PAYLOAD", with #
// comments.
func loadRecords(t testing.TB, name string) []rawRecord {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []rawRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		typ, data, ok := strings.Cut(line, " ")
		n, err := strconv.ParseUint(typ, 10, 16)
		if !ok || err != nil {
			t.Fatalf("%s: bad line %q", name, line)
		}
		out = append(out, rawRecord{uint16(n), data})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func find[T Record](t *testing.T, recs []Record, match func(T) bool) T {
	t.Helper()
	for _, r := range recs {
		if v, ok := r.(T); ok && match(v) {
			return v
		}
	}
	var zero T
	t.Fatalf("no %T matches", zero)
	return zero
}

func parseAll(t *testing.T, name string) []Record {
	t.Helper()
	var out []Record
	for _, r := range loadRecords(t, name) {
		rec, err := ParseRecord(r.typ, []byte(r.data))
		if errors.Is(err, ErrUnknownType) {
			continue
		}
		if err != nil {
			t.Fatalf("ParseRecord(%d, %q): %v", r.typ, r.data, err)
		}
		out = append(out, rec)
	}
	return out
}

func TestParseSeccomp(t *testing.T) {
	recs := parseAll(t, "grouped.txt")
	errno := find(t, recs, func(r *Seccomp) bool { return r.Action == ActionErrno && !r.Compat })
	want := &Seccomp{
		Stamp: Stamp{Time: time.UnixMilli(1795466344578), Serial: 70637},
		Task: Task{PID: 14615, UID: 0, GID: 0, AUID: Unset, Session: Unset,
			Comm: "x y\"z", Exe: "/tmp/paddock-audit/probe"},
		Arch: 0xc000003e, Syscall: Syscall{135, "personality"},
		IP: 0x408ace, Code: 0x50000, Action: ActionErrno,
	}
	if fmt.Sprintf("%+v", errno) != fmt.Sprintf("%+v", want) {
		t.Errorf("errno record:\n got %+v\nwant %+v", errno, want)
	}
	if errno.Arch.String() != "x86_64" || errno.Syscall.String() != "personality" {
		t.Errorf("arch %v syscall %v", errno.Arch, errno.Syscall)
	}
	kill := find(t, recs, func(r *Seccomp) bool { return r.Code == 0x80000000 })
	if kill.Action != ActionKillProcess || kill.Signal != 31 {
		t.Errorf("kill_process: %+v", kill)
	}
	thread := find(t, recs, func(r *Seccomp) bool { return r.Code == 0 })
	if thread.Action != ActionKillThread || thread.Signal != 31 {
		t.Errorf("kill_thread: %+v", thread)
	}
	for code, action := range map[uint32]string{0x30000: ActionTrap, 0x7ffc0000: ActionLog} {
		r := find(t, recs, func(r *Seccomp) bool { return r.Code == code })
		if r.Action != action || r.Signal != 0 {
			t.Errorf("%s: %+v", action, r)
		}
	}
	compat := find(t, recs, func(r *Seccomp) bool { return r.Compat })
	if compat.Arch.String() != "i386" || compat.Syscall != (Syscall{136, "personality"}) || compat.Action != ActionErrno {
		t.Errorf("i386 record: %+v", compat)
	}
}

func TestParseLandlock(t *testing.T) {
	recs := parseAll(t, "grouped.txt")
	access := func(blocker string) *LandlockAccess {
		t.Helper()
		return find(t, recs, func(r *LandlockAccess) bool { return slices.Contains(r.Blockers, blocker) })
	}
	read := access("fs.read_file")
	if read.Domain != 0x129c42336 || read.Path != "/tmp/paddock-audit/ws/x/se cret" || read.Dev != "vda" || read.Ino != 9986290 {
		t.Errorf("read_file: %+v", read)
	}
	if read.Context || read.PID != 0 {
		t.Errorf("ParseRecord alone set the context: %+v", read)
	}
	if r := access("fs.ioctl_dev"); r.Path != "/dev/null" || r.Dev != "devtmpfs" || r.IoctlCmd != 0x5401 {
		t.Errorf("ioctl_dev: %+v", r)
	}
	if r := access("fs.remove_file"); r.Path != "/tmp/paddock-audit/ws/ro" {
		t.Errorf("remove_file names the directory: %+v", r)
	}
	conns := 0
	for _, r := range recs {
		if a, ok := r.(*LandlockAccess); ok && slices.Contains(a.Blockers, "net.connect_tcp") {
			conns++
			switch a.Addr {
			case netip.MustParseAddr("127.0.0.1"):
				if a.Port != 9 {
					t.Errorf("connect v4: %+v", a)
				}
			case netip.MustParseAddr("2001:db8::1"):
				if a.Port != 443 {
					t.Errorf("connect v6: %+v", a)
				}
			default:
				t.Errorf("connect: %+v", a)
			}
		}
	}
	if conns != 2 {
		t.Errorf("%d connect records, want 2", conns)
	}
	if r := access("net.bind_tcp"); r.LocalPort != 4444 || r.LocalAddr.IsValid() || r.Port != 0 {
		t.Errorf("bind: %+v", r)
	}
	if r := access("scope.signal"); r.TargetPID != 14551 || r.TargetComm != "cap.sh" {
		t.Errorf("signal: %+v", r)
	}
	if r := access("scope.abstract_unix_socket"); r.Path != "\x00paddock-probe" {
		t.Errorf("abstract unix socket: %q", r.Path)
	}
	for _, r := range recs {
		if a, ok := r.(*LandlockAccess); ok && a.Extra != nil {
			t.Errorf("unexpected extra fields: %+v", a.Extra)
		}
	}

	alloc := find(t, recs, func(r *LandlockDomain) bool { return r.Status == DomainAllocated })
	if alloc.ID != 0x129c42336 || alloc.Mode != "enforcing" || alloc.Creator.PID != 14656 ||
		alloc.Creator.Exe != "/tmp/paddock-audit/pro be" || alloc.Creator.Comm != "pro be" {
		t.Errorf("allocated: %+v", alloc)
	}
	dealloc := find(t, recs, func(r *LandlockDomain) bool { return r.Status == DomainDeallocated && r.ID == 0x129c42336 })
	if dealloc.Denials != 20 {
		t.Errorf("deallocated: %+v", dealloc)
	}

	ctx := find(t, recs, func(r *Context) bool { return r.Serial == read.Serial })
	if ctx.PID != 14656 || ctx.PPID != 14551 || ctx.Syscall != (Syscall{257, "openat"}) || ctx.Success || ctx.Exit != -13 || ctx.Comm != "pro be" {
		t.Errorf("context: %+v", ctx)
	}
}

func TestParseRecordErrors(t *testing.T) {
	for _, c := range []struct {
		typ  uint16
		data string
	}{
		{TypeSeccomp, ""},
		{TypeSeccomp, "audit(1.2:3)"},
		{TypeSeccomp, "audit(1.2): pid=1"},
		{TypeSeccomp, "audit(x.2:3): pid=1"},
		{TypeSeccomp, "audit(1.2:3): pid=1 arch=c000003e"},
		{TypeSeccomp, "audit(1.2:3): pid=x syscall=1 code=0x0"},
		{TypeSeccomp, "audit(1.2:3): pid=1 syscall=1 code=zz"},
		{TypeLandlockAccess, "audit(1.2:3): blockers=fs.read_file"},
		{TypeLandlockAccess, "audit(1.2:3): domain=12 blockers="},
		{TypeLandlockAccess, "audit(1.2:3): domain=12 blockers=net.connect_tcp daddr=nope dest=1"},
		{TypeLandlockAccess, "audit(1.2:3): domain=12 blockers=net.connect_tcp dest=70000"},
		{TypeLandlockDomain, "audit(1.2:3): domain=12"},
		{TypeSyscall, "audit(1.2:3): arch=c000003e pid=1"},
	} {
		if r, err := ParseRecord(c.typ, []byte(c.data)); err == nil {
			t.Errorf("ParseRecord(%d, %q) = %+v, want an error", c.typ, c.data, r)
		}
	}
	if _, err := ParseRecord(1334, []byte("audit(1.2:3): prog-id=1 op=LOAD")); !errors.Is(err, ErrUnknownType) {
		t.Errorf("AUDIT_BPF: %v, want ErrUnknownType", err)
	}
}

func TestFieldValues(t *testing.T) {
	fs := splitFields([]byte(` a=1 b="x y" c=(null) d=6869 e='m s g' bare f= g="unterminated h=2`))
	got := map[string]string{}
	for _, f := range fs {
		got[f.key] = f.text()
	}
	// b="x y" does not come from the kernel (it hex-encodes values with
	// spaces), but a quote runs to the next quote.
	want := map[string]string{"a": "1", "b": "x y", "c": "", "d": "hi", "e": "m s g", "f": "", "g": `"unterminated h=2`}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q (all: %q)", k, got[k], v, got)
		}
	}
	if _, ok := got["bare"]; ok {
		t.Errorf("a bare word became a field: %q", got)
	}
	st, rest, err := ParseStamp([]byte("audit(1795466352.79:70677): x=1\x00"))
	if err != nil || st.Serial != 70677 || st.Time != time.Unix(1795466352, 790e6) || string(rest) != " x=1" {
		t.Errorf("ParseStamp: %+v %q %v", st, rest, err)
	}
}

// replay feeds a capture through the Reader's stream, one record a
// millisecond, and collects what Read would return, waiting long enough at
// the end for everything to come out.
func replay(t *testing.T, name string) ([]Record, Stats) {
	t.Helper()
	s := newStream(EventWait, SettleTime)
	now := time.Unix(1795466000, 0)
	var out []Record
	drain := func() {
		for r := s.next(now); r != nil; r = s.next(now) {
			out = append(out, r)
		}
	}
	for _, r := range loadRecords(t, name) {
		now = now.Add(time.Millisecond)
		msg := make([]byte, sizeofNlMsghdr+len(r.data))
		putHeader(msg, r.typ)
		copy(msg[sizeofNlMsghdr:], r.data)
		s.datagram(msg, 0, now)
		drain()
	}
	now = now.Add(SettleTime + time.Second)
	drain()
	return out, s.snapshot()
}

func putHeader(msg []byte, typ uint16) {
	l := uint32(len(msg))
	msg[0], msg[1], msg[2], msg[3] = byte(l), byte(l>>8), byte(l>>16), byte(l>>24) // little endian
	msg[4], msg[5] = byte(typ), byte(typ>>8)
}

// describe prints what a record tells, one line, for the golden files.
func describe(r Record) string {
	switch r := r.(type) {
	case *Seccomp:
		return fmt.Sprintf("seccomp serial=%d pid=%d comm=%q exe=%q arch=%v syscall=%d/%s compat=%t action=%s code=%#x sig=%d",
			r.Serial, r.PID, r.Comm, r.Exe, r.Arch, r.Syscall.Number, r.Syscall.Name, r.Compat, r.Action, r.Code, r.Signal)
	case *LandlockAccess:
		s := fmt.Sprintf("landlock-access serial=%d domain=%x blockers=%s", r.Serial, r.Domain, strings.Join(r.Blockers, ","))
		if r.Path != "" {
			s += fmt.Sprintf(" path=%q", r.Path)
		}
		if r.Dev != "" || r.Ino != 0 {
			s += fmt.Sprintf(" dev=%s ino=%d", r.Dev, r.Ino)
		}
		if r.IoctlCmd != 0 {
			s += fmt.Sprintf(" ioctl=%#x", r.IoctlCmd)
		}
		if r.Addr.IsValid() || r.Port != 0 {
			s += fmt.Sprintf(" addr=%v port=%d", r.Addr, r.Port)
		}
		if r.LocalAddr.IsValid() {
			s += fmt.Sprintf(" local-addr=%v", r.LocalAddr)
		}
		if r.LocalPort != 0 {
			s += fmt.Sprintf(" local-port=%d", r.LocalPort)
		}
		if r.TargetPID != 0 {
			s += fmt.Sprintf(" target=%d/%q", r.TargetPID, r.TargetComm)
		}
		if r.Context {
			s += fmt.Sprintf(" | pid=%d ppid=%d comm=%q exe=%q syscall=%s exit=%d", r.PID, r.PPID, r.Comm, r.Exe, r.Syscall, r.Exit)
		} else {
			s += " | no context"
		}
		return s
	case *LandlockDomain:
		if r.Status == DomainAllocated {
			return fmt.Sprintf("landlock-domain serial=%d id=%x allocated mode=%s creator=%d uid=%d exe=%q comm=%q",
				r.Serial, r.ID, r.Mode, r.Creator.PID, r.Creator.UID, r.Creator.Exe, r.Creator.Comm)
		}
		return fmt.Sprintf("landlock-domain serial=%d id=%x %s denials=%d", r.Serial, r.ID, r.Status, r.Denials)
	case *Gap:
		return fmt.Sprintf("gap cause=%s count=%d first=%d last=%d", r.Cause, r.Count, r.First, r.Last)
	}
	return fmt.Sprintf("%T", r)
}

func checkGolden(t *testing.T, name string, recs []Record, stats Stats) {
	t.Helper()
	var b strings.Builder
	for _, r := range recs {
		b.WriteString(describe(r))
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "stats %+v\n", stats)
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("%s differs (go test -run %s -update rewrites it):\n%s", path, t.Name(), got)
	}
}

// checkDomainOrder checks that each domain's allocation comes before its
// denials and its deallocation after them.
func checkDomainOrder(t *testing.T, recs []Record) {
	t.Helper()
	alloc, dealloc := map[uint64]int{}, map[uint64]int{}
	for i, r := range recs {
		if d, ok := r.(*LandlockDomain); ok {
			if d.Status == DomainAllocated {
				alloc[d.ID] = i
			} else {
				dealloc[d.ID] = i
			}
		}
	}
	for i, r := range recs {
		if a, ok := r.(*LandlockAccess); ok {
			if j, ok := alloc[a.Domain]; !ok || j > i {
				t.Errorf("record %d (%s) before its domain's allocation", i, describe(a))
			}
			if j, ok := dealloc[a.Domain]; ok && j < i {
				t.Errorf("record %d (%s) after its domain's deallocation", i, describe(a))
			}
		}
	}
}

func TestReplayGrouped(t *testing.T) {
	recs, stats := replay(t, "grouped.txt")
	checkGolden(t, "grouped.golden", recs, stats)
	checkDomainOrder(t, recs)
	for i, r := range recs {
		a, ok := r.(*LandlockAccess)
		if !ok {
			continue
		}
		if !a.Context || a.PID == 0 {
			t.Errorf("access without its context: %s", describe(a))
		}
		if a.Serial == 70645 { // the domain's first denial: its domain comes first
			if d, ok := recs[i-1].(*LandlockDomain); !ok || d.ID != a.Domain || d.Status != DomainAllocated {
				t.Errorf("first denial not preceded by its domain: %s", describe(recs[i-1]))
			}
		}
	}
	if stats.Missing != 0 || stats.Malformed != 0 || stats.Partial != 0 {
		t.Errorf("stats %+v", stats)
	}
	if stats.Received != stats.Delivered+stats.Skipped+stats.Malformed {
		t.Errorf("stats do not add up: %+v", stats)
	}
}

func TestReplayUngrouped(t *testing.T) {
	recs, stats := replay(t, "ungrouped.txt")
	checkGolden(t, "ungrouped.golden", recs, stats)
	checkDomainOrder(t, recs)
	var first *LandlockAccess
	for i, r := range recs {
		if a, ok := r.(*LandlockAccess); ok {
			if a.Context {
				t.Errorf("context out of nowhere: %s", describe(a))
			}
			if first == nil {
				first = a
				if d, ok := recs[i-1].(*LandlockDomain); !ok || d.ID != a.Domain {
					t.Errorf("first denial not preceded by its domain: %s", describe(recs[i-1]))
				}
			}
		}
	}
	if stats.Partial == 0 {
		t.Errorf("no partial events counted: %+v", stats)
	}
}

func TestReplayOther(t *testing.T) {
	recs, stats := replay(t, "other.txt")
	// other.txt is a few records from different moments: its serials jump.
	for _, r := range recs {
		if _, ok := r.(*Gap); !ok {
			t.Errorf("delivered %s", describe(r))
		}
	}
	if stats.Skipped != stats.Received || stats.Received == 0 {
		t.Errorf("stats %+v, want everything skipped", stats)
	}
}
