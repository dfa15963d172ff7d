//go:build linux

package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/netutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
	"github.com/paddock-sh/paddock/agentd/peer"
)

// The remote listener (DESIGN.md D8): the same services on TCP with mutual
// TLS, for readers off the host. A client certificate reads (the Events
// service, every sandbox's events); one carrying the URI SAN AdminRole may
// also manage sandboxes, as root.

// AdminRole is the URI SAN that lets a client certificate call the
// Sandboxes service.
const AdminRole = "paddock:role:admin"

// remoteMaxConns bounds the remote listener's open connections, handshakes
// included, so unauthenticated peers cannot exhaust the daemon.
const remoteMaxConns = 256

type remote struct {
	conf *tls.Config
	srv  *grpc.Server
	ln   net.Listener
}

// loadRemote checks the remote listener's configuration and reads its
// files; nil when there is no remote listener. It runs before the daemon
// touches anything, so a bad configuration leaves no trace.
func loadRemote(cfg Config) (*remote, error) {
	files := map[string]string{"TLS certificate": cfg.TLSCert, "TLS key": cfg.TLSKey, "client CA": cfg.ClientCA}
	if cfg.RemoteListen == "" {
		for what, f := range files {
			if f != "" {
				return nil, fmt.Errorf("remote listener: a %s (%s) is given without a TCP address to listen on", what, f)
			}
		}
		return nil, nil
	}
	var missing []string
	for _, what := range []string{"TLS certificate", "TLS key", "client CA"} {
		if files[what] == "" {
			missing = append(missing, what)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("remote listener on %s: needs a TLS certificate, a TLS key and a client CA; missing: %s", cfg.RemoteListen, strings.Join(missing, ", "))
	}
	// The key must be root's alone; the certificate and the CA may be
	// read by anyone but changed by root only: whoever can rewrite the CA
	// file can mint an admin certificate.
	key, err := readRootFile(cfg.TLSKey, "TLS key", 0o077)
	if err != nil {
		return nil, err
	}
	certPEM, err := readRootFile(cfg.TLSCert, "TLS certificate", 0o022)
	if err != nil {
		return nil, err
	}
	caPEM, err := readRootFile(cfg.ClientCA, "client CA", 0o022)
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, key)
	if err != nil {
		return nil, fmt.Errorf("remote listener: TLS certificate %s with key %s: %w", cfg.TLSCert, cfg.TLSKey, err)
	}
	cas := x509.NewCertPool()
	if !cas.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("remote listener: client CA %s holds no PEM certificate", cfg.ClientCA)
	}
	return &remote{conf: &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    cas,
	}}, nil
}

// readRootFile reads a regular file owned by root whose permissions have
// none of the bits in forbid. The checks are made on the open file, so
// what is checked is what is read.
func readRootFile(path, what string, forbid os.FileMode) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOCTTY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("remote listener: %s: %w", what, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("remote listener: %s: %w", what, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("remote listener: %s %s is not a regular file", what, path)
	}
	if uid := fileUID(st); uid != 0 || st.Mode().Perm()&forbid != 0 {
		allowed := "writable by root only"
		if forbid&0o044 != 0 {
			allowed = "readable and writable by root only"
		}
		return nil, fmt.Errorf("remote listener: %s %s must be owned by root and %s (it is %v, uid %d)", what, path, allowed, st.Mode().Perm(), uid)
	}
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("remote listener: %s %s: %w", what, path, err)
	}
	return data, nil
}

