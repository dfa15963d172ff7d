//go:build linux

package bpf

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"
	"unsafe"

	"github.com/cilium/ebpf/ringbuf"
)

// Event is one decision of a hook, or (Exec, Exit) one record of the
// process tracepoints, which decide nothing.
type Event struct {
	Time   time.Duration // CLOCK_MONOTONIC
	Cgroup uint64
	Cookie uint64
	PID    uint32
	Comm   string
	Rule   uint32 // the caller's rule number, 0 for none
	Hook   Hook
	Action Action
	Reason Reason
	Family uint8
	Type   uint8
	Proto  uint8
	Dst    netip.AddrPort // the destination asked for (inet hooks)
	Path   string         // unix and filesystem hooks
	// Write is set by the filesystem hooks when the refused access was a
	// change (opening for writing, truncating, creating, linking, renaming,
	// removing).
	Write bool
	// Exec is set for HookExec, Exit for HookExit; PID and Comm are then
	// the process's.
	Exec *Exec
	Exit *Exit
}

// Exec is a program started by a process in a sandbox cgroup, as the
// sched_process_exec tracepoint saw it before the program ran.
type Exec struct {
	TID uint32
	UID uint32 // real uid, after the exec
	// Filename is the name execve was given: possibly relative, or
	// /dev/fd/N for execveat; at most 255 bytes.
	Filename          string
	FilenameTruncated bool
	// Argv as given to execve, at most 512 bytes of it; when
	// ArgvTruncated, the last element is cut. Not redacted.
	Argv          []string
	ArgvTruncated bool
	// Ancestors are the parent processes, parent first, at most 4;
	// AncestorsTruncated when there are more.
	Ancestors          []Ancestor
	AncestorsTruncated bool
}

// Ancestor is one process up the chain.
type Ancestor struct {
	PID  uint32
	Comm string
}

// Exit is the end of a process in a sandbox cgroup: its last thread's
// exit.
type Exit struct {
	TID uint32 // the last thread
	UID uint32
	// Code is the exit status, -1 when a signal ended the process.
	Code int32
	// Signal is the signal that ended it, 0 for an exit.
	Signal     int32
	CoreDumped bool
}

// Hook names the program that decided. The values are enum hook of
// common.h.
type Hook uint8

// Hooks that emit events.
const (
	HookConnect4 Hook = iota + 1
	HookConnect6
	HookSendmsg4
	HookSendmsg6
	HookSockCreate
	HookBind4
	HookBind6
	HookConnectUnix
	HookSendmsgUnix
	// The BPF-LSM filesystem hooks (fs.h).
	HookFileOpen
	HookFileTruncate
	HookPathTruncate
	HookMknod // creating a file (O_CREAT too), fifo, socket or device
	HookMkdir
	HookSymlink
	HookLink
	HookRename
	HookUnlink
	HookRmdir
	HookChmod
	HookChown
	// The process tracepoints (proc.h): records, not decisions.
	HookExec
	HookExit
)

var hookNames = [...]string{
	HookConnect4: "connect4", HookConnect6: "connect6", HookSendmsg4: "sendmsg4", HookSendmsg6: "sendmsg6",
	HookSockCreate: "sock_create", HookBind4: "bind4", HookBind6: "bind6",
	HookConnectUnix: "connect_unix", HookSendmsgUnix: "sendmsg_unix",
	HookFileOpen: "file_open", HookFileTruncate: "file_truncate", HookPathTruncate: "path_truncate",
	HookMknod: "path_mknod", HookMkdir: "path_mkdir", HookSymlink: "path_symlink", HookLink: "path_link",
	HookRename: "path_rename", HookUnlink: "path_unlink", HookRmdir: "path_rmdir",
	HookChmod: "path_chmod", HookChown: "path_chown",
	HookExec: "exec", HookExit: "exit",
}

// File reports whether the hook is a filesystem (BPF-LSM) hook.
func (h Hook) File() bool { return h >= HookFileOpen && h <= HookChown }

func (h Hook) String() string {
	if int(h) < len(hookNames) && h != 0 {
		return hookNames[h]
	}
	return fmt.Sprintf("hook(%d)", uint8(h))
}

// Action is what the hook did. The values are enum action of common.h.
type Action uint8

// Actions.
const (
	Allow Action = iota + 1
	Redirect
	Deny
)

var actionNames = [...]string{Allow: "allow", Redirect: "redirect", Deny: "deny"}

