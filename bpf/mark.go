//go:build linux

package bpf

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// Mark is the SO_MARK the hooks require of the sockets they send traffic
// to: the egress proxy's listeners and the DNS stub's sockets (PADDOCK_MARK
// in common.h). Setting a mark needs CAP_NET_ADMIN, so while agentd is
// down nobody else can take over its ports and be sent a sandbox's
// connections: the hooks refuse them (ReasonProxyDown).
const Mark = 0x70646b31

// ListenConfig marks every socket it makes with Mark.
func ListenConfig() net.ListenConfig {
	return net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, Mark) }); err != nil {
			return err
		}
		return serr
	}}
}
