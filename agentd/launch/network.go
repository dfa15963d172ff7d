package launch

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/agentd/landlock"
	"github.com/paddock-sh/paddock/agentd/shim"
	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/compiler/hostpattern"
	"github.com/paddock-sh/paddock/compiler/seccomp"
	"github.com/paddock-sh/paddock/compiler/syscalls"
)

// ProxyPort is where the egress proxy listens inside the sandbox's network
// namespace, on 127.0.0.1 and ::1. It speaks HTTP (CONNECT and
// absolute-form requests) and SOCKS5 on the same port.
const ProxyPort = 3128

// Forward is a loopback port the policy names: a listener inside the
// sandbox's namespace that the launcher connects to the same port on the
// host's loopback.
type Forward struct {
	Port uint16 `json:"port"`
	Rule string `json:"rule"`
}

// planNetwork gives the sandbox a network namespace of its own holding
// nothing but loopback. The launcher serves the egress proxy on
// 127.0.0.1:3128 inside it (the proxy variables point there) and forwards
// the loopback ports the policy names; no other packet can leave. Three
// walls, each enough alone: the namespace, Landlock's TCP connect rule
// (only those ports), and a seccomp socket allowlist (no raw, packet,
// vsock or ICMP sockets). Programs that ignore the proxy variables cannot
// connect at all; with agentd, cgroup hooks send them through the proxy
// transparently.
func (l *Launch) planNetwork() error {
	b := l.opts.Bundle
	if b.Metadata.Mode == bundle.ModeAudit {
		l.Layers = append(l.Layers, Layer{Name: "network", State: Off, Detail: "audit mode without agentd: connections are neither proxied nor blocked"})
		return nil
	}
	prog, err := socketAllowlist()
	if err != nil {
		return err
	}
	if l.policyProg != nil {
		// One program, not two: for every call the kernel's cache cannot
		// skip, each filter costs a fixed call.
		chained, err := seccomp.Chain(l.policyProg, prog)
		if err != nil {
			return fmt.Errorf("seccomp: %w", err)
		}
		l.spec.Seccomp[len(l.spec.Seccomp)-1] = shim.Program(seccomp.Marshal(chained))
		l.policyProg = chained
	} else {
		l.spec.Seccomp = append(l.spec.Seccomp, shim.Program(seccomp.Marshal(prog)))
	}
	if l.opts.Daemon != nil {
		// agentd's cgroup hooks are the network layer; Join plans the
		// rest once the sandbox exists. Landlock must not judge TCP
		// connects: it sees the address before the hooks redirect it, so
		// a port rule would refuse what the proxy is there to decide. It
		// keeps refusing every bind when the policy allows no listening.
		if ll := l.spec.Landlock; ll != nil && ll.Net != 0 {
			ll.Net = 0
			if b.Network.Listen == bundle.ListenNone {
				ll.Net = landlock.NetBindTCP
			}
		}
		return nil
	}

	l.NetNS = true
	l.UserNS = os.Geteuid() != 0
	listen := []shim.Listen{{Addr: "127.0.0.1:" + strconv.Itoa(ProxyPort)}, {Addr: "[::1]:" + strconv.Itoa(ProxyPort)}}
	ports := []uint16{ProxyPort}
	l.Forwards = loopbackForwards(&b.Network)
	for _, f := range l.Forwards {
		listen = append(listen, shim.Listen{Addr: "127.0.0.1:" + strconv.Itoa(int(f.Port))})
		ports = append(ports, f.Port)
	}
	l.spec.Net = &shim.Net{Listen: listen}
	if ll := l.spec.Landlock; ll != nil && ll.Net != 0 {
		ll.ConnectPorts = ports
		if b.Network.Listen != bundle.ListenNone {
			// Servers inside the namespace are reachable from inside it
			// only; binding is harmless there.
			ll.Net &^= landlock.NetBindTCP
		}
	}
	proxy := "http://127.0.0.1:" + strconv.Itoa(ProxyPort)
	l.netEnv = map[string]string{
		"HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "http_proxy": proxy, "https_proxy": proxy,
		"ALL_PROXY": "socks5h://127.0.0.1:" + strconv.Itoa(ProxyPort), "all_proxy": "socks5h://127.0.0.1:" + strconv.Itoa(ProxyPort),
		"NO_PROXY": "localhost,127.0.0.1,::1", "no_proxy": "localhost,127.0.0.1,::1",
	}
	detail := fmt.Sprintf("egress proxy in agentctl on 127.0.0.1:%d (HTTP CONNECT, absolute-form HTTP, SOCKS5; set as HTTP(S)_PROXY and ALL_PROXY); the sandbox has a network namespace of its own with loopback only", ProxyPort)
	if len(l.Forwards) > 0 {
		detail += fmt.Sprintf("; %d loopback ports the policy names are forwarded to the host", len(l.Forwards))
	}
	if len(b.Credentials) > 0 {
		l.Layers = append(l.Layers, Layer{Name: "credentials", State: Degraded, Detail: "need agentd, which holds the secrets: the sandbox sees placeholders and nothing injects them, so requests that need them fail"})
	}
	l.Layers = append(l.Layers,
		Layer{Name: "network", State: Enforced, Detail: detail},
		Layer{Name: "socket-allowlist", State: Enforced, Detail: "sockets: unix, IPv4 and IPv6 TCP and UDP, netlink; raw, ICMP, packet, vsock, MPTCP and the rest fail"},
		Layer{Name: "cgroup-bpf", State: Degraded, Detail: "needs agentd: programs that ignore the proxy variables cannot connect at all (fail closed); DNS does not resolve inside the sandbox"},
	)
	return nil
}

