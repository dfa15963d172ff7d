package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paddock-sh/paddock/compiler/internal/badcases"
	"github.com/paddock-sh/paddock/policies"
)

func policyc(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func chdir(t *testing.T) string {
	dir := t.TempDir()
	t.Chdir(dir)
	return dir
}

// Every verb works on every shipped policy.
func TestVerbsOnShippedPolicies(t *testing.T) {
	dir := chdir(t)
	for _, name := range policies.Names() {
		ref := "builtin:" + name
		if code, _, stderr := policyc(t, "check", ref); code != exitOK {
			t.Errorf("check %s: %d %s", ref, code, stderr)
		}
		code, out, stderr := policyc(t, "build", ref)
		if code != exitOK || !strings.Contains(out, "compiled "+name) {
			t.Fatalf("build %s: %d %s %s", ref, code, out, stderr)
		}
		bundlePath := filepath.Join(dir, name+".bundle")
		if _, err := os.Stat(bundlePath); err != nil {
			t.Fatalf("build %s wrote no bundle: %v", ref, err)
		}
		for _, target := range []string{ref, bundlePath} {
			if code, out, stderr := policyc(t, "plan", target); code != exitOK || !strings.Contains(out, "Exposure:") {
				t.Errorf("plan %s: %d %s", target, code, stderr)
			}
			if code, _, stderr := policyc(t, "explain", target, "--syscall", "read"); code != exitOK {
				t.Errorf("explain %s --syscall read: %d %s", target, code, stderr)
			}
		}
		src, _ := policies.Read(name)
		file := filepath.Join(dir, name+".hcl")
		os.WriteFile(file, src, 0o644)
		if code, out, _ := policyc(t, "fmt", "--check", file); code != exitOK {
			t.Errorf("builtin:%s is not in canonical format: %s", name, out)
		}
	}
}

func TestBuildWritesBesideAndIsDeterministic(t *testing.T) {
	dir := chdir(t)
	os.MkdirAll(filepath.Join(dir, "p"), 0o755)
	src := "policy \"mine\" {\n  extends = [\"builtin:default\"]\n}\n"
	os.WriteFile(filepath.Join(dir, "p", "mine.hcl"), []byte(src), 0o644)
	if code, _, stderr := policyc(t, "build", "p/mine.hcl"); code != exitOK {
		t.Fatalf("build: %s", stderr)
	}
	first, err := os.ReadFile(filepath.Join(dir, "p", "mine.bundle"))
	if err != nil {
		t.Fatal(err)
	}
	if code, _, _ := policyc(t, "build", "p/mine.hcl", "-o", "other.bundle"); code != exitOK {
		t.Fatal("build -o failed")
	}
	second, _ := os.ReadFile(filepath.Join(dir, "other.bundle"))
	if !bytes.Equal(first, second) {
		t.Error("the same policy built twice gave different bytes")
	}
	code, out, _ := policyc(t, "build", "p/mine.hcl", "--json", "-o", "third.bundle")
	var s summary
	if code != exitOK || json.Unmarshal([]byte(out), &s) != nil || s.Policy != "mine" || s.Syscalls < 200 {
		t.Errorf("build --json: %d %q", code, out)
	}
}

func TestCheckReportsErrors(t *testing.T) {
	dir := chdir(t)
	src := "policy \"t\" {\n  extends = [\"builtin:base\"]\n}\nfilesystem {\n  deny_wrte = [\"x\"]\n}\nsyscalls {\n  allow = [\"ptace\"]\n}\n"
	os.WriteFile(filepath.Join(dir, "t.hcl"), []byte(src), 0o644)
	code, _, stderr := policyc(t, "check", "t.hcl")
	if code != exitPolicy {
		t.Errorf("exit %d, want %d", code, exitPolicy)
	}
	for _, want := range []string{
		"t.hcl:5:3: error: unsupported argument",
		"  hint: did you mean \"deny_write\"?",
		"t.hcl:8:12: error: syscalls.allow[0]: unknown syscall \"ptace\"",
		"      |            ^^^^^^^\n",
		"  hint: did you mean \"ptrace\"?",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "\x1b[") {
		t.Error("colour codes written to a non-terminal")
	}
	code, out, _ := policyc(t, "check", "t.hcl", "--json")
	var res struct {
		OK          bool
		Diagnostics []struct{ File, Message, Hint string }
	}
	if code != exitPolicy || json.Unmarshal([]byte(out), &res) != nil || res.OK || len(res.Diagnostics) != 2 {
		t.Errorf("check --json: %d %s", code, out)
	}
	if code, _, _ := policyc(t, "build", "t.hcl"); code != exitPolicy {
		t.Errorf("build of a bad policy exited %d", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "t.bundle")); err == nil {
		t.Error("a bad policy left a bundle behind")
	}
}

func TestExplainExitCodes(t *testing.T) {
	chdir(t)
	cases := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"--path", "/etc/passwd"}, exitOK, "allow"},
		{[]string{"--path", "/x/.ssh/id_rsa", "--home", "/x"}, exitDeny, `filesystem.deny[0] "${home}/.ssh"`},
		{[]string{"--path", "repo/.git/hooks/pre-commit", "--write", "--workspace", "/w"}, exitDeny, "deny_write"},
		{[]string{"--host", "api.anthropic.com"}, exitOK, "redirect"},
		{[]string{"--host", "github.com:22"}, exitOK, "redirect"},
		{[]string{"--host", "evil.example:443"}, exitDeny, "no rule allows"},
		{[]string{"--syscall", "socket", "--args", "AF_PACKET,SOCK_RAW,0"}, exitDeny, "EAFNOSUPPORT"},
		{[]string{"--syscall", "ptrace"}, exitDeny, "@debug"},
		{[]string{"--syscall", "read", "--json"}, exitOK, `"verdict": "allow"`},
	}
	for _, c := range cases {
		code, out, stderr := policyc(t, append([]string{"explain", "builtin:default"}, c.args...)...)
		if code != c.code || !strings.Contains(out, c.out) {
			t.Errorf("explain %v: exit %d (want %d), output %q lacks %q; %s", c.args, code, c.code, out, c.out, stderr)
		}
	}
	ask := filepath.Join(t.TempDir(), "ask.hcl")
	os.WriteFile(ask, []byte("policy \"ask\" {\n  extends = [\"builtin:default\"]\n}\nnetwork {\n  on_unknown = \"ask\"\n}\n"), 0o644)
	if code, out, _ := policyc(t, "explain", ask, "--host", "new.example"); code != exitAsk || !strings.HasPrefix(out, "ask") {
		t.Errorf("ask: %d %q", code, out)
	}
	for _, bad := range [][]string{
		{"explain", "builtin:default"},
		{"explain", "builtin:default", "--path", "/a", "--host", "b.example"},
		{"explain", "builtin:default", "--syscall", "no_such"},
		{"explain", "builtin:default", "--syscall", "@mount"},
		{"explain", "builtin:default", "--syscall", "socket", "--args", "AF_NOPE"},
		{"explain", "builtin:default", "--host", "a\x00b.example"},
	} {
		if code, _, stderr := policyc(t, bad...); code != exitUsage || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q", bad, code, stderr)
		}
	}
}

