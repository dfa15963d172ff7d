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
	"github.com/paddock-sh/paddock/compiler/internal/badcases"
	"github.com/paddock-sh/paddock/compiler/seccomp"
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

func compileFile(t *testing.T, path string) *bundle.Bundle {
	t.Helper()
	res := Load(path, nil)
	if res.Diags.HasErrors() {
		t.Fatal(res.Diags.Error())
	}
	b, err := Compile(res.Policy)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type badCase struct {
	line, col int
	msg, hint string
}

const header = "policy \"t\" {\n  extends = [\"builtin:base\"]\n}\n"

// Each class of bad input (testdata/bad, one file each) gets an error at the
// offending token, with a message a person can act on and, where one can be
// guessed, a hint.
func TestBadInput(t *testing.T) {
	cases, err := badcases.Read("testdata/bad")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			res := Load(c.Path, c.Vars)
			if res.Policy != nil {
				t.Fatalf("%s was accepted", c.Path)
			}
			expectDiag(t, res.Diags, c.Path, badCase{line: c.Line, col: c.Col, msg: c.Msg, hint: c.Hint})
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
	b := compileFile(t, filepath.Join(dir, "team.hcl"))
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
	b := compileFile(t, filepath.Join(dir, "a.hcl"))
	score, _ := bundle.Exposure(b)
	if score < 4 {
		t.Errorf("audit mode should raise the exposure score, got %.1f", score)
	}
	if b.Metadata.Mode != "audit" {
		t.Errorf("mode %s", b.Metadata.Mode)
	}
	// Nothing is blocked, and the explanation says what enforcement would do.
	for _, c := range []struct {
		name string
		args [6]uint64
		rule string
	}{{"ptrace", [6]uint64{}, "syscalls.deny[1]"}, {"socket", [6]uint64{17}, `syscalls.restrict["socket"]`}, {"read", [6]uint64{}, ""}} {
		d, act, err := b.Syscalls.Decide(seccomp.X86_64, c.name, c.args)
		if err != nil || d.Verdict != bundle.VerdictAllow || act.Blocks() {
			t.Errorf("%s: %s %v %v", c.name, d.Verdict, act, err)
		}
		if c.rule != "" && (d.Rule == nil || d.Rule.Field != c.rule || !strings.HasPrefix(d.Reason, "audit mode: ")) {
			t.Errorf("%s: %+v", c.name, d)
		}
	}
}

// A child may deny what a parent restricts: the denial wins and the
// restriction is dropped, not reported as an error.
func TestDenyOverParentRestriction(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.hcl": "policy \"a\" {\n  extends = [\"builtin:default\"]\n}\nsyscalls {\n  deny = [\"@resources\", \"socket\"]\n}\n"})
	b := compileFile(t, filepath.Join(dir, "a.hcl"))
	for _, r := range b.Syscalls.Restrictions {
		if r.Syscall == "prlimit64" || r.Syscall == "socket" {
			t.Errorf("restriction on denied %s kept", r.Syscall)
		}
	}
	for _, name := range []string{"prlimit64", "socket"} {
		d, _, err := b.Syscalls.Decide(seccomp.X86_64, name, [6]uint64{})
		if err != nil || d.Verdict != bundle.VerdictDeny || d.Rule == nil || d.Rule.File != "a.hcl" {
			t.Errorf("%s: %+v %v", name, d, err)
		}
	}
}

// Generated policies may use HCL's JSON syntax.
func TestJSONSyntax(t *testing.T) {
	dir := writeFiles(t, map[string]string{"gen.json": `{
  "policy": {"gen": {"extends": ["builtin:default"], "mode": "enforce"}},
  "network": {"allow": ["registry.example.org"]},
  "filesystem": {"deny": ["${workspace}/private"]}
}`})
	b := compileFile(t, filepath.Join(dir, "gen.json"))
	if d, _ := b.Network.Decide("registry.example.org", 443); d.Verdict != bundle.VerdictRedirect || d.Rule.File != "gen.json" {
		t.Errorf("%+v", d)
	}
	bad := writeFiles(t, map[string]string{"bad.json": `{"policy": {"gen": {}}, "network": {"allow": ["*.com"]}}`})
	res := Load(filepath.Join(bad, "bad.json"), nil)
	expectDiag(t, res.Diags, filepath.Join(bad, "bad.json"), badCase{msg: "public suffix", line: 1, col: 47})
}
