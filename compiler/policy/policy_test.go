package policy

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/policies"
)

func compileBuiltin(t *testing.T, name string, vars map[string]string) *bundle.Bundle {
	t.Helper()
	res := LoadBuiltin(name, vars)
	if len(res.Diags) > 0 {
		t.Fatalf("builtin:%s: %s", name, res.Diags.Error())
	}
	b, err := Compile(res.Policy)
	if err != nil {
		t.Fatalf("builtin:%s: %v", name, err)
	}
	return b
}

// Every shipped policy compiles with no error and no warning, the same
// bytes every time, and decodes back to an equal bundle.
func TestShippedPolicies(t *testing.T) {
	names := policies.Names()
	for _, want := range []string{"base", "default", "claude-code", "ci-runner", "offline"} {
		if !contains(names, want) {
			t.Errorf("builtin:%s is missing", want)
		}
	}
	for _, name := range names {
		first, err := bundle.Encode(compileBuiltin(t, name, nil))
		if err != nil {
			t.Fatal(err)
		}
		again, _ := bundle.Encode(compileBuiltin(t, name, nil))
		if !bytes.Equal(first, again) {
			t.Errorf("builtin:%s: two compilations differ", name)
		}
		b, err := bundle.Decode(first, name)
		if err != nil {
			t.Fatalf("builtin:%s: %v", name, err)
		}
		if back, _ := bundle.Encode(b); !bytes.Equal(first, back) {
			t.Errorf("builtin:%s: decode and encode changed the bytes", name)
		}
		src, _ := policies.Read(name)
		if !bytes.HasPrefix(src, []byte("# builtin:"+name+":")) {
			t.Errorf("builtin:%s does not start with its explaining comment header", name)
		}
	}
}

type badCase struct {
	name      string
	src       string
	line, col int
	msg, hint string
	vars      map[string]string
}

const header = "policy \"t\" {\n  extends = [\"builtin:base\"]\n}\n"

