package policy

import (
	"bytes"
	"testing"

	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/policies"
)

// FuzzLoad feeds arbitrary text to the whole front end. Whatever it is, the
// loader must not panic; whatever it accepts must compile, encode, and
// decode back to the same bytes.
func FuzzLoad(f *testing.F) {
	for _, name := range policies.Names() {
		src, _ := policies.Read(name)
		f.Add(src)
	}
	for _, s := range []string{
		header + "filesystem {\n  read = [\"${workspace}\", \"/srv\"]\n  deny = [\"**/.env*\"]\n}\n",
		header + "network {\n  allow = [\"a.example:8443\", \"10.0.0.0/8:5432\", \"[2001:db8::1]:443\"]\n  on_unknown = \"ask\"\n  ask_timeout = \"30s\"\n}\n",
		header + "syscalls {\n  restrict \"socket\" {\n    arg = \"type\"\n    mask = [\"SOCK_TYPE_MASK\"]\n    in = [\"SOCK_STREAM\"]\n    errno = \"EACCES\"\n  }\n}\n",
		header + "process {\n  limits = { memory = \"1GiB\", cpus = 0.5, cpu_time = \"10m\" }\n  env = { pass = [\"PATH\"], set = { A = \"${tmp}/a\" } }\n}\n",
		header + "variable \"v\" {\n  default = [\"x.example\"]\n}\nnetwork {\n  allow = var.v\n}\n",
		"policy \"t\" {\n  mode = \n}\n",
		"{\"policy\": {\"t\": {}}}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		res := LoadSource("fuzz.hcl", src, nil)
		if res.Policy == nil {
			if !res.Diags.HasErrors() {
				t.Fatal("rejected without an error")
			}
			return
		}
		b, err := Compile(res.Policy)
		if err != nil {
			t.Fatalf("accepted but did not compile: %v", err)
		}
		data, err := bundle.Encode(b)
		if err != nil {
			t.Fatalf("compiled but did not encode: %v", err)
		}
		back, err := bundle.Decode(data, "fuzz.bundle")
		if err != nil {
			t.Fatalf("encoded bundle does not decode: %v", err)
		}
		again, _ := bundle.Encode(back)
		if !bytes.Equal(data, again) {
			t.Fatal("decode and encode changed the bundle")
		}
	})
}
