//go:build linux

package fsdeny

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/bpf"
	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/internal/kerneltest"
)

// tree makes a home and a workspace in a temporary directory, with
// entries p (directories when p ends in "/").
func tree(t *testing.T, ps ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, p := range ps {
		full := filepath.Join(dir, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("canary "+p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// resolve builds the deny rules of templates (deny_write when prefixed
// "w:") as a bundle would, for home and workspace under dir.
func resolve(t *testing.T, dir string, templates ...string) []bundle.ResolvedDeny {
	t.Helper()
	f := bundle.Filesystem{}
	for i, tpl := range templates {
		wo := strings.HasPrefix(tpl, "w:")
		tpl = strings.TrimPrefix(tpl, "w:")
		f.Deny = append(f.Deny, bundle.Deny{Pattern: tpl, WriteOnly: wo,
			Rule: bundle.Rule{File: "test.hcl", Line: i + 1, Field: "filesystem.deny", Text: tpl}})
	}
	r, err := f.Resolve(bundle.Vars{Home: filepath.Join(dir, "home"), Workspace: filepath.Join(dir, "ws"), Tmp: "/tmp", User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	return r.Deny
}

func num(i int) uint32 { return uint32(i + 1) }

func ino(t *testing.T, p string) bpf.Inode {
	t.Helper()
	in, err := bpf.InodeOf(p)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func TestLowerShapes(t *testing.T) {
	dir := tree(t, "home/.ssh/id_rsa", "home/.config/", "ws/src/", "etc/ssh/ssh_host_rsa_key")
	home, ws := filepath.Join(dir, "home"), filepath.Join(dir, "ws")
	deny := resolve(t, dir,
		"${home}/.ssh", "${home}/.config/gcloud", "${home}/.cargo/credentials.toml", "**/.env*", "w:**/.git/hooks",
		"${workspace}/**/*.pem", dir+"/etc/ssh/ssh_host_*_key", "${workspace}/**", "**/.npmrc/**")
	low, err := Lower(deny, num, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	want := []bpf.FileRule{
		{Rule: 1, Inodes: []bpf.Inode{ino(t, home+"/.ssh")}, Tail: []string{".ssh"}, Anchor: bpf.AnchorParent, Dir: ino(t, home)},
		{Rule: 2, Tail: []string{"gcloud"}, Anchor: bpf.AnchorParent, Dir: ino(t, home+"/.config")},
		{Rule: 3, Tail: []string{".cargo", "credentials.toml"}, Anchor: bpf.AnchorParent, Dir: ino(t, home)},
		{Rule: 4, Tail: []string{".env*"}, Anchor: bpf.AnchorAnywhere},
		{Rule: 5, WriteOnly: true, Tail: []string{".git", "hooks"}, Anchor: bpf.AnchorAnywhere},
		{Rule: 6, Tail: []string{"*.pem"}, Anchor: bpf.AnchorBelow, Dir: ino(t, ws)},
		{Rule: 7, Tail: []string{"ssh_host_*_key"}, Anchor: bpf.AnchorParent, Dir: ino(t, dir+"/etc/ssh")},
		{Rule: 8, Inodes: []bpf.Inode{ino(t, ws)}, Tail: []string{"ws"}, Anchor: bpf.AnchorParent, Dir: ino(t, dir)},
		{Rule: 9, Tail: []string{".npmrc"}, Anchor: bpf.AnchorAnywhere},
	}
	if len(low.Rules) != len(want) {
		t.Fatalf("%d rules, want %d", len(low.Rules), len(want))
	}
	for i, w := range want {
		g := low.Rules[i]
		if g.Rule != w.Rule || g.WriteOnly != w.WriteOnly || !slices.Equal(g.Inodes, w.Inodes) || !slices.Equal(g.Tail, w.Tail) ||
			g.Anchor != w.Anchor || g.Dir != w.Dir {
			t.Errorf("rule %d:\n got %+v\nwant %+v", i+1, g, w)
		}
		if !strings.Contains(g.Source, "test.hcl") {
			t.Errorf("rule %d: source %q", i+1, g.Source)
		}
	}
}

// A home directory with glob characters in its name stays literal.
func TestLowerEscapedHome(t *testing.T) {
	dir := tree(t, "we*ird [home]/.ssh/")
	f := bundle.Filesystem{Deny: []bundle.Deny{{Pattern: "${home}/.ssh", Rule: bundle.Rule{Field: "filesystem.deny[0]"}}}}
	r, err := f.Resolve(bundle.Vars{Home: filepath.Join(dir, "we*ird [home]"), Workspace: dir, Tmp: "/tmp", User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	low, err := Lower(r.Deny, num, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if got := low.Rules[0]; !slices.Equal(got.Inodes, []bpf.Inode{ino(t, filepath.Join(dir, "we*ird [home]/.ssh"))}) {
		t.Fatalf("%+v", got)
	}
}

// What the hooks cannot express is reported rule by rule; the rest is
// lowered.
func TestLowerUnsupported(t *testing.T) {
	dir := tree(t, "ws/", "home/")
	deny := resolve(t, dir,
		"**/.env*",
		"${workspace}/**/a/**/b",
		"${home}/*/**/x",
		"${workspace}/missing/**/*.key",
		"**/a/b/c/d/e",
		"${home}/m1/m2/m3/m4/m5",
		"**/.pypirc")
	low, err := Lower(deny, num, DefaultLimits)
	var ue *UnsupportedError
	if !errors.As(err, &ue) {
		t.Fatalf("err %v", err)
	}
	var idx []int
	for _, u := range ue.Rules {
		idx = append(idx, u.Index)
		if !strings.Contains(u.String(), "test.hcl") || u.Reason == "" {
			t.Errorf("unsupported rule without its origin or reason: %s", u)
		}
	}
	if !slices.Equal(idx, []int{1, 2, 3, 4, 5}) {
		t.Fatalf("unsupported %v: %v", idx, err)
	}
	if len(low.Rules) != 2 || low.Rules[0].Rule != 1 || low.Rules[1].Rule != 7 {
		t.Fatalf("lowered %+v", low.Rules)
	}
	for _, p := range []string{"/a/**/b/**/c", "/a/*/**/c", "**/a/b/c/d/e"} {
		if Check(p) == nil {
			t.Errorf("Check(%q) accepted it", p)
		}
	}
	for _, p := range []string{"/a/b", "**/.env*", "/a/**/b/c", "/a/b*/c", "/a/**"} {
		if err := Check(p); err != nil {
			t.Errorf("Check(%q): %v", p, err)
		}
	}
}

// Beyond what one sandbox holds, rules are reported, not dropped.
func TestLowerCapacity(t *testing.T) {
	dir := tree(t, "ws/")
	var tpls []string
	for i := range bpf.MaxGlobs + 2 {
		tpls = append(tpls, "**/*.x"+string(rune('a'+i)))
	}
	_, err := Lower(resolve(t, dir, tpls...), num, DefaultLimits)
	var ue *UnsupportedError
	if !errors.As(err, &ue) || len(ue.Rules) != 2 || ue.Rules[0].Index != bpf.MaxGlobs {
		t.Fatalf("%v", err)
	}
}

// A file below a denied directory with a second name elsewhere is denied
// by identity.
func TestLowerHardLinks(t *testing.T) {
	dir := tree(t, "home/.ssh/id_rsa", "home/.ssh/known_hosts", "ws/")
	if err := os.Link(filepath.Join(dir, "home/.ssh/id_rsa"), filepath.Join(dir, "ws/backup")); err != nil {
		t.Fatal(err)
	}
	low, err := Lower(resolve(t, dir, "${home}/.ssh"), num, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	got := low.Rules[0].Inodes
	if len(got) != 2 || got[1] != ino(t, filepath.Join(dir, "ws/backup")) {
		t.Fatalf("identities %v", got)
	}
	low, _ = Lower(resolve(t, dir, "${home}/.ssh"), num, Limits{MaxEntries: 1, MaxDepth: 16})
	if len(low.Notes) != 1 {
		t.Fatalf("a cut search is not reported: %v", low.Notes)
	}
}

// The lowered rules, put in the kernel, deny what the patterns deny and
// nothing else: the bundle's decision (pathglob's) and the hooks' agree on
// a tree of paths.
func TestLoweredRulesInTheKernel(t *testing.T) {
	kerneltest.Privileged(t)
	paths := []string{
		"home/.ssh/id_rsa", "home/.ssh/keys/k", "home/.config/x", "home/.bashrc", "home/notes.txt",
		"ws/.env", "ws/.env.local", "ws/envy", "ws/a/.env.d/f", "ws/cert.pem", "ws/a/b/key.pem", "ws/a/pem",
		"ws/.git/hooks/pre-commit", "ws/.git/config", "ws/sub/.git/hooks/h", "ws/hooks/x", "ws/src/main.go",
		"etc/ssh/ssh_host_rsa_key", "etc/ssh/ssh_config", "other/x.pem", "ws/x.pem/y", "ws/a.pem.d/y", "ws/.envrc/z",
		"home/.ssh", "ws/.git/hooks", "ws/.git", "home/.config",
	}
	var files []string
	for _, p := range paths {
		if !slices.ContainsFunc(paths, func(q string) bool { return strings.HasPrefix(q, p+"/") }) {
			files = append(files, p)
		}
	}
	dir := tree(t, files...)
	templates := []string{"${home}/.ssh", "${home}/.config/gcloud", "**/.env*", "${workspace}/**/*.pem", "w:**/.git/hooks",
		"w:${home}/.bashrc", dir + "/etc/ssh/ssh_host_*_key"}
	deny := resolve(t, dir, templates...)
	low, err := Lower(deny, num, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	h, err := bpf.Load(kerneltest.PinDir(t))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	defer h.Unpin()
	const cg = 777
	if err := h.PutFileRules(cg, low.Rules); err != nil && !errors.Is(err, bpf.ErrNotEnforced) {
		t.Fatal(err)
	}
	rfs := &bundle.ResolvedFS{Deny: deny}
	for _, p := range paths {
		full := filepath.Join(dir, p)
		for _, write := range []bool{false, true} {
			d := rfs.Decide(full, write) // without grants, only a deny rule has a Rule
			want := d.Verdict == bundle.VerdictDeny && d.Rule != nil
			f, err := os.OpenFile(full, unix.O_PATH, 0)
			if err != nil {
				t.Fatal(err)
			}
			v, err := h.CheckFile(cg, f, write)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			if v.Denied != want {
				t.Errorf("%s (write %v): the hooks deny: %v (rule %d), the bundle: %v", p, write, v.Denied, v.Rule, want)
			}
		}
	}
}
