package audit

import (
	"testing"
	"time"
)

func TestAssemblerWaitsForTheEndOfAnEvent(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := assembler{wait: 100 * time.Millisecond}
	st := Stamp{Serial: 7}
	access := &LandlockAccess{Stamp: st, Domain: 1, Blockers: []string{"fs.read_file"}}
	a.add(access, t0)
	if a.next() != nil {
		t.Fatal("an access record came out before its event ended")
	}
	if !a.wants(7) || a.wants(8) {
		t.Fatal("wants")
	}
	if a.add(&Context{Stamp: Stamp{Serial: 8}}, t0) {
		t.Error("a context nobody waits for was taken")
	}
	a.add(&Context{Stamp: st, Task: Task{PID: 42}, Syscall: Syscall{257, "openat"}, Exit: -13}, t0)
	if got := a.deadline(); !got.Equal(t0.Add(100 * time.Millisecond)) {
		t.Errorf("deadline %v", got)
	}
	a.add(&EndOfEvent{Stamp: st}, t0.Add(time.Millisecond))
	r, ok := a.next().(*LandlockAccess)
	if !ok || !r.Context || r.PID != 42 || r.Syscall.Name != "openat" || r.Exit != -13 {
		t.Fatalf("got %+v", r)
	}
	if a.partial != 0 || len(a.pending) != 0 || !a.deadline().IsZero() {
		t.Errorf("partial %d, pending %d", a.partial, len(a.pending))
	}
	if a.add(&EndOfEvent{Stamp: st}, t0) {
		t.Error("a second end was taken")
	}
}

func TestAssemblerFlushesWithoutEnd(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := assembler{wait: 100 * time.Millisecond}
	a.add(&LandlockAccess{Stamp: Stamp{Serial: 1}, Domain: 5, Blockers: []string{"fs.read_file"}}, t0)
	a.add(&LandlockDomain{Stamp: Stamp{Serial: 2}, ID: 5, Status: DomainAllocated}, t0)
	a.add(&Seccomp{Stamp: Stamp{Serial: 3}}, t0)
	a.add(&LandlockDomain{Stamp: Stamp{Serial: 4}, ID: 5, Status: DomainDeallocated}, t0)
	a.add(&LandlockDomain{Stamp: Stamp{Serial: 5}, ID: 6, Status: DomainDeallocated}, t0)
	var order []uint64
	for r := a.next(); r != nil; r = a.next() {
		order = append(order, r.Event().Serial)
	}
	if len(order) != 2 || order[0] != 3 || order[1] != 5 {
		t.Errorf("before the wait: %v, want [3 5]", order)
	}
	a.expire(t0.Add(99 * time.Millisecond))
	if a.next() != nil {
		t.Error("flushed early")
	}
	a.expire(t0.Add(100 * time.Millisecond))
	order = order[:0]
	for r := a.next(); r != nil; r = a.next() {
		order = append(order, r.Event().Serial)
	}
	if len(order) != 3 || order[0] != 2 || order[1] != 1 || order[2] != 4 {
		t.Errorf("after the wait: %v, want [2 1 4]", order)
	}
	if a.partial != 1 {
		t.Errorf("partial %d", a.partial)
	}
}

func TestAssemblerBound(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := assembler{wait: time.Hour, max: 3}
	for i := range uint64(5) {
		a.add(&LandlockAccess{Stamp: Stamp{Serial: i}, Domain: 1, Blockers: []string{"fs.read_file"}}, t0)
	}
	if len(a.pending) != 3 || a.partial != 2 {
		t.Fatalf("pending %d partial %d", len(a.pending), a.partial)
	}
	if r := a.next(); r == nil || r.Event().Serial != 0 {
		t.Errorf("oldest not flushed first: %v", r)
	}
}

func TestSerials(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := serials{settle: time.Second}
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	// 10, 12, 11 (reordered), 11 again (same event), 14, 15; 13 never comes.
	for i, serial := range []uint64{10, 12, 11, 11, 14, 15} {
		s.see(serial, at(i))
	}
	s.see(9, at(6)) // before the first one seen: ignored
	if n, _, _ := s.advance(at(900)); n != 0 {
		t.Errorf("reported %d missing before they settled", n)
	}
	if got := s.deadline(); !got.Equal(at(1000)) {
		t.Errorf("deadline %v", got)
	}
	n, first, last := s.advance(at(1004))
	if n != 1 || first != 13 || last != 13 {
		t.Errorf("advance = %d [%d, %d], want 1 [13, 13]", n, first, last)
	}
	if n, _, _ := s.advance(at(5000)); n != 0 {
		t.Errorf("counted again: %d", n)
	}
	// A jump: 16..99 lost, then 100 and 101.
	s.see(100, at(5000))
	s.see(101, at(5001))
	s.see(13, at(5002)) // too late: already counted
	n, first, last = s.advance(at(7000))
	if n != 84 || first != 16 || last != 99 {
		t.Errorf("advance = %d [%d, %d], want 84 [16, 99]", n, first, last)
	}
	if len(s.seen) != 1 { // 101 stays until a later serial settles
		t.Errorf("seen %v", s.seen)
	}
}
