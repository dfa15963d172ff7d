package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The privileged suite builds agentctl and escape-probe once, starts an
// agentd of its own, then runs the probe inside sandboxes in four modes:
//
//	root      agentctl as root, the workload as root (no capabilities)
//	user      agentctl as root, the workload as uid 65534 (--user)
//	rootless  agentctl itself as uid 65534, no daemon, no privileges
//	agentd    agentctl as uid 65534 in a sandbox of the test's agentd
//
// Outside CI a non-root run skips it; under CI=true it must run.

var bin struct{ dir, agentctl, probe string }

// testSocket is the socket of the suite's agentd.
var testSocket string

func TestMain(m *testing.M) {
	code := func() int {
		if os.Geteuid() == 0 {
			dir, err := os.MkdirTemp("", "paddock-bin-")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer os.RemoveAll(dir)
			_ = os.Chmod(dir, 0o755)
			bin.dir, bin.agentctl, bin.probe = dir, filepath.Join(dir, "agentctl"), filepath.Join(dir, "escape-probe")
			for _, b := range [][2]string{{bin.agentctl, "."}, {filepath.Join(dir, "paddock-shim"), "../../agentd/cmd/paddock-shim"}, {bin.probe, "../escape-probe"}} {
				cmd := exec.Command("go", "build", "-o", b[0], b[1])
				if strings.HasSuffix(b[1], "/paddock-shim") {
					cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // as make build ships it
				}
				out, err := cmd.CombinedOutput()
				if err != nil {
					fmt.Fprintf(os.Stderr, "building %s: %v\n%s", b[1], err, out)
					return 1
				}
			}
			stop, err := startAgentd(dir)
			if err != nil {
				fmt.Fprintf(os.Stderr, "starting agentd: %v\n", err)
				return 1
			}
			defer stop()
		}
		return m.Run()
	}()
	os.Exit(code)
}

// privileged skips a test that needs root, except under CI=true, where
// skipping would hide a failure.
func privileged(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test needs root, and CI=true forbids skipping it")
		}
		t.Skip("needs root (CI=true makes this a failure)")
	}
}

const nobody = 65534

var modes = []string{"root", "user", "rootless", "agentd"}

// sandbox is one test's world: a workspace and a home full of canaries.
type sandbox struct {
	t        *testing.T
	mode     string
	uid      int
	base     string
	home, ws string
	probe    string            // the probe's copy inside the workspace
	tokens   map[string]string // canary path -> its token
	policy   string
	extra    []*os.File // passed to agentctl as descriptors 3...
	stdio    *os.File   // when set, agentctl's stdin, stdout and stderr
	sock     string     // agentd mode: another agentd than the suite's
}

// token is a unique marker that must never appear in a sandbox's output.
func token(name string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "CANARY-" + name + "-" + hex.EncodeToString(b)
}

// Credential canaries: every one is a deny rule of builtin:base.
var homeSecrets = []string{
	".ssh/id_ed25519", ".aws/credentials", ".config/gh/hosts.yml", ".netrc", ".git-credentials",
	".docker/config.json", ".kube/config", ".gnupg/private-keys-v1.d/key.key", ".npmrc",
	".password-store/bank.gpg", ".vault-token", ".cargo/credentials.toml", ".config/gcloud/credentials.db",
}
var workspaceSecrets = []string{
	".env", ".env.local", "config/server.pem", "deploy/tls.key", ".npmrc", "sub/dir/.pypirc",
	"gcp-service-account.json", "app/.env.production",
}

// Files whose content must survive the sandbox (deny_write, or read-only).
var homeProtected = []string{".bashrc", ".profile", ".zshrc", ".gitconfig", ".config/git/config"}
var workspaceProtected = []string{".git/hooks/pre-commit", ".git/config", ".vscode/tasks.json", ".claude/settings.json", ".mcp.json"}

func newSandbox(t *testing.T, mode string) *sandbox {
	t.Helper()
	privileged(t)
	base, err := os.MkdirTemp("", "paddock-escape-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	_ = os.Chmod(base, 0o755)
	s := &sandbox{t: t, mode: mode, base: base, home: filepath.Join(base, "home"), ws: filepath.Join(base, "ws"),
		tokens: map[string]string{}, policy: "builtin:default"}
	if mode != "root" {
		s.uid = nobody
	}
	for _, p := range homeSecrets {
		s.plant(filepath.Join(s.home, p), token("home-"+filepath.Base(p)))
	}
	for _, p := range workspaceSecrets {
		s.plant(filepath.Join(s.ws, p), token("ws-"+filepath.Base(p)))
	}
	for _, p := range homeProtected {
		s.write(filepath.Join(s.home, p), "# protected "+p+"\n")
	}
	for _, p := range workspaceProtected {
		s.write(filepath.Join(s.ws, p), "# protected "+p+"\n")
	}
	s.write(filepath.Join(s.ws, "src/main.go"), "package main\n")
	_ = os.MkdirAll(filepath.Join(s.home, ".local/bin"), 0o755)
	s.probe = filepath.Join(s.ws, "escape-probe")
	data, err := os.ReadFile(bin.probe)
	if err != nil {
		t.Fatal(err)
	}
	s.writeMode(s.probe, string(data), 0o755)
	if s.uid != 0 {
		s.chownAll(s.base)
	}
	return s
}

func (s *sandbox) plant(path, tok string) {
	s.write(path, "secret="+tok+"\n")
	s.tokens[path] = tok
}

func (s *sandbox) write(path, content string) { s.writeMode(path, content, 0o644) }

func (s *sandbox) writeMode(path, content string, mode os.FileMode) {
	s.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		s.t.Fatal(err)
	}
	_ = os.Chmod(path, mode)
}

