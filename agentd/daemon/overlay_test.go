//go:build linux

package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/internal/kerneltest"
)

// TestOverlayFile: the overlay of an owner's policy is created root-owned
// 0644, appended to without duplicates or losing what is there, read back
// when it changes, and never written or read through a symlink, a file
// someone else owns or a broken overlay.
func TestOverlayFile(t *testing.T) {
	kerneltest.Privileged(t) // root-owned files
	state := t.TempDir()
	a := newApprovals(&Daemon{cfg: Config{StateDir: state}})
	rec := func(owner uint32, name, onUnknown string) *record {
		return &record{ID: "sbx-1", Owner: owner, b: &bundle.Bundle{Metadata: bundle.Metadata{Policy: name},
			Network: bundle.Network{OnUnknown: onUnknown, AskTimeoutSeconds: 30}}}
	}
	r := rec(1000, "agent", bundle.VerdictAsk)
	path := filepath.Join(state, "overlays", "1000", "agent.hcl")

	hr, got, err := a.appendOverlay(r, "a.example:443", "apr-1, uid 1000")
	if err != nil || got != path || hr.Pattern != "a.example:443" || hr.Rule.File != path || hr.Rule.Line == 0 {
		t.Fatalf("%+v %s %v", hr, got, err)
	}
	st, err := os.Lstat(path)
	if err != nil || st.Mode().Perm() != 0o644 || fileUID(st) != 0 || !st.Mode().IsRegular() {
		t.Fatalf("%v %v", st, err)
	}
	if _, _, err := a.appendOverlay(r, "a.example:443", "apr-2"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.appendOverlay(r, "[2001:db8::1]:8443", "apr-3"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if strings.Count(string(data), "a.example:443") != 1 || !strings.Contains(string(data), `"[2001:db8::1]:8443", # apr-3`) || !strings.Contains(string(data), "# apr-1, uid 1000") {
		t.Fatalf("overlay:\n%s", data)
	}
	rules, _, err := a.overlayRules(r)
	if err != nil || len(rules) != 2 {
		t.Fatalf("%v %v", rules, err)
	}
	// Another owner's sandboxes of the same policy have an overlay of
	// their own; a policy that does not ask has none.
	if rules, _, _ := a.overlayRules(rec(1001, "agent", bundle.VerdictAsk)); len(rules) != 0 {
		t.Fatalf("uid 1001 sees uid 1000's overlay: %v", rules)
	}
	if rules, _, _ := a.overlayRules(rec(1000, "agent", bundle.VerdictDeny)); len(rules) != 0 {
		t.Fatalf("a policy that does not ask: %v", rules)
	}
	// Edited by hand: read again.
	time.Sleep(10 * time.Millisecond)
	if err := os.WriteFile(path, []byte("policy = \"agent\"\nnetwork {\n  allow = [\"b.example:80\"]\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if rules, _, err := a.overlayRules(r); err != nil || len(rules) != 1 || rules[0].Pattern != "b.example:80" {
		t.Fatalf("after an edit: %v %v", rules, err)
	}

	refused := func(what string, r *record, code codes.Code) {
		t.Helper()
		before, _ := os.ReadFile(path)
		if _, _, err := a.appendOverlay(r, "c.example:443", "x"); status.Code(err) != code {
			t.Errorf("%s: %v, want %v", what, err, code)
		}
		if after, _ := os.ReadFile(path); string(after) != string(before) {
			t.Errorf("%s: the overlay changed", what)
		}
	}
	// A symlink in the overlay's place is neither followed nor replaced.
	target := filepath.Join(t.TempDir(), "elsewhere.hcl")
	os.WriteFile(target, []byte("policy = \"agent\"\n"), 0o644)
	os.Rename(path, path+".real")
	os.Symlink(target, path)
	refused("a symlink", r, codes.FailedPrecondition)
	if b, _ := os.ReadFile(target); string(b) != "policy = \"agent\"\n" {
		t.Fatalf("written through a symlink: %s", b)
	}
	if _, _, err := a.overlayRules(r); err == nil {
		t.Error("an overlay read through a symlink")
	}
	os.Remove(path)
	os.Rename(path+".real", path)
	os.Chown(path, 65534, 65534)
	refused("another owner's file", r, codes.FailedPrecondition)
	os.Chown(path, 0, 0)
	os.WriteFile(path, []byte("policy = \"agent\"\nnetwork {\n  allow = [\"*\"]\n}\n"), 0o644)
	refused("a broken overlay", r, codes.FailedPrecondition)
	os.WriteFile(path, []byte("policy = \"other\"\n"), 0o644)
	refused("another policy's overlay", r, codes.FailedPrecondition)
	refused("a policy that does not ask", rec(1000, "agent", bundle.VerdictDeny), codes.FailedPrecondition)
	refused("a name that cannot be a file", rec(1000, "../agent", bundle.VerdictAsk), codes.FailedPrecondition)
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("left behind: %v", ents)
	}
}

func TestDestPattern(t *testing.T) {
	for host, want := range map[string]string{"a.example": "a.example:443", "192.0.2.1": "192.0.2.1:443", "2001:db8::1": "[2001:db8::1]:443"} {
		if got := destPattern(host, 443); got != want {
			t.Errorf("%s: %s", host, got)
		}
	}
}