// Join completes an agentd launch's plan for sb, the sandbox agentd made:
// its cgroup, whose hooks send every connection to agentd's proxy
// (programs that ignore the proxy variables included), every DNS query to
// its stub, and refuse the rest, with the workload in the host's network
// namespace; the proxy's variables; and the layers agentd holds. Run joins
// the sandbox Daemon.Create returns; agentctl run --explain, which makes
// none, joins a stand-in.
func (l *Launch) Join(sb *Sandbox) error {
	d := l.opts.Daemon
	if d == nil {
		return errors.New("launch: Join on a launch without agentd")
	}
	b := l.opts.Bundle
	if len(b.Credentials) > 0 && sb.CABundle != d.CABundle {
		return fmt.Errorf("agentd names %q as its CA bundle, not %q, which the launch granted", sb.CABundle, d.CABundle)
	}
	l.spec.Cgroup = sb.Cgroup
	if len(b.Filesystem.Deny) > 0 {
		layer := Layer{Name: "bpf-lsm", State: Enforced, Detail: "agentd's BPF-LSM hooks refuse the deny rules on open, create, rename, link and truncate, names created after launch included"}
		if sb.FileDeny != "" {
			layer = Layer{Name: "bpf-lsm", State: Degraded, Detail: "agentd cannot enforce the deny rules on names created after launch (" + sb.FileDeny + "): they cover what exists at launch"}
		}
		l.Layers = append(l.Layers, layer)
	}
	port := strconv.Itoa(int(sb.ProxyPort))
	proxy := "http://127.0.0.1:" + port
	l.netEnv = map[string]string{
		"HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "http_proxy": proxy, "https_proxy": proxy,
		"ALL_PROXY": "socks5h://127.0.0.1:" + port, "all_proxy": "socks5h://127.0.0.1:" + port,
		"NO_PROXY": "localhost,127.0.0.1,::1", "no_proxy": "localhost,127.0.0.1,::1",
	}
	if len(b.Credentials) > 0 {
		for _, v := range caVariables {
			l.netEnv[v] = d.CABundle
		}
		for env, u := range sb.BaseURLs {
			l.netEnv[env] = u
		}
		names := []string{}
		for _, c := range b.Credentials {
			names = append(names, c.Name)
		}
		l.Layers = append(l.Layers, Layer{Name: "credentials", State: Enforced, Detail: fmt.Sprintf("%s: the sandbox holds placeholders; agentd's proxy injects the secrets on requests to their hosts over TLS (its CA is in %s)", strings.Join(names, ", "), d.CABundle)})
	}
	l.setEnv(setAll(l.spec.Env, l.netEnv))
	l.Layers = append(l.Layers,
		Layer{Name: "network", State: Enforced, Detail: fmt.Sprintf("agentd sandbox %s: agentd's egress proxy on 127.0.0.1:%d (set as HTTP(S)_PROXY and ALL_PROXY) checks every destination", sb.ID, sb.ProxyPort)},
		Layer{Name: "cgroup-bpf", State: Enforced, Detail: "agentd's cgroup hooks send connections of programs that ignore the proxy variables to the proxy, all DNS to its stub, and refuse other UDP, raw sockets, unlisted unix sockets and non-loopback binds"},
		Layer{Name: "socket-allowlist", State: Enforced, Detail: "sockets: unix, IPv4 and IPv6 TCP and UDP, netlink; raw, ICMP, packet, vsock, MPTCP and the rest fail"},
	)
	return nil
}

