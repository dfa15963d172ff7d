//go:build linux

package bpf

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Policy is what the hooks enforce for one sandbox. Rule numbers are the
// caller's: they come back in events, 0 meaning "no rule".
type Policy struct {
	// DNSPort is the port of the sandbox's DNS stub on the proxy's
	// loopback addresses; every datagram to port 53 goes there.
	DNSPort uint16
	// ListenAny lets the sandbox bind any address; otherwise binds are
	// loopback only and the wildcard address becomes loopback.
	ListenAny bool
	// GuardedOK sends link-local and cloud-metadata destinations to the
	// proxy, which decides, instead of refusing them in the kernel. Set it
	// when an allow rule names such an address.
	GuardedOK bool
	// Loopback lists the loopback TCP ports the policy names, each
	// reached directly (Allow) or refused; LoopbackAny, when not 0, is the
	// rule that makes every other loopback port reachable.
	Loopback    map[uint16]PortRule
	LoopbackAny uint32
	// Unix maps absolute unix socket paths the sandbox may name to their
	// rule and to the pinned socket a connection is sent to.
	Unix map[string]UnixRule
}

// UnixRule is one listed unix socket.
type UnixRule struct {
	Rule uint32
	// Target is the absolute path, shorter than 64 bytes, of a bind mount
	// of the socket the listed path named when it was checked, in a
	// directory the sandbox cannot write (see package unixpin). The hooks
	// rewrite the address to it, so the listed path is matched but never
	// resolved again.
	Target string
}

// PortRule decides one loopback port.
type PortRule struct {
	Rule  uint32
	Allow bool
	// Proxy sends connections to the port to the proxy, which serves it
	// for this sandbox alone (a credential's reverse listener).
	Proxy bool
}

const (
	flagListenAny   = 1 << 0
	flagGuardedOK   = 1 << 1
	flagLoopbackAny = 1 << 2
)

// CgroupID returns the id of the cgroup2 directory dir: its inode number,
// which is what bpf_get_current_cgroup_id returns for tasks inside it.
func CgroupID(dir string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return 0, fmt.Errorf("bpf: cgroup %s: %w", dir, err)
	}
	return st.Ino, nil
}

// PutSandbox installs the policy of the sandbox whose cgroup id is cg, or
// replaces it. The sandbox entry is written last, so the cgroup is
// refused everything until its policy is complete. On error nothing of
// the new policy stays.
func (h *Hooks) PutSandbox(cg uint64, id uint32, p Policy) error {
	if p.DNSPort == 0 {
		return errors.New("bpf: sandbox without a DNS stub port")
	}
	m := &h.objs.hooksMaps
	var ports []hooksPortKey
	var paths []hooksUnixKey
	undo := func() {
		for _, k := range ports {
			m.LoopbackPorts.Delete(&k)
		}
		for _, k := range paths {
			m.UnixPaths.Delete(&k)
		}
	}
	h.ownMu.Lock()
	defer h.ownMu.Unlock()
	own := h.ownedOf(cg)
	for port, r := range p.Loopback {
		k := hooksPortKey{Cgroup: cg, Port: uint32(port)}
		v := hooksPortRule{Rule: r.Rule}
		switch {
		case r.Proxy:
			v.Allow = 2
		case r.Allow:
			v.Allow = 1
		}
		if err := m.LoopbackPorts.Put(&k, &v); err != nil {
			undo()
			return fmt.Errorf("bpf: loopback port %d: %w", port, err)
		}
		ports = append(ports, k)
	}
	// Every unix entry is checked before any is written, so a bad one
	// leaves the current policy as it was.
	uks := make([]hooksUnixKey, 0, len(p.Unix))
	uvs := make([]hooksUnixRule, 0, len(p.Unix))
	names := make([]string, 0, len(p.Unix))
	for path, r := range p.Unix {
		k, err := unixKey(cg, path)
		if err != nil {
			undo()
			return err
		}
		v, err := unixRule(path, r)
		if err != nil {
			undo()
			return err
		}
		uks, uvs, names = append(uks, k), append(uvs, v), append(names, path)
	}
	for i := range uks {
		if err := m.UnixPaths.Put(&uks[i], &uvs[i]); err != nil {
			undo()
			return fmt.Errorf("bpf: unix socket %s: %w", names[i], err)
		}
		paths = append(paths, uks[i])
	}
	sb := hooksSandbox{Id: id, DnsPort: uint32(htons(p.DNSPort)), LoopbackRule: p.LoopbackAny}
	if p.ListenAny {
		sb.Flags |= flagListenAny
	}
	if p.GuardedOK {
		sb.Flags |= flagGuardedOK
	}
	if p.LoopbackAny != 0 {
		sb.Flags |= flagLoopbackAny
	}
	if err := m.Sandboxes.Put(cg, &sb); err != nil {
		undo()
		return fmt.Errorf("bpf: sandbox %d: %w", id, err)
	}
	// Entries of a previous policy that the new one does not name.
	for _, k := range own.ports {
		if !slices.Contains(ports, k) {
			m.LoopbackPorts.Delete(&k)
		}
	}
	for _, k := range own.paths {
		if !slices.Contains(paths, k) {
			m.UnixPaths.Delete(&k)
		}
	}
	own.ports, own.paths = ports, paths
	return nil
}