func (s *sandbox) chownAll(root string) {
	s.t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, s.uid, s.uid)
	})
	if err != nil {
		s.t.Fatal(err)
	}
}

// result is one run: its combined output and exit status.
type result struct {
	out  string
	code int
}

// run runs argv inside the sandbox with agentctl.
func (s *sandbox) run(argv ...string) result {
	s.t.Helper()
	args := []string{"run", "--quiet", "--policy", s.policy, "--agentd", "never"}
	if s.mode == "agentd" {
		args[len(args)-1] = "always"
	}
	if s.mode == "user" {
		args = append(args, "--user", fmt.Sprint(nobody))
	}
	args = append(append(args, "--"), argv...)
	return s.exec(bin.agentctl, args...)
}

// probeRun runs the probe inside the sandbox.
// It fails the test if the probe did not get to try its technique, so a
// broken probe never passes for a blocked attack.
func (s *sandbox) probeRun(technique string, args ...string) result {
	s.t.Helper()
	r := s.run(append([]string{s.probe, technique}, args...)...)
	if !strings.Contains(r.out, "probe: ") {
		s.t.Fatalf("the probe did not run %s (status %d):\n%s", technique, r.code, r.out)
	}
	return r
}

// bare runs the probe outside any sandbox as the workload's uid: the
// control that shows a canary is reachable without Paddock.
func (s *sandbox) bare(technique string, args ...string) result {
	s.t.Helper()
	return s.bareExec(s.probe, append([]string{technique}, args...)...)
}

// bareExec runs a program outside any sandbox as the workload's uid.
func (s *sandbox) bareExec(path string, args ...string) result {
	s.t.Helper()
	saved := s.mode
	if s.mode == "user" {
		s.mode = "rootless" // same uid, launched directly
	}
	defer func() { s.mode = saved }()
	return s.exec(path, args...)
}

func (s *sandbox) exec(path string, args ...string) result {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = s.ws
	// Only the agentd mode may find a daemon, even where one runs.
	sock := filepath.Join(bin.dir, "no-agentd.sock")
	if s.mode == "agentd" {
		sock = testSocket
		if s.sock != "" {
			sock = s.sock
		}
	}
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + s.home, "LANG=C.UTF-8", "TOP_SECRET_ENV=" + token("env"), "PADDOCK_SOCKET=" + sock}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if s.stdio != nil {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = s.stdio, s.stdio, s.stdio
	}
	cmd.ExtraFiles = s.extra
	if s.mode == "rootless" || s.mode == "agentd" {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}}
	}
	err := cmd.Run()
	if ctx.Err() != nil {
		s.t.Fatalf("%s %s: timed out\n%s", path, strings.Join(args, " "), out.String())
	}
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			s.t.Fatalf("%s: %v", path, err)
		}
		code = ee.ExitCode()
		if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			code = 128 + int(st.Signal())
		}
	}
	return result{out: out.String(), code: code}
}

// noLeak fails the test for every canary token in out.
func (s *sandbox) noLeak(r result, what string) {
	s.t.Helper()
	for path, tok := range s.tokens {
		if strings.Contains(r.out, tok) {
			s.t.Errorf("%s: the canary of %s leaked into the sandbox's output:\n%s", what, path, r.out)
		}
	}
}

// unchanged fails the test if a protected file lost its content.
func (s *sandbox) unchanged(path string) {
	s.t.Helper()
	rel, _ := filepath.Rel(s.base, path)
	want := "# protected " + strings.TrimPrefix(strings.TrimPrefix(rel, "home/"), "ws/") + "\n"
	got, err := os.ReadFile(path)
	if err != nil {
		s.t.Errorf("%s: %v (it must survive the sandbox)", path, err)
		return
	}
	if string(got) != want {
		s.t.Errorf("%s was changed from inside the sandbox: now %q", path, got)
	}
}

// forModes runs f as a subtest in every mode.
func forModes(t *testing.T, f func(t *testing.T, s *sandbox)) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) { f(t, newSandbox(t, mode)) })
	}
}
