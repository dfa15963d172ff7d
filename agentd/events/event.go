// Package events defines the decision records every enforcement layer
// emits (the D7 schema of DESIGN.md, without the envelope the daemon adds:
// sequence number, host, boot id) and the sink they are written to.
//
// A sink must never block its caller for long: enforcement happens on the
// caller's goroutine, and a slow reader must cost events (reported as a
// gap), not connections.
package events

import (
	"net/netip"
	"time"
)

// Layers that decide.
const (
	LayerCgroupBPF = "cgroup-bpf"
	LayerProxy     = "proxy"
	LayerDNS       = "dns"
	LayerLauncher  = "launcher"
	LayerSeccomp   = "seccomp"
	LayerLandlock  = "landlock"
	LayerBPFLSM    = "bpf-lsm"
	// LayerDaemon records what no policy decided: process exec and exit,
	// lifecycle, losses.
	LayerDaemon = "daemon"
)

// Actions.
const (
	ActionAllow    = "allow"
	ActionRedirect = "redirect"
	ActionDeny     = "deny"
	ActionKill     = "kill"
	// ActionLog: recorded, nothing decided (exec, exit).
	ActionLog = "log"
)

// Event is one decision.
type Event struct {
	Time    time.Time `json:"time"`
	Sandbox string    `json:"sandbox,omitempty"`
	Layer   string    `json:"layer"`
	Action  string    `json:"action"`
	// Rule is the policy entry that decided, as "field (file:line)", or ""
	// when the default decided.
	Rule   string   `json:"rule,omitempty"`
	Reason string   `json:"reason"`
	Proc   *Process `json:"process,omitempty"`
	// The object: at most one is set.
	Net     *Net     `json:"net,omitempty"`
	File    *File    `json:"file,omitempty"`
	Syscall *Syscall `json:"syscall,omitempty"`
	Exec    *Exec    `json:"exec,omitempty"`
	Exit    *Exit    `json:"exit,omitempty"`
}

// Process is the process that acted, as far as the layer can tell.
type Process struct {
	PID  uint32 `json:"pid,omitempty"`
	TID  uint32 `json:"tid,omitempty"`
	UID  uint32 `json:"uid,omitempty"`
	Comm string `json:"comm,omitempty"`
	Exe  string `json:"exe,omitempty"`
	// CgroupID is the cgroup the kernel saw the process in, when the
	// layer knows it; the daemon maps it to a sandbox.
	CgroupID uint64 `json:"cgroup_id,omitempty"`
	// Ancestors, parent first, bounded; Truncated when there were more.
	Ancestors []Ancestor `json:"ancestors,omitempty"`
	Truncated bool       `json:"ancestors_truncated,omitempty"`
}

// Ancestor is one process up the chain.
type Ancestor struct {
	PID  uint32 `json:"pid"`
	Comm string `json:"comm,omitempty"`
	Exe  string `json:"exe,omitempty"`
}

// File is a filesystem object of a decision.
type File struct {
	Path      string   `json:"path"`
	Operation string   `json:"operation,omitempty"` // open, create, rename, link, truncate, ...
	Access    []string `json:"access,omitempty"`    // the rights refused
}

// Syscall is a system call a seccomp filter decided.
type Syscall struct {
	Nr    uint32 `json:"nr"`
	Name  string `json:"name,omitempty"`
	Arch  string `json:"arch,omitempty"`
	Errno int32  `json:"errno,omitempty"`
}

// Exec is a program a sandboxed process started.
type Exec struct {
	Exe  string   `json:"exe"`
	Argv []string `json:"argv,omitempty"` // redacted by the producer
}

// Exit is a sandboxed process ending.
type Exit struct {
	Code   int32 `json:"code"`
	Signal int32 `json:"signal,omitempty"`
}

// Net is the network object of a decision.
type Net struct {
	// Op is the operation: connect, sendmsg, bind, socket, dns, http,
	// connect-tunnel, socks5, tls.
	Op     string         `json:"op"`
	Proto  string         `json:"proto,omitempty"` // tcp, udp, unix, raw, ...
	Client netip.AddrPort `json:"client,omitzero"`
	// Orig is where the workload asked to go, before any redirect.
	Orig netip.AddrPort `json:"orig,omitzero"`
	// Host is the canonical name checked, when there was one.
	Host string `json:"host,omitempty"`
	Port uint16 `json:"port,omitempty"`
	// Dialled is the address the proxy connected to: exactly the one it
	// checked.
	Dialled netip.AddrPort `json:"dialled,omitzero"`
	Path    string         `json:"path,omitempty"`  // unix socket path
	Query   string         `json:"query,omitempty"` // DNS question type
}

// Sink receives events. Emit must not block for long and must not retain
// e's pointers after it returns unless it owns them (producers do not reuse
// them).
type Sink interface {
	Emit(e Event)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(Event)

// Emit calls f(e).
func (f SinkFunc) Emit(e Event) { f(e) }

// Discard drops every event.
var Discard Sink = SinkFunc(func(Event) {})
