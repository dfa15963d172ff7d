//go:build linux

package bpf

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/compiler/pathglob"
	"github.com/paddock-sh/paddock/internal/kerneltest"
)

// The glob matcher the C side runs (mirrored by matchGlob) agrees with
// pathglob on single components.
func TestGlobMatcherAgreesWithPathglob(t *testing.T) {
	globs := []string{
		".env*", "*.pem", "*-service-account.json", "ssh_host_*_key", "*", "?", "a?c", "*a*b*c*",
		"[abc]*", "[!.]*", "*.[pP][eE][mM]", "x[a-c-]y", "\\*lit", "a\\?b", "[\\]]x", "*.tar.gz", "**",
		"id_rsa*", "*~", ".*rc",
	}
	names := []string{
		".env", ".env.local", "env", ".envrc", "cert.pem", "cert.pem.bak", ".pem", "pem", "my-service-account.json",
		"ssh_host_rsa_key", "ssh_host_key", "ssh_host__key", "abc", "a", "", "aXbYcZ", "cab", ".x", "x.PEM", "xay", "x-y",
		"xdy", "*lit", "lit", "a?b", "axb", "]x", "f.tar.gz", "id_rsa.pub", "notes~", ".bashrc", "rc",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := "abc.-*?[]!\\x"
	for range 3000 {
		b := make([]byte, 1+rng.IntN(8))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		globs = append(globs, string(b))
		n := make([]byte, rng.IntN(10))
		for i := range n {
			n[i] = "abc.-x"[rng.IntN(6)]
		}
		names = append(names, string(n))
	}
	checked := 0
	for _, g := range globs {
		pat, err := pathglob.Parse("/" + g)
		if err != nil {
			continue // not a pattern pathglob accepts
		}
		cp, err := parseComponent(g)
		if err != nil {
			t.Fatalf("pathglob accepts %q, parseComponent does not: %v", g, err)
		}
		for _, n := range names {
			if n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/") {
				continue
			}
			want := pat.MatchSelf("/" + n)
			var got bool
			if cp.glob == nil {
				got = cp.lit == n
			} else {
				got = matchGlob(cp.glob, n)
			}
			if got != want {
				t.Errorf("component %q on %q: %v, pathglob says %v", g, n, got, want)
			}
			checked++
		}
	}
	if checked < 10000 {
		t.Fatalf("only %d comparisons", checked)
	}
}

func TestCompileLimits(t *testing.T) {
	var rules []FileRule
	for i := range MaxGlobs + 1 {
		rules = append(rules, FileRule{Rule: uint32(i + 1), Source: fmt.Sprintf("deny[%d]", i), Tail: []string{fmt.Sprintf("*.x%d", i)}})
	}
	_, err := compileRules(1, 1, rules)
	if err == nil || !strings.Contains(err.Error(), "deny[16]") {
		t.Fatalf("17 globs: %v", err)
	}
	if _, err := compileRules(1, 1, []FileRule{{Source: "deep", Tail: []string{"a", "b", "c", "d", "e"}}}); err == nil || !strings.Contains(err.Error(), "deep") {
		t.Fatalf("5 components: %v", err)
	}
	if _, err := compileRules(1, 1, []FileRule{{Source: "empty"}}); err == nil {
		t.Fatal("a rule with nothing to match was accepted")
	}
}

// fsEnv is a loaded set of hooks with file rules for a made-up sandbox,
// asked through CheckFile: the matcher on the real kernel, BPF-LSM or not.
type fsEnv struct {
	t   testing.TB
	h   *Hooks
	cg  uint64
	dir string
}

func newFSEnv(t testing.TB) *fsEnv {
	kerneltest.Privileged(t)
	h, err := Load(kerneltest.PinDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Unpin()
		h.Close()
	})
	if h.checkErr != nil {
		t.Fatal(h.checkErr)
	}
	return &fsEnv{t: t, h: h, cg: 4242, dir: t.TempDir()}
}

// path makes p (relative to the env's directory) with content c, or a
// directory when p ends in "/".
func (e *fsEnv) path(p string, c ...string) string {
	e.t.Helper()
	full := filepath.Join(e.dir, p)
	if strings.HasSuffix(p, "/") {
		if err := os.MkdirAll(full, 0o755); err != nil {
			e.t.Fatal(err)
		}
		return full
	}
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(strings.Join(c, "")), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return full
}

