//go:build linux

package daemon

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	grpcpeer "google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
	"github.com/paddock-sh/paddock/agentd/peer"
	"github.com/paddock-sh/paddock/internal/kerneltest"
)

// testCA is a throwaway CA for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

var serial int64 = 100

// issue signs a fresh P-256 key; tmpl gives the subject, names, usage and,
// if set, the validity (else one hour from a minute ago).
func (ca *testCA) issue(t *testing.T, tmpl *x509.Certificate) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl.SerialNumber = big.NewInt(serial)
	if tmpl.NotAfter.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func clientCert(ca *testCA, t *testing.T, cn string, uris ...string) tls.Certificate {
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: cn, Organization: []string{"SOC"}}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	return ca.issue(t, tmpl)
}

// remoteFiles are the PEM files of a remote listener: a server
// certificate for 127.0.0.1, its key (0600) and the client CA.
type remoteFiles struct{ cert, key, ca string }

func writeRemoteFiles(t *testing.T, ca *testCA) remoteFiles {
	t.Helper()
	dir := t.TempDir()
	srv := ca.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "agentd"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	keyDER, err := x509.MarshalPKCS8PrivateKey(srv.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	f := remoteFiles{cert: filepath.Join(dir, "server.pem"), key: filepath.Join(dir, "server.key"), ca: filepath.Join(dir, "clients-ca.pem")}
	write := func(path, typ string, der []byte, mode os.FileMode) {
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	write(f.cert, "CERTIFICATE", srv.Certificate[0], 0o644)
	write(f.key, "PRIVATE KEY", keyDER, 0o600)
	write(f.ca, "CERTIFICATE", ca.cert.Raw, 0o644)
	return f
}

func withRemote(f remoteFiles) func(*Config) {
	return func(c *Config) {
		c.RemoteListen, c.TLSCert, c.TLSKey, c.ClientCA = "127.0.0.1:0", f.cert, f.key, f.ca
	}
}

func remoteClient(t *testing.T, addr string, roots *x509.CertPool, cert *tls.Certificate) *grpc.ClientConn {
	t.Helper()
	conf := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13}
	if cert != nil {
		conf.Certificates = []tls.Certificate{*cert}
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(conf)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// tlsSession completes a handshake and reads the server's first bytes.
// In TLS 1.3 the server checks the client's certificate after the
// client's side of the handshake is done: a refusal arrives as an alert on
// the first read.
func tlsSession(addr string, conf *tls.Config) error {
	conf.NextProtos = []string{"h2"}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, conf)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 1))
	return err
}