// Each class of bad input gets an error at the offending token, with a
// message a person can act on and, where one can be guessed, a hint.
func TestBadInput(t *testing.T) {
	cases := []badCase{
		{name: "unknown attribute", src: header + "filesystem {\n  deny_wrte = []\n}\n", line: 5, col: 3, msg: `argument named "deny_wrte" is not expected`, hint: `did you mean "deny_write"?`},
		{name: "unknown block", src: header + "netwrk {\n}\n", line: 4, col: 1, msg: "unsupported block type", hint: `did you mean "network"?`},
		{name: "unknown syscall", src: header + "syscalls {\n  allow = [\"ptace\"]\n}\n", line: 5, col: 12, msg: `unknown syscall "ptace"`, hint: `did you mean "ptrace"?`},
		{name: "unknown group", src: header + "syscalls {\n  deny = [\"@moutn\"]\n}\n", line: 5, col: 11, msg: `unknown syscall group "@moutn"`, hint: `did you mean "@mount"?`},
		{name: "relative path", src: header + "filesystem {\n  read = [\"src\"]\n}\n", line: 5, col: 11, msg: `"src" is a relative path`, hint: "start it with /"},
		{name: "tilde path", src: header + "filesystem {\n  write = [\"~/x\"]\n}\n", line: 5, col: 12, msg: "relative path", hint: "write ${home}/x"},
		{name: "pattern in a grant", src: header + "filesystem {\n  read = [\"/srv/*.txt\"]\n}\n", line: 5, col: 11, msg: "is a pattern; grants are paths"},
		{name: "unclean path", src: header + "filesystem {\n  read = [\"/srv/../etc\"]\n}\n", line: 5, col: 11, msg: "not a clean path"},
		{name: "root writable", src: header + "filesystem {\n  write = [\"/\"]\n}\n", line: 5, col: 12, msg: "whole filesystem writable"},
		{name: "deny everything", src: header + "filesystem {\n  deny = [\"/**\"]\n}\n", line: 5, col: 11, msg: "/**"},
		{name: "relative deny", src: header + "filesystem {\n  deny = [\"*\"]\n}\n", line: 5, col: 11, msg: "nearly every path"},
		{name: "unknown path variable", src: header + "filesystem {\n  read = [\"${hom}/x\"]\n}\n", line: 5, col: 14, msg: "unknown variable"},
		{name: "grant swallowed by deny", src: header + "filesystem {\n  read = [\"${home}/.ssh/known_hosts\"]\n}\n", line: 5, col: 11, msg: "entirely denied by filesystem.deny"},
		{name: "star host", src: header + "network {\n  allow = [\"*\"]\n}\n", line: 5, col: 12, msg: "matches every host"},
		{name: "tld wildcard", src: header + "network {\n  allow = [\"*.com\"]\n}\n", line: 5, col: 12, msg: "public suffix"},
		{name: "private suffix wildcard", src: header + "network {\n  allow = [\"*.github.io\"]\n}\n", line: 5, col: 12, msg: "public suffix"},
		{name: "url as host", src: header + "network {\n  allow = [\"https://x.example\"]\n}\n", line: 5, col: 12, msg: "URL"},
		{name: "broad cidr", src: header + "network {\n  allow = [\"10.0.0.0/4\"]\n}\n", line: 5, col: 12, msg: "10.0.0.0/4"},
		{name: "host allowed and denied", src: header + "network {\n  allow = [\"a.example\"]\n  deny = [\"A.example.\"]\n}\n", line: 6, col: 11, msg: "both allowed and denied", hint: "t.hcl:5"},
		{name: "bad on_unknown", src: header + "network {\n  on_unknown = \"prompt\"\n}\n", line: 5, col: 16, msg: `must be "deny" or "ask"`},
		{name: "bad ask_timeout", src: header + "network {\n  ask_timeout = \"2d\"\n}\n", line: 5, col: 17, msg: "not a duration"},
		{name: "syscall allowed and denied", src: header + "syscalls {\n  allow = [\"acct\"]\n  deny = [\"acct\"]\n}\n", line: 6, col: 11, msg: "both allowed and denied by name"},
		{name: "restrict not allowed", src: header + "syscalls {\n  restrict \"mount\" {\n    arg = \"flags\"\n    in = [0]\n  }\n}\n", line: 5, col: 12, msg: "does not allow mount"},
		{name: "restrict unknown arg", src: header + "syscalls {\n  restrict \"socket\" {\n    arg = \"domian\"\n    in = [\"AF_INET\"]\n  }\n}\n", line: 6, col: 11, msg: `no argument "domian"`, hint: `did you mean "domain"?`},
		{name: "restrict unknown constant", src: header + "syscalls {\n  restrict \"socket\" {\n    arg = \"domain\"\n    in = [\"AF_INTE\"]\n  }\n}\n", line: 7, col: 11, msg: `unknown constant "AF_INTE"`, hint: `"AF_INET"`},
		{name: "restrict value outside mask", src: header + "syscalls {\n  restrict \"socket\" {\n    arg = \"type\"\n    mask = [\"SOCK_TYPE_MASK\"]\n    in = [\"SOCK_NONBLOCK\"]\n  }\n}\n", line: 8, col: 11, msg: "outside the mask"},
		{name: "restrict both in and not_in", src: header + "syscalls {\n  restrict \"ioctl\" {\n    arg = \"cmd\"\n    in = [1]\n    not_in = [2]\n  }\n}\n", line: 5, col: 3, msg: "exactly one of in or not_in"},
		{name: "bad errno", src: header + "syscalls {\n  errno = \"EPRM\"\n}\n", line: 5, col: 11, msg: "not an errno name", hint: `"EPERM"`},
		{name: "bad mode", src: "policy \"t\" {\n  mode = \"enforcing\"\n}\n", line: 2, col: 10, msg: `must be "enforce" or "audit"`, hint: `"enforce"`},
		{name: "bad best_effort layer", src: "policy \"t\" {\n  best_effort = [\"landlok\"]\n}\n", line: 2, col: 18, msg: "policy.best_effort[0]", hint: `"landlock"`},
		{name: "bad policy name", src: "policy \"Bad Name\" {\n}\n", line: 1, col: 8, msg: "not a valid name"},
		{name: "secret in policy", src: header + "network {\n  allow = [\"api.example.com\"]\n}\ncredential \"x\" {\n  hosts = [\"api.example.com\"]\n  env = \"X_TOKEN\"\n  source = \"ghp_0123456789\"\n}\n", line: 10, col: 12, msg: "does not say where the daemon reads the secret", hint: "a secret never goes in a policy"},
		{name: "credential host unreachable", src: header + "credential \"x\" {\n  hosts = [\"api.example.com\"]\n  env = \"X_TOKEN\"\n  source = \"env:X\"\n}\n", line: 5, col: 12, msg: "network.allow does not allow this host"},
		{name: "credential wildcard", src: header + "network {\n  allow = [\"*.example.com\"]\n}\ncredential \"x\" {\n  hosts = [\"*.example.com\"]\n  env = \"X_TOKEN\"\n  source = \"env:X\"\n}\n", line: 8, col: 12, msg: "exact host names"},
		{name: "credential passed through", src: header + "network {\n  allow = [\"api.example.com\"]\n}\ncredential \"x\" {\n  hosts = [\"api.example.com\"]\n  env = \"X_TOKEN\"\n  source = \"env:X\"\n}\nprocess {\n  env = { pass = [\"X_TOKEN\"] }\n}\n", line: 13, col: 19, msg: "hand the real X_TOKEN to the sandbox"},
		{name: "credential missing source", src: header + "credential \"x\" {\n  hosts = [\"a.example\"]\n  env = \"X\"\n}\n", line: 4, col: 16, msg: "missing required argument"},
		{name: "credential bad format", src: header + "network {\n  allow = [\"api.example.com\"]\n}\ncredential \"x\" {\n  hosts = [\"api.example.com\"]\n  env = \"X\"\n  source = \"env:X\"\n  format = \"token\"\n}\n", line: 11, col: 12, msg: "must contain %s exactly once"},
		{name: "unknown limit", src: header + "process {\n  limits = { memroy = \"1GiB\" }\n}\n", line: 5, col: 14, msg: `no key "memroy"`, hint: `"memory"`},
		{name: "bad size", src: header + "process {\n  limits = { memory = \"lots\" }\n}\n", line: 5, col: 23, msg: "not a size"},
		{name: "bad capability", src: header + "process {\n  capabilities = [\"CAP_SYS_ADMN\"]\n}\n", line: 5, col: 19, msg: "not a capability", hint: `"CAP_SYS_ADMIN"`},
		{name: "bad user", src: header + "process {\n  user = \"Robert'); DROP\"\n}\n", line: 5, col: 10, msg: "not a user"},
		{name: "bad env name", src: header + "process {\n  env = { pass = [\"A-B\"] }\n}\n", line: 5, col: 19, msg: "not an environment variable name"},
		{name: "bad env() name", src: header + "filesystem {\n  read = [\"${env(\"A B\")}/x\"]\n}\n", line: 5, col: 14, msg: "not an environment variable name"},
		{name: "duplicate block", src: header + "network {\n}\nnetwork {\n}\n", line: 6, col: 1, msg: "duplicate network block"},
		{name: "missing policy block", src: "filesystem {\n}\n", line: 1, col: 1, msg: "missing policy block"},
		{name: "syntax error", src: "policy \"t\" {\n  mode = \n}\n", line: 2, col: 10, msg: "invalid expression"},
		{name: "unknown builtin", src: "policy \"t\" {\n  extends = [\"builtin:nope\"]\n}\n", line: 2, col: 14, msg: `no builtin policy "nope"`},
		{name: "absolute extends", src: "policy \"t\" {\n  extends = [\"/etc/x.hcl\"]\n}\n", line: 2, col: 14, msg: "relative to this file"},
		{name: "extends a device", src: "policy \"t\" {\n  extends = [\"../../../../../../../../dev/zero\"]\n}\n", line: 2, col: 14, msg: "not a regular file"},
		{name: "extends a directory", src: "policy \"t\" {\n  extends = [\".\"]\n}\n", line: 2, col: 14, msg: "not a regular file"},
		{name: "unknown --var", src: header, msg: `declares no variable "nope"`, vars: map[string]string{"nope": "1"}},
		{name: "string where list expected", src: header + "filesystem {\n  read = \"/srv\"\n}\n", line: 5, col: 10, msg: "must be a list of strings"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "t.hcl")
			if err := os.WriteFile(path, []byte(c.src), 0o644); err != nil {
				t.Fatal(err)
			}
			res := Load(path, c.vars)
			if res.Policy != nil {
				t.Fatalf("accepted:\n%s", c.src)
			}
			expectDiag(t, res.Diags, path, c)
		})
	}
}