// DeleteSandbox removes a sandbox's policy: its cgroup is refused every
// socket operation from then on. Its file rules (PutFileRules) go too.
func (h *Hooks) DeleteSandbox(cg uint64) error {
	m := &h.objs.hooksMaps
	if err := m.Sandboxes.Delete(cg); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("bpf: deleting sandbox: %w", err)
	}
	if err := h.DeleteFileRules(cg); err != nil {
		return err
	}
	h.ownMu.Lock()
	defer h.ownMu.Unlock()
	if own := h.owned[cg]; own != nil {
		for _, k := range own.ports {
			m.LoopbackPorts.Delete(&k)
		}
		for _, k := range own.paths {
			m.UnixPaths.Delete(&k)
		}
	}
	delete(h.owned, cg)
	return nil
}

func unixKey(cg uint64, path string) (hooksUnixKey, error) {
	k := hooksUnixKey{Cgroup: cg}
	if !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return k, fmt.Errorf("bpf: unix socket path %q is not absolute and clean", path)
	}
	if len(path) >= len(k.Path) {
		return k, fmt.Errorf("bpf: unix socket path %q is longer than a socket address holds", path)
	}
	for i := 0; i < len(path); i++ {
		if path[i] == 0 {
			return k, fmt.Errorf("bpf: unix socket path %q holds a NUL byte", path)
		}
		k.Path[i] = int8(path[i])
	}
	return k, nil
}

func unixRule(path string, r UnixRule) (hooksUnixRule, error) {
	v := hooksUnixRule{Rule: r.Rule}
	t := r.Target
	if !filepath.IsAbs(t) || filepath.Clean(t) != t || len(t) >= len(v.Target) || strings.IndexByte(t, 0) >= 0 {
		return v, fmt.Errorf("bpf: unix socket %s: pinned target %q is not an absolute, clean path shorter than %d bytes", path, t, len(v.Target))
	}
	for i := 0; i < len(t); i++ {
		v.Target[i] = int8(t[i])
	}
	return v, nil
}

// Orig is where a proxied connection was going.
type Orig struct {
	Cgroup uint64
	PID    uint32
	Dst    netip.AddrPort
}

// Lookup returns the original destination of the connection whose client
// end (the remote address of the proxy's accepted socket) is client, and
// forgets it: an entry answers one accept only, so a later connection
// from the same port by a process outside every sandbox is never taken
// for the sandbox's.
func (h *Hooks) Lookup(client netip.AddrPort) (Orig, bool) {
	k := hooksPeer{Addr: client.Addr().As16(), Port: uint32(client.Port())}
	var v hooksOrig
	if err := h.objs.OrigByPeer.LookupAndDelete(&k, &v); err != nil {
		return Orig{}, false
	}
	return Orig{Cgroup: v.Cgroup, PID: v.Pid, Dst: netip.AddrPortFrom(netip.AddrFrom16(v.Addr).Unmap(), v.Port)}, true
}