// loopbackForwards lists the single loopback ports the policy allows and no
// deny rule takes back. Port ranges and "any port" are not forwarded: a
// forwarder per port of a range would be a listener per port.
func loopbackForwards(n *bundle.Network) []Forward {
	var out []Forward
	for _, a := range n.Allow {
		p, err := hostpattern.ParsePattern(a.Pattern)
		if err != nil || !p.Loopback() {
			continue
		}
		port, ok := p.Ports.Single()
		if !ok || port == ProxyPort || slices.ContainsFunc(out, func(f Forward) bool { return f.Port == port }) {
			continue
		}
		d, err := n.Decide(netip.AddrFrom4([4]byte{127, 0, 0, 1}).String(), port)
		if err != nil || d.Verdict != bundle.VerdictAllow {
			continue
		}
		out = append(out, Forward{Port: port, Rule: a.Rule.String()})
	}
	return out
}

// socketAllowlist is a second seccomp program: socket() and socketpair()
// only for the families and protocols the network layer covers. Raw, ICMP,
// packet, vsock and SCTP sockets send without any address check, and
// MPTCP escapes Landlock's TCP rules, so they fail.
func socketAllowlist() ([]bpf.RawInstruction, error) {
	arch, err := seccomp.NativeArch()
	if err != nil {
		return nil, err
	}
	families := []uint64{unix.AF_UNIX, unix.AF_INET, unix.AF_INET6, unix.AF_NETLINK}
	checks := []seccomp.Check{
		{Arg: 0, Bits: 32, Mask: 0xffffffff, Op: seccomp.In, Values: families, Fail: seccomp.Errno(unix.EAFNOSUPPORT)},
		// Netlink's protocol 0 is NETLINK_ROUTE, which Go and libc use to
		// list interfaces; the others need capabilities the sandbox lacks.
		{Arg: 2, Bits: 32, Mask: 0xffffffff, Op: seccomp.In, Values: []uint64{0, unix.IPPROTO_TCP, unix.IPPROTO_UDP}, Fail: seccomp.Errno(unix.EPROTONOSUPPORT)},
	}
	f := &seccomp.Filter{
		Arch: arch, BadArch: seccomp.Allow, X32: seccomp.Allow, Newer: seccomp.Allow, Default: seccomp.Allow,
		MaxNr:    uint32(syscalls.MaxNumber(arch.Name)),
		Syscalls: map[uint32]seccomp.Syscall{},
	}
	for _, name := range []string{"socket", "socketpair"} {
		nr, ok := syscalls.Number(arch.Name, name)
		if !ok {
			return nil, fmt.Errorf("no %s syscall on %s", name, arch.Name)
		}
		f.Syscalls[uint32(nr)] = seccomp.Syscall{Name: name, Action: seccomp.Allow, Checks: checks}
	}
	return f.Assemble()
}
