//go:build linux

package unixpin

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/paddock-sh/paddock/internal/kerneltest"
	"github.com/paddock-sh/paddock/internal/netlab"
)

func openDir(t *testing.T) *Dir {
	t.Helper()
	tmp, err := os.MkdirTemp("", "pin")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	d, err := Open(filepath.Join(tmp, "u"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// dial connects to path and sends a line, as a client would.
func dial(path string) error {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte("hello\n"))
	return err
}

// TestPinSurvivesSwap: after pinning, replacing the listed socket by a
// symlink to another socket changes nothing for whoever uses the mount.
func TestPinSurvivesSwap(t *testing.T) {
	kerneltest.Privileged(t)
	d := openDir(t)
	scratch := t.TempDir()
	listed := netlab.NewCanary(t, "unix", filepath.Join(scratch, "agent.sock"))
	docker := netlab.NewCanary(t, "unix", "")
	pinned, refused, err := d.Pin(7, []string{listed.Addr()})
	if err != nil || len(refused) != 0 {
		t.Fatalf("Pin: %v %v", err, refused)
	}
	t.Cleanup(func() { d.Unpin(7) })
	target := pinned[listed.Addr()]
	if len(target) > MaxTarget {
		t.Fatalf("target %q is longer than %d bytes", target, MaxTarget)
	}
	if err := os.Rename(listed.Addr(), listed.Addr()+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(docker.Addr(), listed.Addr()); err != nil {
		t.Fatal(err)
	}
	if err := dial(target); err != nil {
		t.Fatalf("dialling the pinned socket: %v", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for !listed.Touched() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !listed.Touched() {
		t.Error("the pinned socket's listener was not reached")
	}
	if docker.Touched() {
		t.Error("the swapped-in socket was reached through the mount")
	}
	// A second Pin (a daemon restart) keeps the mount, not the path's new
	// meaning.
	again, refused, err := d.Pin(7, []string{listed.Addr()})
	if err != nil || len(refused) != 0 || again[listed.Addr()] != target {
		t.Fatalf("re-Pin: %v %v %v", again, refused, err)
	}
	if err := dial(target); err != nil || docker.Touched() {
		t.Fatalf("after re-Pin: %v, docker reached %v", err, docker.Touched())
	}
	if err := d.Unpin(7); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Unpin left %s: %v", target, err)
	}
}

func TestResolveRefuses(t *testing.T) {
	kerneltest.Privileged(t)
	scratch := t.TempDir()
	docker := netlab.NewCanary(t, "unix", "")
	file := filepath.Join(scratch, "file")
	os.WriteFile(file, nil, 0o600)
	// A symlink an unprivileged user owns, in a directory root owns.
	userLink := filepath.Join(scratch, "user.sock")
	os.Symlink(docker.Addr(), userLink)
	if err := os.Lchown(userLink, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	// A root-owned symlink in a directory others can write.
	open := filepath.Join(scratch, "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)
	openLink := filepath.Join(open, "root.sock")
	os.Symlink(docker.Addr(), openLink)
	// A symlinked directory on the way, owned by a user.
	dirLink := filepath.Join(scratch, "dirlink")
	os.Symlink(filepath.Dir(docker.Addr()), dirLink)
	os.Lchown(dirLink, 65534, 65534)

	for _, c := range []struct {
		path string
		want error
	}{
		{filepath.Join(scratch, "missing.sock"), os.ErrNotExist},
		{file, nil},
		{userLink, ErrUntrustedLink},
		{openLink, ErrUntrustedLink},
		{filepath.Join(dirLink, filepath.Base(docker.Addr())), ErrUntrustedLink},
		{"relative.sock", nil},
	} {
		fd, err := Resolve(c.path)
		if err == nil {
			t.Errorf("Resolve(%s) succeeded (fd %d)", c.path, fd)
			continue
		}
		if c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("Resolve(%s): %v, want %v", c.path, err, c.want)
		}
	}
	d := openDir(t)
	_, refused, err := d.Pin(8, []string{userLink, filepath.Join(scratch, "missing.sock")})
	t.Cleanup(func() { d.Unpin(8) })
	if err != nil || len(refused) != 2 {
		t.Fatalf("Pin of unpinnable paths: refused %v, err %v", refused, err)
	}
}

// TestResolveTrustedLink: a root-owned symlink in a root-only directory is
// followed (the way /var/run leads to /run).
func TestResolveTrustedLink(t *testing.T) {
	kerneltest.Privileged(t)
	scratch := t.TempDir()
	os.Chmod(scratch, 0o755)
	sock := netlab.NewCanary(t, "unix", filepath.Join(scratch, "real.sock"))
	link := filepath.Join(scratch, "link.sock")
	if err := os.Symlink("real.sock", link); err != nil {
		t.Fatal(err)
	}
	d := openDir(t)
	pinned, refused, err := d.Pin(9, []string{link})
	t.Cleanup(func() { d.Unpin(9) })
	if err != nil || len(refused) != 0 {
		t.Fatalf("Pin: %v %v", refused, err)
	}
	if err := dial(pinned[link]); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for !sock.Touched() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !sock.Touched() {
		t.Fatal("the socket behind a trusted symlink was not reached")
	}
}
