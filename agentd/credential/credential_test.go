package credential

import (
	"crypto/x509"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/paddock-sh/paddock/compiler/bundle"
)

const secret = "tok-0123456789abcdef"

func cred(source string) bundle.Credential {
	return bundle.Credential{Name: "gh", Hosts: []string{"api.github.com"}, Header: "authorization", Format: "Bearer %s",
		Source: source, Placeholder: bundle.PlaceholderFor("gh")}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte(secret+"\n"), 0o600)
	open := filepath.Join(dir, "open")
	os.WriteFile(open, []byte(secret), 0o644)
	link := filepath.Join(dir, "link")
	os.Symlink(good, link)
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abc"), 0o600)
	me := Owner{UID: uint32(os.Getuid())}

	b, err := Load(cred("file:"+good), me)
	if err != nil || string(b) != secret {
		t.Fatalf("good file: %q %v", b, err)
	}
	for _, tc := range []struct{ path, want string }{
		{open, "readable by its owner only"},
		{link, "symlink"},
		{short, "shorter than 8 bytes"},
		{dir, "not a regular file"},
	} {
		if _, err := Load(cred("file:"+tc.path), me); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.path, err, tc.want)
		}
	}
	// Another user's file (or root's, for a user) lends them nothing.
	other := Owner{UID: me.UID + 4242}
	if _, err := Load(cred("file:"+good), other); err == nil {
		t.Errorf("uid %d read uid %d's file", other.UID, me.UID)
	}
}

func TestLoadEnv(t *testing.T) {
	t.Setenv("PADDOCK_TEST_SECRET", secret)
	if _, err := Load(cred("env:PADDOCK_TEST_SECRET"), Owner{UID: 1000}); err == nil || !strings.Contains(err.Error(), "only root's sandboxes") {
		t.Errorf("a user's sandbox used the daemon's environment: %v", err)
	}
	b, err := Load(cred("env:PADDOCK_TEST_SECRET"), Owner{UID: 0})
	if err != nil || string(b) != secret {
		t.Errorf("root: %q %v", b, err)
	}
	if _, err := Load(cred("env:PADDOCK_TEST_UNSET"), Owner{UID: 0}); err == nil {
		t.Error("an unset variable was accepted")
	}
}

func set(t *testing.T, c bundle.Credential) *Set {
	t.Helper()
	s, err := New([]bundle.Credential{c}, func(bundle.Credential) ([]byte, error) { return []byte(secret), nil })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMatch(t *testing.T) {
	c := cred("env:X")
	c.Paths = []string{"/repos/ours", "/user/"}
	c.Methods = []string{"GET", "POST"}
	s := set(t, c)
	for _, tc := range []struct {
		host, method, path string
		want               bool
	}{
		{"api.github.com", "GET", "/repos/ours", true},
		{"api.github.com", "POST", "/repos/ours/issues", true},
		{"api.github.com", "GET", "/user/", true},
		{"api.github.com", "GET", "/repos/oursevil", false},
		{"api.github.com", "DELETE", "/repos/ours", false},
		{"api.github.com", "GET", "/repos/ours/../theirs", false},
		{"api.github.com", "GET", "/repos/ours/%2e%2e/theirs", false},
		{"api.github.com", "GET", "/repos/ours%2F..%2Ftheirs", false},
		{"api.github.com", "GET", "/repos/ours/..;/theirs", false},
		{"api.github.com", "GET", "/repos/ours//x", false},
		{"evil.test", "GET", "/repos/ours", false},
	} {
		apply, _ := s.Match(tc.host, tc.method, tc.path)
		if got := len(apply) > 0; got != tc.want {
			t.Errorf("%s %s %s: %v, want %v", tc.method, tc.host, tc.path, got, tc.want)
		}
		if len(apply) > 0 && (apply[0].Header() != "Authorization" || apply[0].Value() != "Bearer "+secret) {
			t.Errorf("binding %q %q", apply[0].Header(), apply[0].Value())
		}
	}
	if !s.Bound("api.github.com") || s.Bound("github.com") || (*Set)(nil).Bound("api.github.com") {
		t.Error("Bound")
	}
}

func TestScrub(t *testing.T) {
	s := set(t, cred("env:X"))
	ph := bundle.PlaceholderFor("gh")
	in := "a " + secret + " b " + strings.ReplaceAll(secret, "-", "-") + ` "` + secret + `" tail-` + secret[:5]
	want := "a " + ph + " b " + ph + ` "` + ph + `" tail-` + secret[:5]
	if got := s.Scrub(in); got != want {
		t.Errorf("Scrub: %q", got)
	}
	// Byte by byte, the body reads the same.
	r := s.Body(io.NopCloser(iotest.OneByteReader(strings.NewReader(in))))
	b, err := io.ReadAll(r)
	if err != nil || string(b) != want {
		t.Errorf("Body one byte at a time: %q %v", b, err)
	}
	// Text that cannot start a secret is not held back: a stream's event
	// goes out whole.
	z := s.Body(io.NopCloser(strings.NewReader("data: x\n\n"))).(*scrubReader)
	buf := make([]byte, 64)
	n, _ := z.Read(buf)
	if string(buf[:n]) != "data: x\n\n" {
		t.Errorf("first read %q", buf[:n])
	}
	if names := Placeholders("x paddock:cred:gh y paddock:cred:b-2,"); strings.Join(names, ",") != "gh,b-2" {
		t.Errorf("Placeholders %q", names)
	}
}

func TestCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	ca, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, caKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v %v", st, err)
	}
	again, err := LoadCA(dir)
	if err != nil || string(again.CertPEM()) != string(ca.CertPEM()) {
		t.Fatalf("reload: %v", err)
	}
	leaf, err := ca.Leaf("api.github.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: "api.github.com", Roots: ca.Pool()}); err != nil {
		t.Errorf("leaf does not verify: %v", err)
	}
	if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: "github.com", Roots: ca.Pool()}); err == nil {
		t.Error("leaf verifies for another name")
	}
	os.Chmod(filepath.Join(dir, caKeyFile), 0o644)
	if _, err := LoadCA(dir); err == nil {
		t.Error("a readable CA key was accepted")
	}
	bundlePath := filepath.Join(t.TempDir(), "bundle.pem")
	if err := ca.WriteBundle(bundlePath); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(bundlePath)
	if !strings.HasSuffix(string(b), string(ca.CertPEM())) {
		t.Error("the bundle does not end with the CA")
	}
}

// TestNewRefusesHeadSplitting: a header name or format from a hand-made
// bundle cannot split the request head the secret is written into.
func TestNewRefusesHeadSplitting(t *testing.T) {
	for _, c := range []bundle.Credential{
		{Name: "a", Hosts: []string{"h"}, Header: "X-Key: 1\r\nEvil", Format: "%s"},
		{Name: "b", Hosts: []string{"h"}, Header: "X-Key", Format: "%s\r\nEvil: 1"},
	} {
		if _, err := New([]bundle.Credential{c}, func(bundle.Credential) ([]byte, error) { return []byte(secret), nil }); err == nil {
			t.Errorf("%q / %q was accepted", c.Header, c.Format)
		}
	}
}