// TestRemoteListener: over mutual TLS a plain client certificate reads
// (Info, every event) and may not manage sandboxes; an admin certificate
// may; no certificate, another CA's, an expired one or TLS 1.2 get no
// session at all. The unix socket is served as before.
func TestRemoteListener(t *testing.T) {
	kerneltest.Privileged(t)
	ca := newTestCA(t, "paddock test clients")
	files := writeRemoteFiles(t, ca)
	logs := &lockedBuffer{}
	td := startDaemon(t, t.TempDir(), kerneltest.PinDir(t), withRemote(files), func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	addr := td.d.remote.ln.Addr().String()
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("listening on %s", addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	reader := clientCert(ca, t, "soc-reader")
	admin := clientCert(ca, t, "soc-admin", AdminRole)
	// Another CA, even of the same name: the client sends its certificate.
	other := clientCert(newTestCA(t, "paddock test clients"), t, "soc-reader")
	otherAdmin := clientCert(newTestCA(t, "someone else"), t, "soc-admin", AdminRole)
	expired := ca.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "soc-old"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})

	// The unix socket: unchanged, and root's sandbox is there for the
	// remote readers to see.
	local := client(t, td.socket)
	created, err := apiv1.NewSandboxesClient(local).Create(ctx, &apiv1.CreateSandboxRequest{Policy: &apiv1.CreateSandboxRequest_Bundle{Bundle: testBundle(t)}, Name: "remote-test"})
	if err != nil {
		t.Fatal("create over the unix socket:", err)
	}
	if _, err := apiv1.NewEventsClient(local).Info(ctx, &apiv1.InfoRequest{}); err != nil {
		t.Fatal("info over the unix socket:", err)
	}

	// A read-only certificate.
	rc := remoteClient(t, addr, ca.pool, &reader)
	info, err := apiv1.NewEventsClient(rc).Info(ctx, &apiv1.InfoRequest{})
	if err != nil || info.Version != "test" || info.Sandboxes != 1 {
		t.Fatalf("remote info: %v %v", info, err)
	}
	// The created event is logged a moment after Create returns.
	want := "daemon-started:,created:" + created.Id
	var phases []string
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		phases = phases[:0]
		for _, ev := range readAll(t, apiv1.NewEventsClient(rc), 0) {
			if lc := ev.GetLifecycle(); lc != nil {
				phases = append(phases, lc.Phase+":"+ev.SandboxId)
			}
		}
		if strings.Join(phases, ",") == want || time.Now().After(deadline) {
			break
		}
	}
	if strings.Join(phases, ",") != want {
		t.Fatalf("a remote reader's events: %v, want %s", phases, want)
	}
	sbx := apiv1.NewSandboxesClient(rc)
	_, err = sbx.List(ctx, &apiv1.ListSandboxesRequest{})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "/paddock.v1.Sandboxes/List") || !strings.Contains(err.Error(), "CN=soc-reader") {
		t.Fatalf("a read-only certificate listing sandboxes: %v", err)
	}
	if _, err := sbx.Create(ctx, &apiv1.CreateSandboxRequest{Policy: &apiv1.CreateSandboxRequest_Bundle{Bundle: testBundle(t)}}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a read-only certificate creating a sandbox: %v", err)
	}
	if _, err := sbx.Destroy(ctx, &apiv1.DestroySandboxRequest{Id: created.Id}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a read-only certificate destroying a sandbox: %v", err)
	}

	// An admin certificate manages sandboxes, as root; Enter, which needs
	// the caller's own child process on this host, stays refused.
	ac := remoteClient(t, addr, ca.pool, &admin)
	list, err := apiv1.NewSandboxesClient(ac).List(ctx, &apiv1.ListSandboxesRequest{})
	if err != nil || len(list.Sandboxes) != 1 || list.Sandboxes[0].Id != created.Id {
		t.Fatalf("an admin certificate listing sandboxes: %v %v", list, err)
	}
	if _, err := apiv1.NewSandboxesClient(ac).Enter(ctx, &apiv1.EnterRequest{Id: created.Id, Pid: 1}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("an admin certificate entering pid 1: %v", err)
	}
	// Approval requests: every certificate watches them; answering needs
	// an admin certificate.
	if st, err := apiv1.NewApprovalsClient(rc).Watch(ctx, &apiv1.WatchApprovalsRequest{}); err != nil {
		t.Fatalf("a read-only certificate watching approvals: %v", err)
	} else if _, err := st.Recv(); err != io.EOF {
		t.Fatalf("a read-only certificate watching approvals: %v", err)
	}
	noSuch := &apiv1.AnswerApprovalRequest{Id: "apr-0000000000000000", Decision: apiv1.Decision_DECISION_ALLOW_ONCE}
	if _, err := apiv1.NewApprovalsClient(rc).Answer(ctx, noSuch); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a read-only certificate answering an approval: %v", err)
	}
	if _, err := apiv1.NewApprovalsClient(ac).Answer(ctx, noSuch); status.Code(err) != codes.NotFound {
		t.Fatalf("an admin certificate answering an unknown approval: %v", err)
	}

	// No session without a good certificate, or below TLS 1.3.
	good := func() *tls.Config {
		return &tls.Config{RootCAs: ca.pool, Certificates: []tls.Certificate{reader}}
	}
	if err := tlsSession(addr, good()); err != nil {
		t.Fatalf("a good certificate: %v", err)
	}
	for name, conf := range map[string]*tls.Config{
		"no certificate": {RootCAs: ca.pool},
		"another CA's":   {RootCAs: ca.pool, Certificates: []tls.Certificate{other}},
		"another CA's admin": {RootCAs: ca.pool, GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &otherAdmin, nil // sent although the server asks for its own CA's
		}},
		"expired":              {RootCAs: ca.pool, Certificates: []tls.Certificate{expired}},
		"TLS 1.2":              func() *tls.Config { c := good(); c.MaxVersion = tls.VersionTLS12; return c }(),
		"a server certificate": {RootCAs: ca.pool, Certificates: []tls.Certificate{ca.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "srv"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})}},
	} {
		if err := tlsSession(addr, conf); err == nil || !strings.Contains(err.Error(), "tls:") {
			t.Errorf("%s: a session (%v)", name, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	if _, err := apiv1.NewEventsClient(remoteClient(t, addr, ca.pool, nil)).Info(ctx, &apiv1.InfoRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("a gRPC client without a certificate: %v", err)
	}

	// The log names the certificate as the peer.
	if l := logs.String(); !strings.Contains(l, `peer_cert="CN=soc-reader,O=SOC"`) || !strings.Contains(l, "grpc.method=List") {
		t.Fatalf("the log does not name the remote caller:\n%s", l)
	}

	// Identities do not cross listeners.
	unixCaller := grpcpeer.NewContext(ctx, &grpcpeer.Peer{AuthInfo: peer.AuthInfo{Cred: peer.Cred{UID: 0, PID: 1, Cgroup: "/user.slice"}}})
	if err := td.d.authoriseRemote(unixCaller); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("a unix identity on the remote listener: %v", err)
	}
	certCaller := grpcpeer.NewContext(ctx, &grpcpeer.Peer{AuthInfo: peer.AuthInfo{Cred: peer.Cred{Cert: admin.Leaf}}})
	if err := td.d.authorise(certCaller); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("a certificate identity on the unix socket: %v", err)
	}

	// One registry: remote calls are in the gRPC metrics with the local
	// ones, and refusals by role are counted.
	if n := counter(t, td.d, "grpc_server_handled_total", map[string]string{"grpc_method": "Info", "grpc_code": "OK"}); n < 2 {
		t.Fatalf("Info calls counted: %v", n)
	}
	if n := counter(t, td.d, "grpc_server_handled_total", map[string]string{"grpc_method": "List", "grpc_code": "PermissionDenied"}); n != 1 {
		t.Fatalf("refused List calls counted: %v", n)
	}
	if n := counter(t, td.d, "paddock_api_refused_total", map[string]string{"reason": "remote-role"}); n != 5 {
		t.Fatalf("refusals by role counted: %v", n)
	}

	// Rate limits are per certificate: one reader's flood leaves the
	// other certificates and the unix socket alone.
	limited := false
	for i := 0; i < 5*callRate && !limited; i++ {
		_, err := apiv1.NewEventsClient(rc).Info(ctx, &apiv1.InfoRequest{})
		limited = status.Code(err) == codes.ResourceExhausted
	}
	if !limited {
		t.Fatalf("%d calls at once were not limited", 5*callRate)
	}
	if _, err := apiv1.NewEventsClient(ac).Info(ctx, &apiv1.InfoRequest{}); err != nil {
		t.Fatal("another certificate after one's flood:", err)
	}
	if _, err := apiv1.NewEventsClient(local).Info(ctx, &apiv1.InfoRequest{}); err != nil {
		t.Fatal("the unix socket after a remote flood:", err)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// counter sums a metric's samples whose labels include want.
func counter(t *testing.T, d *Daemon, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := d.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue next
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// TestRemoteListenerRefused: the daemon does not start on a remote
// configuration it cannot trust, and says which file or setting is wrong.
func TestRemoteListenerRefused(t *testing.T) {
	kerneltest.Privileged(t)
	ca := newTestCA(t, "paddock test clients")
	sockDir := t.TempDir()
	base := Config{StateDir: t.TempDir(), Socket: filepath.Join(sockDir, "agentd.sock"), PinDir: kerneltest.PinDir(t),
		CgroupRoot: kerneltest.Cgroup(t, kerneltest.UniqueName("paddock-remote-test")), UnixDir: unixDir(t, sockDir)}
	mustFail := func(name string, edit func(c *Config, f remoteFiles), wantInErr func(f remoteFiles) string) {
		t.Helper()
		f := writeRemoteFiles(t, ca)
		cfg := base
		withRemote(f)(&cfg)
		edit(&cfg, f)
		d, err := Start(cfg)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			d.Shutdown(ctx)
			cancel()
			t.Fatalf("%s: the daemon started", name)
		}
		if want := wantInErr(f); !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; does not say %q", name, err, want)
		}
		if _, err := os.Stat(cfg.Socket); !os.IsNotExist(err) {
			t.Errorf("%s: the socket was made: %v", name, err)
		}
	}
	chmod := func(path string, mode os.FileMode) {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	key := func(f remoteFiles) string { return f.key }
	mustFail("world-readable key", func(_ *Config, f remoteFiles) { chmod(f.key, 0o644) }, key)
	mustFail("group-readable key", func(_ *Config, f remoteFiles) { chmod(f.key, 0o640) }, key)
	mustFail("key not root's", func(_ *Config, f remoteFiles) {
		if err := os.Chown(f.key, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}, key)
	mustFail("client CA writable by others", func(_ *Config, f remoteFiles) { chmod(f.ca, 0o666) }, func(f remoteFiles) string { return f.ca })
	mustFail("missing client CA", func(c *Config, f remoteFiles) { c.ClientCA = f.ca + ".missing" }, func(f remoteFiles) string { return f.ca + ".missing" })
	mustFail("missing certificate", func(c *Config, f remoteFiles) { os.Remove(f.cert) }, func(f remoteFiles) string { return f.cert })
	mustFail("no key given", func(c *Config, _ remoteFiles) { c.TLSKey = "" }, func(remoteFiles) string { return "missing: TLS key" })
	mustFail("files without an address", func(c *Config, _ remoteFiles) { c.RemoteListen = "" }, func(remoteFiles) string { return "without a TCP address" })
	mustFail("certificate and key mismatched", func(c *Config, f remoteFiles) {
		other := writeRemoteFiles(t, ca)
		c.TLSKey = other.key
	}, func(f remoteFiles) string { return f.cert })
}
