package policy

import (
	"strings"
	"testing"
)

func TestLoadOverlay(t *testing.T) {
	src := `# approvals
policy = "agent"

network {
  allow = [
    "api.example.com:443", # apr-1
    "[2001:db8::1]:8443",
  ]
}
`
	res := LoadOverlay("o.hcl", []byte(src))
	if res.Diags.HasErrors() || res.Overlay == nil {
		t.Fatal(res.Diags.Error())
	}
	o := res.Overlay
	if o.Policy != "agent" || len(o.Allow) != 2 || o.Allow[1].Field != "network.allow[1]" {
		t.Fatalf("%+v", o)
	}
	rules := o.HostRules("/state/overlays/0/agent.hcl")
	if len(rules) != 2 || rules[0].Pattern != "api.example.com:443" || rules[0].Rule.Line != 6 || rules[0].Rule.File != "/state/overlays/0/agent.hcl" ||
		rules[0].Rule.String() != "network.allow[0] (/state/overlays/0/agent.hcl:6)" {
		t.Fatalf("%+v", rules)
	}
	if !o.Allows("api.example.com:443") || o.Allows("api.example.com") {
		t.Error("Allows")
	}
}

// TestLoadOverlayRefuses: every problem names the file, the line and the
// field.
func TestLoadOverlayRefuses(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{`network { allow = ["a.example:443"] }`, `o.hcl:1,1-1: Missing required argument`},
		{"policy = \"agent\"\nnetwork {\n  allow = [\"*.com\"]\n}\n", `o.hcl:3,`},
		{"policy = \"agent\"\nnetwork {\n  allow = [\"*.com\"]\n}\n", `network.allow[0]: "*.com" covers a whole public suffix`},
		{"policy = \"agent\"\nnetwork {\n  deny = [\"a.example\"]\n}\n", `o.hcl:3,3-7: Unsupported argument`},
		{"policy = \"Agent!\"\n", `policy: "Agent!" is not a valid policy name`},
		{"policy = \"agent\"\nnetwork {\n  allow = [var.x]\n}\n", `o.hcl:3,`},
		{"policy = \"agent\"\nfilesystem {}\n", `o.hcl:2,1-11: Unsupported block type`},
		{"policy = \"agent\"\nnetwork {}\nnetwork {}\n", `network is defined twice`},
		{"policy = \"agent\"\nnetwork {\n  allow = [\"a.example:443\", true]\n}\n", `network.allow[1]`},
	} {
		res := LoadOverlay("o.hcl", []byte(c.src))
		if !res.Diags.HasErrors() || res.Overlay != nil {
			t.Errorf("%q: accepted", c.src)
			continue
		}
		var msgs []string
		for _, d := range res.Diags {
			m := d.Summary + ": " + d.Detail
			if d.Subject != nil {
				m = d.Subject.String() + ": " + m
			}
			msgs = append(msgs, m)
		}
		if got := strings.Join(msgs, "\n"); !strings.Contains(got, c.want) {
			t.Errorf("%q:\n%s\nwant %q", c.src, got, c.want)
		}
	}
}

func TestAppendAllow(t *testing.T) {
	load := func(t *testing.T, src []byte) *Overlay {
		t.Helper()
		res := LoadOverlay("o.hcl", src)
		if res.Overlay == nil {
			t.Fatalf("%s\n%s", src, res.Diags.Error())
		}
		return res.Overlay
	}
	src := NewOverlay("agent")
	if o := load(t, src); o.Policy != "agent" || len(o.Allow) != 0 {
		t.Fatalf("new overlay: %+v", o)
	}
	src, err := AppendAllow("o.hcl", src, []string{"a.example:443"}, "apr-1, uid 1000")
	if err != nil {
		t.Fatal(err)
	}
	src, err = AppendAllow("o.hcl", src, []string{"b.example:80"}, "apr-2\nuid 0")
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
		out, err := AppendAllow("o.hcl", src, []string{"y.example:443", "z.example:443"}, "")
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
	out, err := AppendAllow("p.hcl", pol, []string{"a.example:443"}, "")
	if err != nil {
		t.Fatal(err)
	}
	res := LoadSource("p.hcl", out, nil)
	if res.Diags.HasErrors() || len(res.Policy.Allow) != 1 || res.Policy.Allow[0].Value != "a.example:443" {
		t.Fatalf("%s\n%s", out, res.Diags.Error())
	}

	// A list that is not a literal is left alone.
	if _, err := AppendAllow("p.hcl", []byte("network {\n  allow = concat([\"a\"], [\"b\"])\n}\n"), []string{"c.example"}, ""); err == nil || !strings.Contains(err.Error(), "not written as a list") {
		t.Fatalf("an expression: %v", err)
	}
	if _, err := AppendAllow("p.hcl", []byte("network {"), []string{"c.example"}, ""); err == nil {
		t.Fatal("a broken file was edited")
	}
}

// FuzzLoadOverlay: no input makes the loader panic, and what it accepts
// lowers to rules that parse.
func FuzzLoadOverlay(f *testing.F) {
	f.Add([]byte(NewOverlay("agent")))
	f.Add([]byte("policy = \"a\"\nnetwork {\n  allow = [\"a.example:443\", \"[::1]:*\"]\n}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res := LoadOverlay("f.hcl", data)
		if res.Overlay == nil {
			return
		}
		for _, r := range res.Overlay.HostRules("f.hcl") {
			if r.Pattern == "" || r.Rule.Field == "" {
				t.Fatalf("%+v", r)
			}
		}
		if out, err := AppendAllow("f.hcl", data, []string{"a.example:443"}, "c"); err == nil {
			if r := LoadOverlay("f.hcl", out); r.Overlay == nil || !r.Overlay.Allows("a.example:443") {
				t.Fatalf("appending broke the overlay:\n%s\n->\n%s", data, out)
			}
		}
	})
}
