//go:build linux

// Package peer tells who is on the other end of a local API connection, by
// the kernel's word: the uid, gid and pid of SO_PEERCRED and the cgroup of
// that process, never anything the client says about itself.
package peer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/credentials"
	grpcpeer "google.golang.org/grpc/peer"
)

// Cred is a caller's identity.
type Cred struct {
	PID, UID, GID uint32
	// Cgroup is the caller's cgroup2 path (as /proc/PID/cgroup writes it,
	// relative to the cgroup2 mount) at the time it connected.
	Cgroup string
}

func (c Cred) String() string {
	return fmt.Sprintf("pid %d uid %d gid %d cgroup %s", c.PID, c.UID, c.GID, c.Cgroup)
}

// Of reads the identity of the process that connected c, a unix socket.
// The cgroup is read through a pidfd taken from the socket itself
// (SO_PEERPIDFD), and the pidfd is checked to be alive after the read, so a
// pid reused in between cannot lend its cgroup to the caller.
func Of(c *net.UnixConn) (Cred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return Cred{}, err
	}
	var (
		uc     *unix.Ucred
		pidfd  = -1
		sysErr error
	)
	err = raw.Control(func(fd uintptr) {
		uc, sysErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if sysErr == nil {
			pidfd, sysErr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PEERPIDFD)
		}
	})
	if err == nil {
		err = sysErr
	}
	if err != nil {
		return Cred{}, fmt.Errorf("peer credentials: %w", err)
	}
	defer unix.Close(pidfd)
	cr := Cred{PID: uint32(uc.Pid), UID: uc.Uid, GID: uc.Gid}
	cg, err := CgroupOf(int(uc.Pid))
	if err != nil {
		return Cred{}, err
	}
	if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil {
		return Cred{}, fmt.Errorf("peer pid %d exited while it connected: %w", uc.Pid, err)
	}
	cr.Cgroup = cg
	return cr, nil
}

// CgroupOf reads the cgroup2 path of pid, relative to the cgroup2 mount.
func CgroupOf(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", fmt.Errorf("peer cgroup: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("peer pid %d has no cgroup2 entry", pid)
}

// Under reports whether cgroup path c is root or below it.
func Under(c, root string) bool {
	root = strings.TrimSuffix(root, "/")
	return c == root || strings.HasPrefix(c, root+"/")
}

// AuthInfo carries a Cred through gRPC.
type AuthInfo struct {
	credentials.CommonAuthInfo
	Cred Cred
}

// AuthType names the credential kind.
func (AuthInfo) AuthType() string { return "peercred" }

// Credentials are gRPC transport credentials for a unix socket server:
// the handshake reads the peer's identity from the kernel and refuses a
// connection whose identity cannot be read.
func Credentials() credentials.TransportCredentials { return creds{} }

type creds struct{}

func (creds) ClientHandshake(_ context.Context, _ string, c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c, AuthInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}, nil
}

func (creds) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil, nil, errors.New("peer: not a unix socket connection")
	}
	cr, err := Of(uc)
	if err != nil {
		return nil, nil, err
	}
	return c, AuthInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}, Cred: cr}, nil
}

func (creds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "peercred"}
}
func (c creds) Clone() credentials.TransportCredentials { return c }
func (creds) OverrideServerName(string) error           { return nil }

// FromContext returns the caller of a gRPC call served with Credentials.
func FromContext(ctx context.Context) (Cred, bool) {
	p, ok := grpcpeer.FromContext(ctx)
	if !ok {
		return Cred{}, false
	}
	ai, ok := p.AuthInfo.(AuthInfo)
	return ai.Cred, ok
}
