package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// origin is an HTTP server on the host's loopback that counts its hits:
// the canary for every network test.
type origin struct {
	addr string
	hits atomic.Int32
}

func newOrigin(t *testing.T) *origin {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &origin{addr: l.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.hits.Add(1)
		fmt.Fprintf(w, "origin %s says hello\n", o.addr)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return o
}

// TestNetworkThroughTheProxy: without agentd the sandbox reaches what the
// policy allows through agentctl's egress proxy (HTTP and SOCKS5, and a
// forwarded loopback port), and nothing else: not a loopback port the
// policy does not name, not through the proxy, not directly.
func TestNetworkThroughTheProxy(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	forModes(t, func(t *testing.T, s *sandbox) {
		allowed, denied := newOrigin(t), newOrigin(t)
		_, port, _ := net.SplitHostPort(allowed.addr)
		s.write(filepath.Join(s.base, "net.hcl"), fmt.Sprintf(`policy "net-test" {
  mode    = "enforce"
  extends = ["builtin:default"]
}

network {
  allow = ["127.0.0.1:%s"]
}
`, port))
		s.policy = filepath.Join(s.base, "net.hcl")

		// Through the proxy by HTTP, by SOCKS5, and straight to the
		// forwarded port.
		for _, args := range [][]string{
			{"-x", "$HTTP_PROXY", "http://" + allowed.addr + "/"},
			{"-x", "$ALL_PROXY", "http://" + allowed.addr + "/"},
			{"http://" + allowed.addr + "/"},
		} {
			before := allowed.hits.Load()
			r := s.run("/bin/sh", "-c", curl+" -sS -m 10 --noproxy '' "+strings.Join(args, " "))
			if r.code != 0 || !strings.Contains(r.out, "says hello") || allowed.hits.Load() != before+1 {
				t.Errorf("curl %v to an allowed loopback origin: status %d, hits %d->%d:\n%s", args, r.code, before, allowed.hits.Load(), r.out)
			}
		}

		// A loopback origin the policy does not name: refused by the
		// proxy with a reason the agent can read, and unreachable directly.
		r := s.run("/bin/sh", "-c", curl+" -sS -m 10 --noproxy '' -x $HTTP_PROXY -i http://"+denied.addr+"/")
		if !strings.Contains(r.out, "403") || !strings.Contains(r.out, "no rule allows") {
			t.Errorf("a denied origin through the proxy: want a 403 naming why:\n%s", r.out)
		}
		r = s.run("/bin/sh", "-c", curl+" -sS -m 10 --noproxy '*' http://"+denied.addr+"/")
		if r.code == 0 {
			t.Errorf("a direct connection to a denied origin succeeded:\n%s", r.out)
		}
		r = s.probeRun("connect", denied.addr)
		if n := denied.hits.Load(); n != 0 {
			t.Fatalf("the denied origin was reached %d times:\n%s", n, r.out)
		}
	})
}

// TestNetworkEvents: --events records each decision as JSON with the
// destination and rule, and the summary on stderr names the denial.
func TestNetworkEvents(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	s := newSandbox(t, "root")
	denied := newOrigin(t)
	log := filepath.Join(s.base, "events.jsonl")
	r := s.exec(bin.agentctl, "run", "--events", log, "--", "/bin/sh", "-c", curl+" -sS -m 10 --noproxy '' -x $HTTP_PROXY http://"+denied.addr+"/ -o /dev/null")
	if !strings.Contains(r.out, "denied 1 connections") || !strings.Contains(r.out, denied.addr) {
		t.Errorf("no denial summary on stderr:\n%s", r.out)
	}
	data := readFile(t, log)
	if !strings.Contains(data, `"action":"deny"`) || !strings.Contains(data, `"layer":"proxy"`) || !strings.Contains(data, `"host":"127.0.0.1"`) {
		t.Errorf("events file:\n%s", data)
	}
	if denied.hits.Load() != 0 {
		t.Fatal("the denied origin was reached")
	}
}

func readFile(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