func TestPlanThreshold(t *testing.T) {
	dir := chdir(t)
	open := filepath.Join(dir, "open.hcl")
	os.WriteFile(open, []byte("policy \"open\" {\n  mode = \"audit\"\n}\nfilesystem {\n  read = [\"/\"]\n  write = [\"${home}\"]\n}\nnetwork {\n  on_unknown = \"ask\"\n}\nsyscalls {\n  allow = [\"@known\"]\n}\n"), 0o644)
	code, out, stderr := policyc(t, "plan", open, "--threshold", "5")
	if code != exitPolicy || !strings.Contains(stderr, "above the threshold") {
		t.Errorf("an open policy passed the threshold: %d %s", code, stderr)
	}
	for _, want := range []string{"audit mode", "can read /home/agent/.ssh/id_ed25519", "can write /home/agent/.bashrc", "may mount filesystems", "io_uring"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan does not list %q", want)
		}
	}
	if code, _, stderr := policyc(t, "plan", "builtin:default", "--threshold", "1"); code != exitOK {
		t.Errorf("the default policy should pass a threshold of 1: %s", stderr)
	}
	code, out, _ = policyc(t, "plan", "builtin:claude-code", "--json")
	var plan map[string]any
	if code != exitOK || json.Unmarshal([]byte(out), &plan) != nil || plan["exposure"] == nil {
		t.Errorf("plan --json: %d", code)
	}
	if strings.Contains(out, "paddock:cred:") && strings.Contains(out, "\"value\"") {
		t.Error("plan shows a credential value")
	}
}

func TestFmt(t *testing.T) {
	dir := chdir(t)
	messy := "policy   \"t\"   {\nmode=\"enforce\"\n  extends = [ \"builtin:base\" ]\n}\n"
	path := filepath.Join(dir, "t.hcl")
	os.WriteFile(path, []byte(messy), 0o640)
	if code, out, _ := policyc(t, "fmt", "--check", path); code != exitPolicy || !strings.Contains(out, "t.hcl") {
		t.Errorf("fmt --check on a messy file: %d %q", code, out)
	}
	code, out, _ := policyc(t, "fmt", path)
	if code != exitOK || !strings.Contains(out, "  mode    = \"enforce\"") {
		t.Errorf("fmt: %d %q", code, out)
	}
	if data, _ := os.ReadFile(path); string(data) != messy {
		t.Error("fmt without -w changed the file")
	}
	if code, _, _ := policyc(t, "fmt", "-w", path); code != exitOK {
		t.Fatal("fmt -w failed")
	}
	if data, _ := os.ReadFile(path); string(data) != out {
		t.Errorf("fmt -w wrote %q", data)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("fmt -w changed the file mode to %v", fi.Mode().Perm())
	}
	broken := filepath.Join(dir, "broken.hcl")
	os.WriteFile(broken, []byte("policy \"t\" {\n  mode = \n"), 0o644)
	if code, _, stderr := policyc(t, "fmt", "-w", broken); code != exitPolicy || !strings.Contains(stderr, "broken.hcl:") {
		t.Errorf("fmt on a broken file: %d %s", code, stderr)
	}
	if data, _ := os.ReadFile(broken); string(data) != "policy \"t\" {\n  mode = \n" {
		t.Error("fmt -w rewrote a file that does not parse")
	}
}

