//go:build linux && paddock_known_escapes

// This file reproduces an escape that is still open: the unix socket hooks
// compare the path the workload names, and the kernel then follows a
// symlink the workload planted at a listed path, in a directory it can
// write. It is excluded from the default test run until the fix lands (the
// connect must reach the socket that was listed, not whatever the path
// leads to at connect time); run it with -tags paddock_known_escapes.

package egress

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/paddock-sh/paddock/internal/kerneltest"
	"github.com/paddock-sh/paddock/internal/netlab"
)

// TestEscapeUnixListedPathSwap: the policy lists a socket in a directory
// the sandbox can write. The workload moves the listed socket away and
// puts a symlink to docker.sock (or a symlinked directory) at the listed
// path. The hook compares path strings, and the kernel resolves the
// symlink after it: the canary must still not be reached.
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
	w := newWorldWith(t, worldConfig{Unix: []string{agent.Addr(), subSock.Addr()}})
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
`, map[string]string{"agent": agent.Addr(), "docker": docker.Addr(), "sub": sub, "subsock": subSock.Addr()})
	for _, r := range rs {
		if r["ok"] == true {
			t.Errorf("%s: the workload connected through the listed path", r.str("label"))
		}
	}
	if docker.Touched() {
		t.Errorf("%s was reached through a listed path: %d connections, first sent %q", docker, len(docker.Touches()), docker.Touches()[0].Data)
	}
}