func expectDiag(t *testing.T, diags hcl.Diagnostics, path string, c badCase) {
	t.Helper()
	var all []string
	for _, d := range Flatten(diags) {
		all = append(all, d.File+":"+strconv.Itoa(d.Line)+":"+strconv.Itoa(d.Col)+": "+d.Message+" | hint: "+d.Hint)
		if d.Severity != "error" || !strings.Contains(d.Message, c.msg) {
			continue
		}
		if c.line != 0 && (d.File != path || d.Line != c.line || d.Col != c.col) {
			t.Errorf("error %q at %s:%d:%d, want line %d col %d", d.Message, d.File, d.Line, d.Col, c.line, c.col)
		}
		if c.hint != "" && !strings.Contains(d.Hint, c.hint) {
			t.Errorf("hint %q does not contain %q", d.Hint, c.hint)
		}
		return
	}
	t.Errorf("no error containing %q; got:\n  %s", c.msg, strings.Join(all, "\n  "))
}

// The caret sits under the offending token, and the text names file:line:col.
func TestDiagnosticText(t *testing.T) {
	src := header + "filesystem {\n\tread = [\"~/x\"]\n}\n"
	res := LoadSource("t.hcl", []byte(src), nil)
	var buf bytes.Buffer
	WriteText(&buf, Flatten(res.Diags), res.Files, false)
	want := "t.hcl:5:10: error: filesystem.read[0] \"~/x\" is a relative path\n" +
		"    5 |     read = [\"~/x\"]\n" +
		"      |             ^^^^^\n" +
		"  hint: policies do not expand ~; write ${home}/x\n"
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestExtends(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"org/base.hcl": "policy \"org\" {\n  mode = \"audit\"\n  extends = [\"builtin:base\"]\n}\nfilesystem {\n  deny = [\"${workspace}/secrets\"]\n}\nnetwork {\n  allow = [\"api.example.com\"]\n}\n",
		"org/net.hcl":  "policy \"net\" {\n  extends = [\"base.hcl\"]\n}\nnetwork {\n  allow = [\"git.example.com\"]\n}\n",
		"team.hcl":     "policy \"team\" {\n  mode = \"enforce\"\n  extends = [\"org/base.hcl\", \"org/net.hcl\"]\n}\nfilesystem {\n  write = [\"${workspace}\"]\n}\n",
	})
	res := Load(filepath.Join(dir, "team.hcl"), nil)
	if res.Diags.HasErrors() {
		t.Fatal(res.Diags.Error())
	}
	b, err := Compile(res.Policy)
	if err != nil {
		t.Fatal(err)
	}
	var srcs []string
	for _, s := range b.Metadata.Sources {
		srcs = append(srcs, s.Name)
	}
	// Parents first, each file once although org/base.hcl is reached twice.
	if got := strings.Join(srcs, " "); got != "builtin:base org/base.hcl org/net.hcl team.hcl" {
		t.Errorf("sources %q", got)
	}
	if b.Metadata.Policy != "team" || b.Metadata.Mode != "enforce" {
		t.Errorf("the child's settings should win: %s %s", b.Metadata.Policy, b.Metadata.Mode)
	}
	fs, err := b.Filesystem.Resolve(bundle.Vars{Workspace: "/w", Home: "/h", Tmp: "/t", User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	if d := fs.Decide("/w/src/main.go", true); d.Verdict != bundle.VerdictAllow {
		t.Errorf("the child's grant is missing: %+v", d)
	}
	// The parent's denial wins over the child's grant.
	if d := fs.Decide("/w/secrets/token", false); d.Verdict != bundle.VerdictDeny || d.Rule.File != "org/base.hcl" {
		t.Errorf("the parent's deny should win: %+v", d)
	}
	for _, h := range []string{"api.example.com", "git.example.com"} {
		if d, _ := b.Network.Decide(h, 443); d.Verdict != bundle.VerdictRedirect {
			t.Errorf("%s: %v", h, d.Verdict)
		}
	}
}

func TestExtendsCycle(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.hcl": "policy \"a\" {\n  extends = [\"b.hcl\"]\n}\n",
		"b.hcl": "policy \"b\" {\n  extends = [\"a.hcl\"]\n}\n",
	})
	res := Load(filepath.Join(dir, "a.hcl"), nil)
	expectDiag(t, res.Diags, filepath.Join(dir, "b.hcl"), badCase{msg: "extends cycle", line: 2, col: 14})
}

