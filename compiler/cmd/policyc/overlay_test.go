package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testOverlay = `# approvals
policy   =   "agent"

network {
  allow = [
    "api.example.com:443", # apr-1, uid 1000
    "github.com",
    "new.example:8443",
  ]
}
`

func TestOverlayShow(t *testing.T) {
	dir := chdir(t)
	path := filepath.Join(dir, "agent.hcl")
	os.WriteFile(path, []byte(testOverlay), 0o644)
	code, out, stderr := policyc(t, "overlay", "show", path)
	if code != exitOK || !strings.Contains(out, "policy = \"agent\"\n") || !strings.Contains(out, "# apr-1, uid 1000") {
		t.Fatalf("%d\n%s\n%s", code, out, stderr)
	}
	code, out, _ = policyc(t, "overlay", "show", "--json", path)
	var js struct {
		Policy string
		Allow  []struct {
			Pattern string
			Line    int
		}
	}
	if code != exitOK || json.Unmarshal([]byte(out), &js) != nil || js.Policy != "agent" || len(js.Allow) != 3 || js.Allow[0].Line != 6 {
		t.Fatalf("%d %s", code, out)
	}
	// Bad input: file:line:col and the field.
	os.WriteFile(path, []byte("policy = \"agent\"\nnetwork {\n  allow = [\"ok.example\", \"*\"]\n}\n"), 0o644)
	code, _, stderr = policyc(t, "overlay", "show", path)
	if code != exitPolicy || !strings.Contains(stderr, "agent.hcl:3:") || !strings.Contains(stderr, "network.allow[1]") {
		t.Fatalf("%d %s", code, stderr)
	}
	if code, _, _ := policyc(t, "overlay", "show", filepath.Join(dir, "missing.hcl")); code != exitUsage {
		t.Fatalf("a missing file: %d", code)
	}
	if code, _, _ := policyc(t, "overlay"); code != exitUsage {
		t.Fatalf("no subcommand: %d", code)
	}
	if code, out, _ := policyc(t, "overlay", "--help"); code != exitOK || !strings.Contains(out, "policyc overlay merge") {
		t.Fatalf("help: %d %s", code, out)
	}
}

func TestOverlayMerge(t *testing.T) {
	dir := chdir(t)
	ov := filepath.Join(dir, "overlay.hcl")
	os.WriteFile(ov, []byte(testOverlay), 0o644)
	pol := filepath.Join(dir, "agent.hcl")
	src := "policy \"agent\" {\n  extends = [\"builtin:default\"]\n}\n\nnetwork {\n  allow      = [\"github.com\"]\n  on_unknown = \"ask\"\n}\n"
	os.WriteFile(pol, []byte(src), 0o600)
	code, out, stderr := policyc(t, "overlay", "merge", pol, ov)
	if code != exitOK || !strings.Contains(stderr, "2 destinations") || !strings.Contains(stderr, "1 already allowed") {
		t.Fatalf("%d\n%s\n%s", code, out, stderr)
	}
	for _, want := range []string{`"github.com",`, `"api.example.com:443", # from ` + ov, `"new.example:8443",`} {
		if !strings.Contains(out, want) {
			t.Errorf("merged policy lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "github.com") != 1 {
		t.Errorf("github.com twice:\n%s", out)
	}
	if b, _ := os.ReadFile(pol); string(b) != src {
		t.Fatal("merge without -w changed the policy")
	}
	if code, _, stderr := policyc(t, "overlay", "merge", "-w", pol, ov); code != exitOK {
		t.Fatalf("-w: %s", stderr)
	}
	if b, _ := os.ReadFile(pol); string(b) != out {
		t.Fatalf("-w wrote\n%s", b)
	}
	if st, _ := os.Stat(pol); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	if code, _, _ := policyc(t, "build", pol); code != exitOK {
		t.Fatal("the merged policy does not build")
	}
	// Merging again adds nothing.
	if code, _, stderr := policyc(t, "overlay", "merge", pol, ov); code != exitOK || !strings.Contains(stderr, "0 destinations") {
		t.Fatalf("%d %s", code, stderr)
	}
	// An overlay of another policy is refused.
	os.WriteFile(ov, []byte(strings.Replace(testOverlay, `"agent"`, `"other"`, 1)), 0o644)
	if code, _, stderr := policyc(t, "overlay", "merge", pol, ov); code != exitPolicy || !strings.Contains(stderr, `for policy "other"`) {
		t.Fatalf("%d %s", code, stderr)
	}
}
