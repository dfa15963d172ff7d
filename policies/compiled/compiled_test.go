package compiled_test

import (
	"bytes"
	"testing"

	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/compiler/policy"
	"github.com/paddock-sh/paddock/policies"
	"github.com/paddock-sh/paddock/policies/compiled"
)

// Each builtin's stored encoding is what encoding its Go value gives, and
// both are what compiling its source gives now: a launch may send the
// stored bytes to agentd for the bundle it applies itself.
func TestBundlesAgree(t *testing.T) {
	for _, name := range policies.Names() {
		b, data := compiled.Bundle(name)
		if b == nil || data == nil {
			t.Errorf("builtin:%s: no precompiled bundle", name)
			continue
		}
		enc, err := bundle.Encode(b)
		if err != nil {
			t.Fatalf("builtin:%s: %v", name, err)
		}
		if !bytes.Equal(enc, data) {
			t.Errorf("builtin:%s: %s.bundle differs from its Go value's encoding; run go generate ./policies/...", name, name)
		}
		res := policy.LoadBuiltin(name, nil)
		if res.Diags.HasErrors() {
			t.Fatalf("builtin:%s: %s", name, res.Diags.Error())
		}
		fresh, err := policy.Compile(res.Policy)
		if err != nil {
			t.Fatalf("builtin:%s: %v", name, err)
		}
		if enc, err = bundle.Encode(fresh); err != nil || !bytes.Equal(enc, data) {
			t.Errorf("builtin:%s: stale against its source (err %v); run go generate ./policies/...", name, err)
		}
	}
	if b, data := compiled.Bundle("no-such-policy"); b != nil || data != nil {
		t.Error("a name that is no builtin returned a bundle")
	}
}

// Every call builds its own bundle: a caller changing one cannot change
// what the next launch applies.
func TestBundleFresh(t *testing.T) {
	a, _ := compiled.Bundle("default")
	a.Filesystem.Grants[0].Path = "/changed"
	b, _ := compiled.Bundle("default")
	if b.Filesystem.Grants[0].Path == "/changed" {
		t.Fatal("a second call returned the first call's bundle")
	}
}