func TestVariables(t *testing.T) {
	b := compileBuiltin(t, "default", map[string]string{"extra_hosts": "registry.example.org, pkg.example.net:8443"})
	for _, h := range []struct {
		host string
		port uint16
	}{{"registry.example.org", 443}, {"pkg.example.net", 8443}} {
		if d, _ := b.Network.Decide(h.host, h.port); d.Verdict != bundle.VerdictRedirect {
			t.Errorf("%s:%d: %v (%s)", h.host, h.port, d.Verdict, d.Reason)
		}
	}
	res := LoadBuiltin("default", map[string]string{"extra_hosts": "*"})
	if res.Policy != nil || !strings.Contains(res.Diags.Error(), "matches every host") {
		t.Errorf("a variable's values are validated like literals: %v", res.Diags)
	}
}

// Path variables stay templates in the bundle and resolve at launch for the
// workload's user; a home with glob characters stays literal in deny rules.
func TestTemplatesResolveAtLaunch(t *testing.T) {
	b := compileBuiltin(t, "default", nil)
	found := false
	for _, d := range b.Filesystem.Deny {
		found = found || d.Pattern == "${home}/.ssh"
	}
	if !found {
		t.Fatal("the bundle should carry ${home}/.ssh unresolved")
	}
	fs, err := b.Filesystem.Resolve(bundle.Vars{Workspace: "/srv/w[1]", Home: "/home/a*b", Tmp: "/tmp/p", User: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if d := fs.Decide("/home/a*b/.ssh/id_rsa", false); d.Verdict != bundle.VerdictDeny {
		t.Errorf("own .ssh: %v", d.Verdict)
	}
	// If "*" in the home were a wildcard, this would be denied too.
	if d := fs.Decide("/home/aXb/.ssh/id_rsa", false); d.Rule != nil && d.Rule.Field == "filesystem.deny[0]" {
		t.Errorf("a glob character in ${home} was treated as a wildcard")
	}
	if d := fs.Decide("/srv/w[1]/main.go", true); d.Verdict != bundle.VerdictAllow {
		t.Errorf("workspace with brackets: %v %s", d.Verdict, d.Reason)
	}
}

func TestDefaultPolicyDecisions(t *testing.T) {
	b := compileBuiltin(t, "default", nil)
	fs, err := b.Filesystem.Resolve(bundle.Vars{Workspace: "/home/u/repo", Home: "/home/u", Tmp: "/tmp/pd", User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	paths := []struct {
		path  string
		write bool
		want  string
	}{
		{"/home/u/repo/main.go", true, "allow"},
		{"/home/u/repo/main.go", false, "allow"},
		{"/tmp/pd/build.o", true, "allow"},
		{"/usr/bin/git", false, "allow"},
		{"/usr/bin/git", true, "deny"},
		{"/etc/passwd", false, "allow"},
		{"/etc/shadow", false, "deny"},
		{"/home/u/.ssh/id_ed25519", false, "deny"},
		{"/home/u/.aws/credentials", false, "deny"},
		{"/home/u/.config/gcloud/application_default_credentials.json", false, "deny"},
		{"/home/u/.azure/accessTokens.json", false, "deny"},
		{"/home/u/.kube/config", false, "deny"},
		{"/home/u/.docker/config.json", false, "deny"},
		{"/home/u/.git-credentials", false, "deny"},
		{"/home/u/.netrc", false, "deny"},
		{"/home/u/repo/.npmrc", false, "deny"},
		{"/home/u/repo/.pypirc", false, "deny"},
		{"/home/u/repo/.env", false, "deny"},
		{"/home/u/repo/config/.env.production", false, "deny"},
		{"/home/u/repo/tls/server.pem", false, "deny"},
		{"/home/u/repo/tls/server.key", false, "deny"},
		{"/home/u/repo/gcp-prod-service-account.json", false, "deny"},
		{"/home/u/.bashrc", true, "deny"},
		{"/home/u/.zshrc", true, "deny"},
		{"/home/u/.local/bin/ls", true, "deny"},
		{"/home/u/repo/.git/hooks/pre-commit", true, "deny"},
		{"/home/u/repo/.git/config", true, "deny"},
		{"/home/u/repo/.git/HEAD", true, "allow"},
		{"/home/u/repo/.claude/settings.json", true, "deny"},
		{"/home/u/repo/.claude/hooks/x.sh", true, "deny"},
		{"/home/u/repo/.vscode/tasks.json", true, "deny"},
		{"/home/u/Documents/x", false, "deny"},
	}
	for _, c := range paths {
		if d := fs.Decide(c.path, c.write); d.Verdict != c.want {
			t.Errorf("%s (write=%v): %s, want %s (%s)", c.path, c.write, d.Verdict, c.want, d.Reason)
		}
	}
	hosts := []struct {
		host string
		port uint16
		want string
	}{
		{"api.anthropic.com", 443, "redirect"},
		{"API.Anthropic.COM.", 443, "redirect"},
		{"github.com", 22, "redirect"},
		{"github.com", 8080, "deny"},
		{"evil.example", 443, "deny"},
		{"169.254.169.254", 80, "deny"},
		{"127.0.0.1", 8080, "deny"},
		{"2130706433", 80, "deny"}, // 127.0.0.1 spelled as one number
		{"0x7f.1", 80, "deny"},
		{"localhost", 5432, "deny"},
		{"[::1]", 80, "deny"},
	}
	for _, h := range hosts {
		d, err := b.Network.Decide(h.host, h.port)
		if err != nil {
			t.Errorf("%s: %v", h.host, err)
			continue
		}
		if d.Verdict != h.want {
			t.Errorf("%s:%d: %s, want %s (%s)", h.host, h.port, d.Verdict, h.want, d.Reason)
		}
	}
}

func TestAuditModeLogsInsteadOfBlocking(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.hcl": "policy \"a\" {\n  mode = \"audit\"\n  extends = [\"builtin:default\"]\n}\n"})
	res := Load(filepath.Join(dir, "a.hcl"), nil)
	if res.Diags.HasErrors() {
		t.Fatal(res.Diags.Error())
	}
	b, err := Compile(res.Policy)
	if err != nil {
		t.Fatal(err)
	}
	score, _ := bundle.Exposure(b)
	if score < 4 {
		t.Errorf("audit mode should raise the exposure score, got %.1f", score)
	}
	if b.Metadata.Mode != "audit" {
		t.Errorf("mode %s", b.Metadata.Mode)
	}
}