// listenRemote opens the remote listener and its server, with the same
// services and interceptors as the unix socket's but identities from
// client certificates and roles from them.
func (d *Daemon) listenRemote() error {
	r := d.remote
	if r == nil {
		return nil
	}
	ln, err := net.Listen("tcp", d.cfg.RemoteListen)
	if err != nil {
		return fmt.Errorf("remote listener: %w", err)
	}
	r.ln = netutil.LimitListener(ln, remoteMaxConns)
	// A handshake that has not finished in 10s is dropped (gRPC's default
	// is two minutes).
	r.srv = newServerWith(d, peer.TLSCredentials(r.conf), d.authoriseRemote, grpc.ConnectionTimeout(10*time.Second))
	apiv1.RegisterSandboxesServer(r.srv, &sandboxService{s: d.sbx})
	apiv1.RegisterEventsServer(r.srv, &eventService{d: d})
	apiv1.RegisterApprovalsServer(r.srv, &approvalService{a: d.approvals})
	// The metrics are shared with the unix socket's server: one series per
	// method, whichever listener served the call.
	d.metrics.initServer(r.srv)
	d.logger.Info("remote API listening (mutual TLS)", "address", ln.Addr().String(), "client_ca", d.cfg.ClientCA)
	return nil
}

// closeRemote undoes listenRemote for a start that fails later.
func (d *Daemon) closeRemote() {
	if d.remote != nil && d.remote.ln != nil {
		d.remote.srv.Stop()
		d.remote.ln.Close()
	}
}

// serveRemote answers remote calls in the background until Shutdown.
func (d *Daemon) serveRemote() {
	if d.remote == nil || d.remote.srv == nil {
		return
	}
	go func() {
		if err := d.remote.srv.Serve(d.remote.ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			d.logger.Error("the remote API stopped", "err", err)
		}
	}()
}

// stopRemote stops the remote server, gracefully until ctx is done; the
// channel closes when it has stopped.
func (d *Daemon) stopRemote(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	if d.remote == nil || d.remote.srv == nil {
		close(done)
		return done
	}
	srv := d.remote.srv
	go func() {
		defer close(done)
		graceful := make(chan struct{})
		go func() { srv.GracefulStop(); close(graceful) }()
		select {
		case <-graceful:
		case <-ctx.Done():
			srv.Stop()
			<-graceful
		}
	}()
	return done
}

// authoriseRemote lets a certificate call the Events service and watch
// approval requests, and call the Sandboxes service and answer approval
// requests if it carries AdminRole; everything else is refused.
func (d *Daemon) authoriseRemote(ctx context.Context) error {
	cr, ok := peer.FromContext(ctx)
	if !ok || !cr.Remote() {
		// Only TLSCredentials make identities here; anything else is a
		// wiring mistake and must not pass for a certificate.
		d.metrics.refused.WithLabelValues("no-identity").Inc()
		return status.Error(codes.Unauthenticated, "the caller's certificate is unknown")
	}
	method, _ := grpc.Method(ctx)
	admin := isAdmin(cr.Cert)
	if remoteAllowed(method, admin) {
		return nil
	}
	role := "read-only"
	if admin {
		role = "admin"
	}
	d.metrics.refused.WithLabelValues("remote-role").Inc()
	d.logger.Warn("remote API call refused", "method", method, "peer_cert", cr.Cert.Subject.String(), "role", role)
	return status.Errorf(codes.PermissionDenied, "%s is not allowed to certificate %q (role %s)", method, cr.Cert.Subject.String(), role)
}

func remoteAllowed(method string, admin bool) bool {
	service, name, ok := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	if !ok {
		return false
	}
	switch service {
	case apiv1.Events_ServiceDesc.ServiceName:
		return true
	case apiv1.Sandboxes_ServiceDesc.ServiceName:
		// Enter moves the caller's own child process into a sandbox; a
		// remote caller has no process on this host, and its pid 0 must
		// not be taken for the parent of init or kthreadd.
		return admin && name != "Enter"
	case apiv1.Approvals_ServiceDesc.ServiceName:
		// Every reader sees the requests; answering is managing.
		return name == "Watch" || admin
	}
	return false
}

// isAdmin reports whether a verified client certificate carries AdminRole.
func isAdmin(c *x509.Certificate) bool {
	for _, u := range c.URIs {
		if u.String() == AdminRole {
			return true
		}
	}
	return false
}
