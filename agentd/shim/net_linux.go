package shim

import (
	"fmt"
	"net/netip"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// NetFD is the unix socket the shim sends its listening sockets back on,
// when the Spec asks for a network namespace of its own.
const NetFD = 4

// Net is the sandbox's own network namespace: nothing but loopback, so no
// packet leaves except through sockets the launcher serves from outside.
type Net struct {
	// Listen lists the sockets the shim creates inside the namespace and
	// hands to the launcher, which serves them from the host's namespace:
	// the egress proxy, and forwarders to loopback ports the policy names.
	Listen []Listen `json:"listen"`
}

// Listen is one TCP listening socket, by address ("127.0.0.1:3128").
type Listen struct {
	Addr string `json:"addr"`
}

// setupNet brings loopback up in the namespace the launcher made, then
// creates each listening socket and sends it to the launcher.
func setupNet(n *Net) error {
	if err := loopbackUp(); err != nil {
		return fmt.Errorf("bringing up loopback in the sandbox's network namespace: %w", err)
	}
	for _, l := range n.Listen {
		fd, err := listenTCP(l.Addr)
		if err != nil {
			return fmt.Errorf("listening on %s inside the sandbox: %w", l.Addr, err)
		}
		err = unix.Sendmsg(NetFD, []byte{1}, unix.UnixRights(fd), nil, 0)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("handing the %s socket to the launcher: %w", l.Addr, err)
		}
	}
	return unix.Close(NetFD)
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

func listenTCP(addr string) (int, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return -1, err
	}
	var sa unix.Sockaddr
	family := unix.AF_INET
	if ap.Addr().Is4() {
		sa = &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}
	} else {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Addr: ap.Addr().As16(), Port: int(ap.Port())}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if family == unix.AF_INET6 {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := unix.Listen(fd, 512); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// ReceiveListeners reads n sockets the shim sent on the launcher's end of
// the NetFD socket pair, in the order of Net.Listen.
func ReceiveListeners(conn *os.File, n int) ([]*os.File, error) {
	out := make([]*os.File, 0, n)
	oob := make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(int32(0)))))
	buf := make([]byte, 1)
	for len(out) < n {
		_, oobn, _, _, err := unix.Recvmsg(int(conn.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err != nil {
			return out, err
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			return out, fmt.Errorf("the shim sent no socket (it failed before its network was ready)")
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			return out, fmt.Errorf("the shim sent a malformed socket message")
		}
		out = append(out, os.NewFile(uintptr(fds[0]), "sandbox-listener"))
	}
	return out, nil
}