func (e *fsEnv) ino(p string) Inode {
	e.t.Helper()
	in, err := InodeOf(filepath.Join(e.dir, p))
	if err != nil {
		e.t.Fatal(err)
	}
	return in
}

func (e *fsEnv) put(rules ...FileRule) {
	e.t.Helper()
	if err := e.h.PutFileRules(e.cg, rules); err != nil && !errors.Is(err, ErrNotEnforced) {
		e.t.Fatal(err)
	}
}

// check asks whether p would be refused; want is the rule, 0 for allowed.
func (e *fsEnv) check(p string, write bool, want uint32) {
	e.t.Helper()
	full := p
	if !filepath.IsAbs(p) {
		full = filepath.Join(e.dir, p)
	}
	f, err := os.OpenFile(full, unix.O_PATH, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	v, err := e.h.CheckFile(e.cg, f, write)
	if err != nil {
		e.t.Fatal(err)
	}
	switch {
	case want == 0 && v.Denied:
		e.t.Errorf("%s (write %v): denied by rule %d (%s), want allowed", p, write, v.Rule, v.Reason)
	case want != 0 && !v.Denied:
		e.t.Errorf("%s (write %v): allowed, want denied by rule %d", p, write, want)
	case want != 0 && v.Rule != want:
		e.t.Errorf("%s (write %v): denied by rule %d, want %d", p, write, v.Rule, want)
	}
	if v.Path != full {
		e.t.Errorf("the hooks see %s as %q", full, v.Path)
	}
}

const (
	ruleSSH = iota + 1
	ruleEnv
	rulePem
	ruleHooks
	ruleSecret
	ruleAws
	ruleHostKey
	ruleNpmrc
	ruleNetrc
	ruleClaude
)

func (e *fsEnv) baseRules() []FileRule {
	return []FileRule{
		{Rule: ruleSSH, Inodes: []Inode{e.ino("home/.ssh")}, Tail: []string{".ssh"}, Anchor: AnchorParent, Dir: e.ino("home")},
		{Rule: ruleEnv, Tail: []string{".env*"}},
		{Rule: rulePem, Tail: []string{"*.pem"}},
		{Rule: ruleHooks, WriteOnly: true, Tail: []string{".git", "hooks"}},
		{Rule: ruleSecret, Tail: []string{"secret-[0-9].txt"}, Anchor: AnchorBelow, Dir: e.ino("ws")},
		{Rule: ruleAws, Tail: []string{".aws", "credentials"}, Anchor: AnchorParent, Dir: e.ino("home")},
		{Rule: ruleHostKey, Tail: []string{"ssh_host_*_key"}, Anchor: AnchorParent, Dir: e.ino("etc")},
		{Rule: ruleNpmrc, Tail: []string{".npmrc"}},
		{Rule: ruleNetrc, Inodes: []Inode{e.ino("home/.netrc")}, Tail: []string{".netrc"}, Anchor: AnchorParent, Dir: e.ino("home")},
		{Rule: ruleClaude, WriteOnly: true, Tail: []string{".claude", "settings*.json"}},
	}
}

func (e *fsEnv) baseTree() {
	e.path("home/.ssh/id_rsa", "ssh canary")
	e.path("home/.ssh/keys/k", "key canary")
	e.path("home/.netrc", "netrc canary")
	e.path("home/notes.txt", "notes")
	e.path("ws/.git/hooks/pre-commit", "#!/bin/sh")
	e.path("ws/.git/config", "[core]")
	e.path("ws/x/hooks/h", "not a git hook")
	e.path("etc/sub/")
	e.path("other/")
}

func TestMatcher(t *testing.T) {
	e := newFSEnv(t)
	e.baseTree()
	e.put(e.baseRules()...)
	// Objects that appear after the rules were written are matched too.
	for _, p := range []string{"ws/.env", "ws/.env.local", "ws/.envrc", "ws/env", "ws/sub/.env.d/f", "ws/a/cert.pem",
		"ws/a/cert.pem.bak", "ws/deep/er/secret-7.txt", "ws/secret-x.txt", "other/secret-7.txt", "home/.aws/credentials",
		"home/.aws/config", "other/.aws/credentials", "etc/ssh_host_rsa_key", "etc/sub/ssh_host_rsa_key", "ws/x/y/.npmrc",
		"ws/.claude/settings.local.json", "ws/.claude/settings.json", "ws/.claude/commands/x", "ws/claude/settings.json"} {
		e.path(p, "x")
	}
	for _, c := range []struct {
		path  string
		write bool
		want  uint32
	}{
		{"home/.ssh/id_rsa", false, ruleSSH},
		{"home/.ssh", false, ruleSSH},
		{"home/.ssh/keys/k", true, ruleSSH},
		{"home/notes.txt", false, 0},
		{"home", false, 0},
		{"ws/.env", false, ruleEnv},
		{"ws/.env.local", true, ruleEnv},
		{"ws/.envrc", false, ruleEnv},
		{"ws/env", false, 0},
		{"ws/sub/.env.d/f", false, ruleEnv},
		{"ws/a/cert.pem", false, rulePem},
		{"ws/a/cert.pem.bak", false, 0},
		{"ws/.git/hooks/pre-commit", false, 0},
		{"ws/.git/hooks/pre-commit", true, ruleHooks},
		{"ws/.git/hooks", true, ruleHooks},
		{"ws/.git/config", true, 0},
		{"ws/x/hooks/h", true, 0},
		{"ws/deep/er/secret-7.txt", false, ruleSecret},
		{"ws/secret-x.txt", false, 0},
		{"other/secret-7.txt", false, 0},
		{"home/.aws/credentials", false, ruleAws},
		{"home/.aws/config", false, 0},
		{"other/.aws/credentials", false, 0},
		{"etc/ssh_host_rsa_key", false, ruleHostKey},
		{"etc/sub/ssh_host_rsa_key", false, 0},
		{"ws/x/y/.npmrc", false, ruleNpmrc},
		{"home/.netrc", false, ruleNetrc},
		{"ws/.claude/settings.local.json", true, ruleClaude},
		{"ws/.claude/settings.json", false, 0},
		{"ws/.claude/commands/x", true, 0},
		{"ws/claude/settings.json", true, 0},
	} {
		e.check(c.path, c.write, c.want)
	}
}

// Identities: a hard link or a rename gives a denied inode an innocent
// name, and ancestors' renames do not move anchors.
func TestMatcherIdentity(t *testing.T) {
	e := newFSEnv(t)
	e.baseTree()
	e.put(e.baseRules()...)
	home, ws := filepath.Join(e.dir, "home"), filepath.Join(e.dir, "ws")
	if err := os.Link(filepath.Join(home, ".netrc"), filepath.Join(ws, "innocent.txt")); err != nil {
		t.Fatal(err)
	}
	e.check("ws/innocent.txt", false, ruleNetrc)
	if err := os.Rename(filepath.Join(home, ".ssh"), filepath.Join(ws, "keys")); err != nil {
		t.Fatal(err)
	}
	e.check("ws/keys/id_rsa", false, ruleSSH)
	if err := os.Rename(home, filepath.Join(e.dir, "home2")); err != nil {
		t.Fatal(err)
	}
	e.path("home2/.aws/credentials", "later")
	e.check("home2/.aws/credentials", false, ruleAws)
	e.path("home2/.ssh/id_rsa", "a new .ssh, under the same (renamed) home")
	e.check("home2/.ssh/id_rsa", false, ruleSSH)
}

// Mounts: the walk crosses mount points, and a bind mount of something
// inside a denied directory is still denied.
func TestMatcherMounts(t *testing.T) {
	e := newFSEnv(t)
	e.baseTree()
	e.put(e.baseRules()...)
	mount := func(src, dst, fstype string, flags uintptr) {
		t.Helper()
		if err := unix.Mount(src, dst, fstype, flags, ""); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Unmount(dst, unix.MNT_DETACH) })
	}
	// A tmpfs inside the workspace: below-anchored rules see through it.
	mount("tmpfs", e.path("ws/tmp/"), "tmpfs", 0)
	e.path("ws/tmp/deep/secret-3.txt", "x")
	e.path("ws/tmp/.env", "x")
	e.path("ws/tmp/plain", "x")
	e.check("ws/tmp/deep/secret-3.txt", false, ruleSecret)
	e.check("ws/tmp/.env", false, ruleEnv)
	e.check("ws/tmp/plain", false, 0)
	// A mount point whose name matches.
	mount("tmpfs", e.path("ws/.env.d/"), "tmpfs", 0)
	e.path("ws/.env.d/a", "x")
	e.check("ws/.env.d/a", false, ruleEnv)
	// A bind mount of a directory inside ~/.ssh, elsewhere.
	mount(filepath.Join(e.dir, "home/.ssh/keys"), e.path("other/bind/"), "", unix.MS_BIND)
	e.check("other/bind/k", false, ruleSSH)
	// A bind mount of an innocent directory is innocent.
	mount(filepath.Join(e.dir, "ws/x"), e.path("other/bind2/"), "", unix.MS_BIND)
	e.check("other/bind2/hooks/h", true, 0)
}

