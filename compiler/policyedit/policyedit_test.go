package policyedit_test

import (
	"strings"
	"testing"

	"github.com/paddock-sh/paddock/compiler/policy"
	"github.com/paddock-sh/paddock/compiler/policyedit"
)

func TestAppendAllow(t *testing.T) {
	load := func(t *testing.T, src []byte) *policy.Overlay {
		t.Helper()
		res := policy.LoadOverlay("o.hcl", src)
		if res.Overlay == nil {
			t.Fatalf("%s\n%s", src, res.Diags.Error())
		}
		return res.Overlay
	}
	src := policyedit.NewOverlay("agent")
	if o := load(t, src); o.Policy != "agent" || len(o.Allow) != 0 {
		t.Fatalf("new overlay: %+v", o)
	}
	src, err := policyedit.AppendAllow("o.hcl", src, []string{"a.example:443"}, "apr-1, uid 1000")
	if err != nil {
		t.Fatal(err)
	}
	src, err = policyedit.AppendAllow("o.hcl", src, []string{"b.example:80"}, "apr-2\nuid 0")
	if err != nil {
		t.Fatal(err)
	}
	o := load(t, src)
	if len(o.Allow) != 2 || o.Allow[0].Value != "a.example:443" || o.Allow[1].Value != "b.example:80" {
		t.Fatalf("%s", src)
	}
	want := `  allow = [
    "a.example:443", # apr-1, uid 1000
    "b.example:80",  # apr-2 uid 0
  ]
`
	if !strings.Contains(string(src), want) {
		t.Fatalf("got\n%s\nwant it to hold\n%s", src, want)
	}
	if !strings.HasPrefix(string(src), "# Destinations allowed permanently") {
		t.Error("the header comment went")
	}

	// A one-line list, with and without a trailing comma.
	for _, list := range []string{`["x.example"]`, `["x.example", ]`, `[]`} {
		src := []byte("policy = \"agent\"\nnetwork {\n  allow = " + list + "\n}\n")
		out, err := policyedit.AppendAllow("o.hcl", src, []string{"y.example:443", "z.example:443"}, "")
		if err != nil {
			t.Fatal(err)
		}
		o := load(t, out)
		if n := len(o.Allow); o.Allow[n-1].Value != "z.example:443" || o.Allow[n-2].Value != "y.example:443" || (list != "[]") != (n == 3) {
			t.Fatalf("%s:\n%s", list, out)
		}
	}

	// A policy file without a network block gets one.
	pol := []byte("policy \"agent\" {\n  mode = \"enforce\"\n}\n")
	out, err := policyedit.AppendAllow("p.hcl", pol, []string{"a.example:443"}, "")
	if err != nil {
		t.Fatal(err)
	}
	res := policy.LoadSource("p.hcl", out, nil)
	if res.Diags.HasErrors() || len(res.Policy.Allow) != 1 || res.Policy.Allow[0].Value != "a.example:443" {
		t.Fatalf("%s\n%s", out, res.Diags.Error())
	}

	// A list that is not a literal is left alone.
	if _, err := policyedit.AppendAllow("p.hcl", []byte("network {\n  allow = concat([\"a\"], [\"b\"])\n}\n"), []string{"c.example"}, ""); err == nil || !strings.Contains(err.Error(), "not written as a list") {
		t.Fatalf("an expression: %v", err)
	}
	if _, err := policyedit.AppendAllow("p.hcl", []byte("network {"), []string{"c.example"}, ""); err == nil {
		t.Fatal("a broken file was edited")
	}
}

// FuzzAppendAllow: no input makes the editor panic, and an overlay it
// edits still loads, with the new entry in it.
func FuzzAppendAllow(f *testing.F) {
	f.Add(policyedit.NewOverlay("agent"))
	f.Add([]byte("policy = \"a\"\nnetwork {\n  allow = [\"a.example:443\", \"[::1]:*\"]\n}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if policy.LoadOverlay("f.hcl", data).Overlay == nil {
			return
		}
		if out, err := policyedit.AppendAllow("f.hcl", data, []string{"a.example:443"}, "c"); err == nil {
			if r := policy.LoadOverlay("f.hcl", out); r.Overlay == nil || !r.Overlay.Allows("a.example:443") {
				t.Fatalf("appending broke the overlay:\n%s\n->\n%s", data, out)
			}
		}
	})
}
