//go:build linux

package egress

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/paddock-sh/paddock/internal/kerneltest"
	"github.com/paddock-sh/paddock/internal/netlab"
)

// TestEscapeUnixListedPathSwap: the policy lists a socket in a directory
// the sandbox can write. The workload moves the listed socket away and
// puts a symlink to docker.sock (or a symlinked directory) at the listed
// path. The hook matches the path string but sends the connection to the
// socket pinned at creation: docker.sock's canary is never reached, and
// the listed socket still is. A listed path that was already a planted
// symlink when the sandbox was created is refused outright.
func TestEscapeUnixListedPathSwap(t *testing.T) {
	kerneltest.Privileged(t)
	docker := netlab.NewCanary(t, "unix", "")
	scratch := t.TempDir()
	if err := os.Chmod(scratch, 0o777); err != nil {
		t.Fatal(err)
	}
	agent := netlab.NewCanary(t, "unix", filepath.Join(scratch, "agent.sock"))
	sub := filepath.Join(scratch, "run")
	if err := os.Mkdir(sub, 0o777); err != nil {
		t.Fatal(err)
	}
	// Listed under the canary's own base name, in its own directory.
	subSock := netlab.NewCanary(t, "unix", filepath.Join(sub, filepath.Base(docker.Addr())))
	planted := filepath.Join(scratch, "planted.sock")
	if err := os.Symlink(docker.Addr(), planted); err != nil {
		t.Fatal(err)
	}
	w := newWorldWith(t, worldConfig{Unix: []string{agent.Addr(), subSock.Addr(), planted}})
	_, rs := w.py(t, `
def conn(label, path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect(path)
        s.sendall(b"GET /containers/json HTTP/1.0\r\n\r\n")
        out(label=label, ok=True)
    except Exception as e:
        out(label=label, ok=False, err=repr(e))
    finally:
        s.close()
a = ARG
os.rename(a["agent"], a["agent"] + ".moved")
os.symlink(a["docker"], a["agent"])
conn("file swap", a["agent"])
os.rename(a["sub"], a["sub"] + ".moved")
os.symlink(os.path.dirname(a["docker"]), a["sub"])
conn("directory swap", a["subsock"])
conn("planted", a["planted"])
`, map[string]string{"agent": agent.Addr(), "docker": docker.Addr(), "sub": sub, "subsock": subSock.Addr(), "planted": planted})
	for _, r := range rs {
		if r.str("label") == "planted" && r["ok"] == true {
			t.Errorf("a listed path that was a planted symlink at creation connected")
		}
	}
	waitTouched(t, agent, subSock)
	if docker.Touched() {
		t.Errorf("%s was reached through a listed path: %d connections, first sent %q", docker, len(docker.Touches()), docker.Touches()[0].Data)
	}
}

// waitTouched fails unless every canary is reached within two seconds.
func waitTouched(t *testing.T, cs ...*netlab.Canary) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for _, c := range cs {
		for !c.Touched() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if !c.Touched() {
			t.Errorf("%s, listed, was not reached through its listed path", c)
		}
	}
}