func (a Action) String() string {
	if int(a) < len(actionNames) && a != 0 {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// Reason says why. The values are enum reason of common.h.
type Reason uint8

// Reasons.
const (
	ReasonNoSandbox Reason = iota + 1
	ReasonProxy
	ReasonEgress
	ReasonDNS
	ReasonLoopRule
	ReasonLoopback
	ReasonGuarded
	ReasonUDP
	ReasonSocket
	ReasonBind
	ReasonUnixRule
	ReasonUnix
	ReasonProto
	ReasonFile
	ReasonFileLimit
	ReasonProxyDown
)

// reasons are the words a person or an agent can act on.
var reasons = [...]string{
	ReasonNoSandbox: "the process is in Paddock's cgroup subtree but in no sandbox",
	ReasonProxy:     "the workload connected to the egress proxy",
	ReasonEgress:    "TCP leaves through the egress proxy, which checks the destination",
	ReasonDNS:       "DNS goes to Paddock's stub, which answers only names the policy allows",
	ReasonLoopRule:  "a loopback port the policy names",
	ReasonLoopback:  "a loopback port no rule names",
	ReasonGuarded:   "a link-local or cloud metadata address; no rule names it",
	ReasonUDP:       "UDP other than DNS is refused (QUIC and HTTP/3 fall back to TCP)",
	ReasonSocket:    "raw, ICMP and other non-TCP/UDP sockets are refused",
	ReasonBind:      "bind to a non-loopback address; the policy does not allow listening",
	ReasonUnixRule:  "a unix socket path the policy names",
	ReasonUnix:      "a unix socket path no rule names (only absolute, listed paths are reachable)",
	ReasonProto:     "a protocol the hooks do not proxy",
	ReasonFile:      "a filesystem deny rule",
	ReasonFileLimit: "the path is deeper than the filesystem hooks follow, or could not be read; refused rather than guessed",
	ReasonProxyDown: "agentd's egress proxy or DNS stub is not running (agentd is down or restarting); refused, never sent to whoever holds its port",
}

func (r Reason) String() string {
	if int(r) < len(reasons) && r != 0 {
		return reasons[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Reader reads the hooks' events.
type Reader struct {
	h        *Hooks
	rd       *ringbuf.Reader
	rec      ringbuf.Record
	deadline time.Time // the caller's, zero for none
}

// PollInterval bounds how long an event can wait in the ring buffer: the
// hooks wake the reader only once WAKEUP_BYTES are pending (common.h), so
// Read also looks on this timer.
const PollInterval = 20 * time.Millisecond

// Events opens the ring buffer. One reader at a time.
func (h *Hooks) Events() (*Reader, error) {
	rd, err := ringbuf.NewReader(h.objs.Events)
	if err != nil {
		return nil, fmt.Errorf("bpf: opening the event ring: %w", err)
	}
	return &Reader{h: h, rd: rd}, nil
}

// ErrClosed is returned by Read after Close.
var ErrClosed = ringbuf.ErrClosed

// Read blocks until the next event, or until the deadline set by
// SetDeadline (os.ErrDeadlineExceeded). Not safe for concurrent use.
func (r *Reader) Read() (Event, error) {
	for {
		wait := time.Now().Add(PollInterval)
		if !r.deadline.IsZero() && r.deadline.Before(wait) {
			wait = r.deadline
		}
		r.rd.SetDeadline(wait)
		err := r.rd.ReadInto(&r.rec)
		if err == nil {
			return decode(r.rec.RawSample)
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return Event{}, err
		}
		if !r.deadline.IsZero() && !time.Now().Before(r.deadline) {
			return Event{}, err
		}
	}
}

// decode reads one record. The kernel aligns ring buffer records to 8
// bytes and writes them in this host's byte order, so the record is the C
// struct itself. Every record starts with struct event, whose hook says
// which record it is.
func decode(b []byte) (Event, error) {
	if len(b) < int(unsafe.Sizeof(hooksEvent{})) {
		return Event{}, fmt.Errorf("bpf: short event record (%d bytes)", len(b))
	}
	raw := (*hooksEvent)(unsafe.Pointer(&b[0]))
	e := Event{
		Time: time.Duration(raw.TimeNs), Cgroup: raw.Cgroup, Cookie: raw.Cookie, PID: raw.Pid,
		Comm: cstring(raw.Comm[:]), Rule: raw.Rule, Hook: Hook(raw.Hook), Action: Action(raw.Action),
		Reason: Reason(raw.Reason), Family: raw.Family, Type: raw.Type, Proto: raw.Proto,
	}
	switch {
	case e.Hook == HookExec:
		return decodeExec(e, b)
	case e.Hook == HookExit:
		return decodeExit(e, b)
	case e.Hook.File():
		var fe *hooksFsEvent
		if len(b) < int(unsafe.Sizeof(*fe)) {
			return Event{}, fmt.Errorf("bpf: short filesystem event record (%d bytes)", len(b))
		}
		fe = (*hooksFsEvent)(unsafe.Pointer(&b[0]))
		n := min(int(fe.PathLen), len(fe.Path))
		e.Path = fsPath(unsafe.Slice((*byte)(unsafe.Pointer(&fe.Path[0])), n), fe.Truncated != 0)
		e.Write = fe.Write != 0
	case e.Hook == HookConnectUnix || e.Hook == HookSendmsgUnix:
		e.Path = cstring(raw.Path[:])
	case e.Hook != HookSockCreate:
		e.Dst = netip.AddrPortFrom(netip.AddrFrom16(raw.Addr).Unmap(), raw.Port)
	}
	return e, nil
}

func decodeExec(e Event, b []byte) (Event, error) {
	var raw *hooksExecEvent
	if len(b) < int(unsafe.Sizeof(*raw)) {
		return Event{}, fmt.Errorf("bpf: short exec record (%d bytes)", len(b))
	}
	raw = (*hooksExecEvent)(unsafe.Pointer(&b[0]))
	x := &Exec{
		TID: raw.Tid, UID: raw.Uid,
		Filename:          string(int8s(raw.Filename[:], int(raw.FilenameLen))),
		FilenameTruncated: raw.FilenameTruncated != 0,
		Argv:              splitArgv(int8s(raw.Argv[:], int(raw.ArgvLen)), raw.ArgvTruncated != 0),
		ArgvTruncated:     raw.ArgvTruncated != 0,
	}
	for i := range min(int(raw.Ancestors), len(raw.Anc)) {
		a := &raw.Anc[i]
		x.Ancestors = append(x.Ancestors, Ancestor{PID: a.Pid, Comm: cstring(a.Comm[:])})
	}
	x.AncestorsTruncated = raw.AncestorsTruncated != 0
	e.Exec = x
	return e, nil
}

func decodeExit(e Event, b []byte) (Event, error) {
	var raw *hooksExitEvent
	if len(b) < int(unsafe.Sizeof(*raw)) {
		return Event{}, fmt.Errorf("bpf: short exit record (%d bytes)", len(b))
	}
	raw = (*hooksExitEvent)(unsafe.Pointer(&b[0]))
	x := &Exit{TID: raw.Tid, UID: raw.Uid}
	// The wait(2) status: a signal in the low 7 bits (0x80: core dumped),
	// or the exit status in the next byte.
	if sig := raw.ExitCode & 0x7f; sig != 0 {
		x.Code, x.Signal, x.CoreDumped = -1, int32(sig), raw.ExitCode&0x80 != 0
	} else {
		x.Code = int32(raw.ExitCode>>8) & 0xff
	}
	e.Exit = x
	return e, nil
}

// int8s returns the first n bytes of b (n bounded by its length).
func int8s(b []int8, n int) []byte {
	n = max(0, min(n, len(b)))
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&b[0])), n)
}

// splitArgv splits the NUL-separated arguments of an exec. Each argument
// ends with a NUL except, when the read was cut, the last.
func splitArgv(b []byte, truncated bool) []string {
	if len(b) == 0 {
		return nil
	}
	if !truncated && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return strings.Split(string(b), "\x00")
}

// Lost returns how many events did not fit in the ring buffer since the
// maps were created.
func (r *Reader) Lost() (uint64, error) {
	var per []uint64
	if err := r.h.objs.Lost.Lookup(uint32(0), &per); err != nil {
		return 0, err
	}
	var n uint64
	for _, v := range per {
		n += v
	}
	return n, nil
}

// SetDeadline makes a blocked Read return os.ErrDeadlineExceeded at t; the
// zero time removes the deadline. Call it from the reading goroutine.
func (r *Reader) SetDeadline(t time.Time) { r.deadline = t }

// Close unblocks Read.
func (r *Reader) Close() error {
	if err := r.rd.Close(); err != nil && !errors.Is(err, ringbuf.ErrClosed) {
		return err
	}
	return nil
}

func cstring(b []int8) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}
