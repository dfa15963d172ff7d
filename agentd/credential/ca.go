package credential

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// CA is the local certificate authority the proxy terminates HTTPS to
// bound hosts with. Its key never leaves the daemon's state directory
// (root only); the sandbox trusts its certificate through a bundle file.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     *ecdsa.PrivateKey
	leafKey *ecdsa.PrivateKey

	mu     sync.Mutex
	leaves map[string]*tls.Certificate
}

const (
	caKeyFile  = "ca.key"
	caCertFile = "ca.pem"
	leafLife   = 7 * 24 * time.Hour
)

// LoadCA reads the CA kept in dir, or creates one there on first start.
// dir must be a root-owned directory no one else can write; the key file
// is written 0600 and read only if it is root's and private.
func LoadCA(dir string) (*CA, error) {
	if err := privateDir(dir); err != nil {
		return nil, err
	}
	keyPEM, err := readPrivate(filepath.Join(dir, caKeyFile))
	if errors.Is(err, os.ErrNotExist) {
		return createCA(dir)
	}
	if err != nil {
		return nil, err
	}
	certPEM, err := readPrivate(filepath.Join(dir, caCertFile))
	if err != nil {
		return nil, err
	}
	return parseCA(certPEM, keyPEM)
}

// NewEphemeralCA makes a CA that lives in memory only (tests, benchmarks).
func NewEphemeralCA() (*CA, error) {
	certPEM, keyPEM, err := generateCA()
	if err != nil {
		return nil, err
	}
	return parseCA(certPEM, keyPEM)
}

func createCA(dir string) (*CA, error) {
	certPEM, keyPEM, err := generateCA()
	if err != nil {
		return nil, err
	}
	if err := writeNew(filepath.Join(dir, caKeyFile), keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeNew(filepath.Join(dir, caCertFile), certPEM, 0o644); err != nil {
		return nil, err
	}
	return parseCA(certPEM, keyPEM)
}

func generateCA() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	host, _ := os.Hostname()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Paddock local CA (" + host + ")", Organization: []string{"Paddock"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
}

func parseCA(certPEM, keyPEM []byte) (*CA, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, errors.New("local CA: the certificate or key file is not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("local CA: %w", err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("local CA: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("local CA: the key does not match the certificate")
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return &CA{cert: cert, certPEM: certPEM, key: key, leafKey: leafKey, leaves: map[string]*tls.Certificate{}}, nil
}

// CertPEM is the CA certificate, for trust bundles.
func (ca *CA) CertPEM() []byte { return ca.certPEM }

// Pool is a pool holding the CA alone (tests).
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// Leaf returns a certificate for host (a canonical name), minted on first
// use and renewed a day before it expires.
func (ca *CA) Leaf(host string) (*tls.Certificate, error) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if c, ok := ca.leaves[host]; ok && time.Until(c.Leaf.NotAfter) > 24*time.Hour {
		return c, nil
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(leafLife),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &ca.leafKey.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	c := &tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: ca.leafKey, Leaf: leaf}
	ca.leaves[host] = c
	return c, nil
}

// systemBundles are where distributions keep the system trust store.
var systemBundles = []string{
	"/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine
	"/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
	"/etc/ssl/ca-bundle.pem",             // openSUSE
	"/etc/ssl/cert.pem",
}

// WriteBundle writes the system's trusted CAs followed by this CA to path
// (0644), replacing it atomically: the file sandboxes are pointed at by
// SSL_CERT_FILE and its kin. Its directory must be root's and private to
// writes by others.
func (ca *CA) WriteBundle(path string) error {
	if err := privateDir(filepath.Dir(path)); err != nil {
		return err
	}
	var sys []byte
	for _, f := range systemBundles {
		if b, err := os.ReadFile(f); err == nil && len(b) > 0 {
			sys = b
			break
		}
	}
	out := append(append([]byte{}, sys...), '\n')
	out = append(out, ca.certPEM...)
	tmp := path + ".new"
	os.Remove(tmp)
	if err := writeNew(tmp, out, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// privateDir checks that dir is a directory owned by root that no one
// else may write, creating it (0755) if missing.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Uid != uint32(os.Geteuid()) || st.Mode&0o022 != 0 {
		return fmt.Errorf("%s must be a directory owned by uid %d that no one else may write", dir, os.Geteuid())
	}
	return nil
}

// writeNew creates path exclusively, never through a symlink.
func writeNew(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readPrivate reads a file of the daemon's own, refusing symlinks and
// files another user owns.
func readPrivate(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, err
	}
	if st.Uid != uint32(os.Geteuid()) || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%s is not a regular file of uid %d", path, os.Geteuid())
	}
	if filepath.Base(path) == caKeyFile && st.Mode&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %04o; the CA key must be readable by root only", path, st.Mode&0o7777)
	}
	return io.ReadAll(io.LimitReader(f, 1<<20))
}
