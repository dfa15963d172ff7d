//go:build linux

// Package peer tells who is on the other end of an API connection: on the
// local socket by the kernel's word (the uid, gid and pid of SO_PEERCRED and
// the cgroup of that process), on the remote listener by a client
// certificate that the TLS handshake verified; never anything the client
// says about itself.
package peer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
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
	// Cert is set only for a caller on the remote listener (TLSCredentials):
	// its verified client certificate. Such a caller has no process, uid or
	// cgroup on this host; its UID is 0, so what it may read is not narrowed
	// to one user's sandboxes, and which calls it may make at all is decided
	// from the certificate. The unix socket's handshake never sets it.
	Cert *x509.Certificate
}

// Remote reports whether the caller came through the remote listener.
func (c Cred) Remote() bool { return c.Cert != nil }

func (c Cred) String() string {
	if c.Cert != nil {
		return "certificate " + c.Cert.Subject.String()
	}
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
func (a AuthInfo) AuthType() string {
	if a.Cred.Remote() {
		return "tls"
	}
	return "peercred"
}

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

// TLSCredentials are gRPC transport credentials for the remote listener:
// TLS with conf, which must require and verify client certificates. The
// caller's identity is the leaf of the chain the handshake verified; a
// connection without one is refused.
func TLSCredentials(conf *tls.Config) credentials.TransportCredentials {
	return tlsCreds{credentials.NewTLS(conf)}
}

type tlsCreds struct {
	credentials.TransportCredentials
}

func (c tlsCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, ai, err := c.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		return nil, nil, err
	}
	ti, ok := ai.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		conn.Close()
		return nil, nil, errors.New("peer: no verified client certificate")
	}
	return conn, AuthInfo{CommonAuthInfo: ti.CommonAuthInfo, Cred: Cred{Cert: ti.State.VerifiedChains[0][0]}}, nil
}

func (c tlsCreds) Clone() credentials.TransportCredentials {
	return tlsCreds{c.TransportCredentials.Clone()}
}

// FromContext returns the caller of a gRPC call served with Credentials or
// TLSCredentials.
func FromContext(ctx context.Context) (Cred, bool) {
	p, ok := grpcpeer.FromContext(ctx)
	if !ok {
		return Cred{}, false
	}
	ai, ok := p.AuthInfo.(AuthInfo)
	return ai.Cred, ok
}