func TestBrokenBundle(t *testing.T) {
	dir := chdir(t)
	if code, _, _ := policyc(t, "build", "builtin:default"); code != exitOK {
		t.Fatal("build failed")
	}
	path := filepath.Join(dir, "default.bundle")
	data, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(data, []byte(`"${home}/.ssh"`), []byte(`"${home}/.ssx"`), 1), 0o644)
	code, _, stderr := policyc(t, "explain", path, "--path", "/h/.ssh/id_rsa", "--home", "/h")
	if code != exitPolicy || !strings.Contains(stderr, "default.bundle: checksum mismatch") {
		t.Errorf("an altered bundle was used: %d %s", code, stderr)
	}
}

func TestUsage(t *testing.T) {
	chdir(t)
	if code, out, _ := policyc(t, "--help"); code != exitOK || !strings.Contains(out, "policyc build") {
		t.Errorf("--help: %d", code)
	}
	for _, cmd := range []string{"build", "check", "fmt", "explain", "plan", "groups"} {
		if code, out, _ := policyc(t, cmd, "--help"); code != exitOK || !strings.Contains(out, "Usage: policyc "+cmd) {
			t.Errorf("%s --help: %d %q", cmd, code, out)
		}
	}
	if code, _, _ := policyc(t); code != exitUsage {
		t.Error("no arguments should be a usage error")
	}
	if code, _, stderr := policyc(t, "bild"); code != exitUsage || !strings.Contains(stderr, "unknown command") {
		t.Errorf("unknown command: %d", code)
	}
	if code, _, stderr := policyc(t, "check", "missing.hcl"); code != exitUsage || !strings.Contains(stderr, "missing.hcl") {
		t.Errorf("missing file: %d %s", code, stderr)
	}
	if code, _, stderr := policyc(t, "build", "builtin:nope"); code != exitPolicy || !strings.Contains(stderr, "no builtin policy \"nope\"") {
		t.Errorf("unknown builtin: %d %s", code, stderr)
	}
	if code, _, _ := policyc(t, "build", "a.hcl", "b.hcl"); code != exitUsage {
		t.Error("two policies should be a usage error")
	}
	if code, _, stderr := policyc(t, "build", "builtin:default", "--var", "nope=1"); code != exitPolicy || !strings.Contains(stderr, "declares no variable") {
		t.Errorf("unknown --var: %d %s", code, stderr)
	}
}

func TestGroups(t *testing.T) {
	code, out, _ := policyc(t, "groups")
	if code != exitOK || !strings.Contains(out, "@system-service") || !strings.Contains(out, "@privileged") {
		t.Errorf("groups: %d", code)
	}
	code, out, _ = policyc(t, "groups", "@mount")
	if code != exitOK || !strings.Contains(out, "umount2") {
		t.Errorf("groups @mount: %d %q", code, out)
	}
	if code, _, stderr := policyc(t, "groups", "@moutn"); code != exitUsage || !strings.Contains(stderr, "@mount") {
		t.Errorf("groups @moutn: %d %s", code, stderr)
	}
}

// Every class of bad input, through the command: exit 1, the error at
// file:line:col with its message, the hint, and no bundle left behind.
func TestCheckEveryBadInputClass(t *testing.T) {
	cases, err := badcases.Read(filepath.Join("..", "..", badcases.Dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			args := []string{"build", c.Path, "-o", filepath.Join(t.TempDir(), "out.bundle")}
			for k, v := range c.Vars {
				args = append(args, "--var", k+"="+v)
			}
			code, stdout, stderr := policyc(t, args...)
			if code != exitPolicy {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, exitPolicy, stderr)
			}
			if stdout != "" {
				t.Errorf("a failed build printed a summary: %q", stdout)
			}
			want := "error: "
			if c.Line != 0 {
				want = fmt.Sprintf("%s:%d:%d: error: ", c.Path, c.Line, c.Col)
			}
			if !strings.Contains(stderr, want) || !strings.Contains(stderr, c.Msg) {
				t.Errorf("stderr lacks %q and %q:\n%s", want, c.Msg, stderr)
			}
			if c.Hint != "" && !strings.Contains(stderr, "hint: ") {
				t.Errorf("stderr has no hint:\n%s", stderr)
			}
			if _, err := os.Stat(args[3]); err == nil {
				t.Error("a bundle was written for a bad policy")
			}
		})
	}
}
