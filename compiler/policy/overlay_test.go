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

// FuzzLoadOverlay: no input makes the loader panic, and what it accepts
// lowers to rules that parse.
func FuzzLoadOverlay(f *testing.F) {
	f.Add([]byte("policy = \"agent\"\n\nnetwork {\n  allow = []\n}\n"))
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
	})
}