// A path deeper than the walk follows is refused, not guessed about.
func TestMatcherDepthLimit(t *testing.T) {
	e := newFSEnv(t)
	e.put(FileRule{Rule: 1, Tail: []string{"*.pem"}})
	deep := strings.Repeat("d/", 140)
	e.path(deep + "f")
	f, err := os.OpenFile(filepath.Join(e.dir, deep, "f"), unix.O_PATH, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := e.h.CheckFile(e.cg, f, false)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Denied || v.Reason != ReasonFileLimit {
		t.Fatalf("a path of %d components: %+v", strings.Count(deep, "/")+5, v)
	}
	e.path("d/d/f")
	e.check("d/d/f", false, 0)
}

// Replacing the rules switches at once; deleting them removes every entry.
func TestFileRulesReplaceAndDelete(t *testing.T) {
	e := newFSEnv(t)
	e.path("ws/a.pem", "x")
	e.path("ws/.env", "x")
	e.put(FileRule{Rule: 1, Tail: []string{"*.pem"}}, FileRule{Rule: 2, Tail: []string{".env"}})
	e.check("ws/a.pem", false, 1)
	e.check("ws/.env", false, 2)
	e.put(FileRule{Rule: 3, Tail: []string{".env"}})
	e.check("ws/a.pem", false, 0)
	e.check("ws/.env", false, 3)
	if n := e.entries(); n != 1 {
		t.Fatalf("%d entries after replacing the rules, want 1", n)
	}
	if err := e.h.DeleteFileRules(e.cg); err != nil {
		t.Fatal(err)
	}
	if n := e.entries(); n != 0 {
		t.Fatalf("%d entries after deleting the rules", n)
	}
	f, _ := os.Open(filepath.Join(e.dir, "ws/.env"))
	defer f.Close()
	if _, err := e.h.CheckFile(e.cg, f, false); err == nil {
		t.Fatal("CheckFile answered for a sandbox without rules")
	}
}

// A loader started over maps an earlier one pinned (agentd restarting)
// knows that loader's entries: replacing a sandbox's rules and removing
// the sandbox leave none of them behind in the maps.
func TestEntriesOfAnEarlierLoader(t *testing.T) {
	e := newFSEnv(t)
	e.path("ws/.env", "x")
	e.put(FileRule{Rule: 2, Tail: []string{".env"}}, FileRule{Rule: 4, Tail: []string{"id_rsa"}})
	if n := e.entries(); n != 2 {
		t.Fatalf("%d entries, want 2", n)
	}
	h, err := Load(e.h.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	e.h = h
	e.put(FileRule{Rule: 3, Tail: []string{".env"}})
	e.check("ws/.env", false, 3)
	if n := e.entries(); n != 1 {
		t.Fatalf("%d entries after the new loader replaced the rules, want 1", n)
	}
	if err := h.DeleteSandbox(e.cg); err != nil {
		t.Fatal(err)
	}
	if n := e.entries(); n != 0 {
		t.Fatalf("%d entries after the new loader removed the sandbox", n)
	}
}

func (e *fsEnv) entries() int {
	n := 0
	var nk hooksFsNameKey
	var nv hooksFsNameVal
	it := e.h.objs.FsNames.Iterate()
	for it.Next(&nk, &nv) {
		if nk.Cgroup == e.cg {
			n++
		}
	}
	var ik hooksFsInodeKey
	var iv hooksFsInodeVal
	it = e.h.objs.FsInodes.Iterate()
	for it.Next(&ik, &iv) {
		if ik.Cgroup == e.cg {
			n++
		}
	}
	return n
}

// op puts an operation on one or two existing paths to fs_check_file, as
// the LSM program for it would decide it.
func (e *fsEnv) op(op uint32, p1, p2 string, flags uint32, emit bool) answer {
	e.t.Helper()
	open := func(p string) *os.File {
		f, err := os.OpenFile(filepath.Join(e.dir, p), unix.O_PATH, 0)
		if err != nil {
			e.t.Fatal(err)
		}
		e.t.Cleanup(func() { f.Close() })
		return f
	}
	q := hooksFsQuery{Owner: e.cg, Tgid: uint32(os.Getpid()), Fd: uint32(open(p1).Fd()), Op: op, Flags: flags}
	if p2 != "" {
		q.Fd2 = uint32(open(p2).Fd())
	}
	if emit {
		q.Emit = 1
	}
	a, err := e.h.ask(q)
	if err != nil {
		e.t.Fatal(err)
	}
	if a.Found == 0 {
		e.t.Fatalf("no answer for %s %s", p1, p2)
	}
	return a
}

func (e *fsEnv) wantOp(name string, op uint32, p1, p2 string, flags uint32, want uint32) {
	e.t.Helper()
	a := e.op(op, p1, p2, flags, false)
	switch {
	case want == 0 && a.Ret != 0:
		e.t.Errorf("%s: refused by rule %d (%s), want allowed", name, a.Rule, Reason(a.Reason))
	case want != 0 && a.Ret == 0:
		e.t.Errorf("%s: allowed, want refused by rule %d", name, want)
	case want != 0 && a.Ret != -int32(unix.EACCES):
		e.t.Errorf("%s: returned %d, want -EACCES", name, a.Ret)
	case want != 0 && a.Rule != want:
		e.t.Errorf("%s: refused by rule %d, want %d", name, a.Rule, want)
	}
}

// The decisions of rename, link, unlink and rmdir, beyond the objects'
// own matches.
func TestOperations(t *testing.T) {
	e := newFSEnv(t)
	e.baseTree()
	e.put(e.baseRules()...)
	for _, p := range []string{"ws/.env", "ws/plain.txt", "ws/innocent.txt", "ws/.env.new", "ws/deep/er/secret-1.txt", "ws/other.txt"} {
		e.path(p, "x")
	}
	for _, p := range []string{"ws/gitx/", "other/.git/", "other/deep/", "ws/deep2/", "ws/plaindir/"} {
		e.path(p)
	}
	for _, c := range []struct {
		name   string
		op     uint32
		p1, p2 string
		flags  uint32
		want   uint32
	}{
		{"rename a denied file to an innocent name", fsQRename, "ws/.env", "ws/innocent.txt", 0, ruleEnv},
		{"rename an innocent file to a denied name", fsQRename, "ws/plain.txt", "ws/.env.new", 0, ruleEnv},
		{"rename an innocent file", fsQRename, "ws/plain.txt", "ws/other.txt", 0, 0},
		{"rename .git away", fsQRename, "ws/.git", "ws/gitx", 0, ruleHooks},
		{"rename a directory to .git", fsQRename, "ws/plaindir", "other/.git", 0, ruleHooks},
		{"exchange a directory with .git", fsQRename, "ws/plaindir", "other/.git", unix.RENAME_EXCHANGE, ruleHooks},
		{"move a directory out of the workspace", fsQRename, "ws/deep", "other/deep", 0, ruleSecret},
		{"move a directory within the workspace", fsQRename, "ws/deep", "ws/deep2", 0, 0},
		{"rename an anchor", fsQRename, "home", "other/deep", 0, ruleSSH},
		{"rename into a denied directory", fsQRename, "ws/plain.txt", "home/.ssh/id_rsa", 0, ruleSSH},
		{"link a denied file", fsQLink, "home/.netrc", "ws/innocent.txt", 0, ruleNetrc},
		{"link to a denied name", fsQLink, "ws/plain.txt", "ws/.env.new", 0, ruleEnv},
		{"link innocent names", fsQLink, "ws/plain.txt", "ws/other.txt", 0, 0},
		{"unlink a denied file", fsQUnlink, "ws/.env", "", 0, ruleEnv},
		{"unlink a file below a write-only rule", fsQUnlink, "ws/.git/hooks/pre-commit", "", 0, ruleHooks},
		{"unlink an innocent file", fsQUnlink, "ws/plain.txt", "", 0, 0},
		{"rmdir an anchor", fsQRmdir, "home", "", 0, ruleSSH},
		{"rmdir the directory of a below rule", fsQRmdir, "ws", "", 0, ruleSecret},
		{"rmdir an innocent directory", fsQRmdir, "ws/plaindir", "", 0, 0},
	} {
		e.wantOp(c.name, c.op, c.p1, c.p2, c.flags, c.want)
	}
}

// A denial reaches the ring buffer with the hook, the process, the
// sandbox, the rule and the path.
func TestFileEvents(t *testing.T) {
	e := newFSEnv(t)
	e.baseTree()
	e.put(e.baseRules()...)
	rd, err := e.h.Events()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	e.path("ws/a/b/key.pem", "x")
	e.op(fsQOpen, "ws/a/b/key.pem", "", 0, true)
	e.op(fsQRename, "ws/.git", "ws/x", 0, true)
	rd.SetDeadline(time.Now().Add(2 * time.Second))
	for _, want := range []struct {
		hook  Hook
		rule  uint32
		path  string
		write bool
	}{
		{HookFileOpen, rulePem, filepath.Join(e.dir, "ws/a/b/key.pem"), false},
		{HookRename, ruleHooks, filepath.Join(e.dir, "ws/.git"), true},
	} {
		ev, err := rd.Read()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Hook != want.hook || ev.Rule != want.rule || ev.Path != want.path || ev.Write != want.write ||
			ev.Action != Deny || ev.Reason != ReasonFile || ev.Cgroup != e.cg || ev.PID != uint32(os.Getpid()) || ev.Comm == "" {
			t.Errorf("event %+v, want %+v", ev, want)
		}
	}
}

// The hooks find a task's sandbox from its cgroup: the sandbox's own, or an
// ancestor's for a cgroup below it; nothing for a task elsewhere. The
// iterator's output is read by a child in each cgroup, so that the walk
// runs as that child, as the hooks would.
func TestFileScope(t *testing.T) {
	e := newFSEnv(t)
	e.path("ws/.env", "secret")
	root := kerneltest.Cgroup(t, kerneltest.UniqueName("paddock-fs-test"))
	sbx := kerneltest.Child(t, root, "sbx")
	below := kerneltest.Child(t, sbx, "below")
	stranger := kerneltest.Child(t, root, "stranger")
	if err := e.h.Attach(root); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.h.Detach() })
	cg, err := CgroupID(sbx)
	if err != nil {
		t.Fatal(err)
	}
	e.cg = cg
	e.put(FileRule{Rule: 9, Tail: []string{".env*"}})
	for _, c := range []struct {
		dir   string
		owner uint64
	}{{sbx, cg}, {below, cg}, {stranger, 0}, {root, 0}, {"", 0}} {
		a := e.askAs(c.dir, filepath.Join(e.dir, "ws/.env"))
		if c.owner == 0 {
			if a.Found != 0 {
				t.Errorf("a task in %q has the rules of %d", c.dir, a.Owner)
			}
			continue
		}
		if a.Found == 0 || a.Owner != c.owner || a.Ret == 0 || a.Rule != 9 {
			t.Errorf("a task in %s: %+v", c.dir, a.hooksFsAnswer)
		}
	}
}

// askAs runs a child in cgroup dir ("": this process's) that holds path
// open as descriptor 4 and reads the fs_check_file iterator, asking about
// its own sandbox.
func (e *fsEnv) askAs(dir, path string) answer {
	e.t.Helper()
	target, err := os.Open(path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer target.Close()
	rd, done, err := e.h.askReader(hooksFsQuery{Scope: 1, Fd: 4, Op: fsQOpen})
	if err != nil {
		e.t.Fatal(err)
	}
	defer done()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PADDOCK_BPF_PROBE=fsread")
	cmd.ExtraFiles = []*os.File{rd, target}
	if dir != "" {
		fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			e.t.Fatal(err)
		}
		defer unix.Close(fd)
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	}
	out, err := cmd.Output()
	if err != nil {
		e.t.Fatalf("child in %q: %v", dir, err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(out)))
	if err != nil {
		e.t.Fatalf("child in %q: %q", dir, out)
	}
	a, err := parseAnswer(b)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}
