package launch

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/paddock-sh/paddock/agentd/fence"
	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/compiler/pathglob"
)

func resolvedFS(t *testing.T, grants map[string]bundle.Access, deny []string, denyWrite []string) *bundle.ResolvedFS {
	t.Helper()
	fs := &bundle.ResolvedFS{}
	for p, a := range grants {
		fs.Grants = append(fs.Grants, bundle.ResolvedGrant{Path: p, Access: a, Rule: bundle.Rule{Field: "grant " + p}})
	}
	for _, d := range deny {
		fs.Deny = append(fs.Deny, bundle.ResolvedDeny{Pattern: pathglob.MustParse(d), Rule: bundle.Rule{Field: "deny " + d}})
	}
	for _, d := range denyWrite {
		fs.Deny = append(fs.Deny, bundle.ResolvedDeny{Pattern: pathglob.MustParse(d), WriteOnly: true, Rule: bundle.Rule{Field: "deny_write " + d}})
	}
	return fs
}

func touch(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(p, "/") {
			continue
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func mounts(p *fence.Plan) map[string]string {
	out := map[string]string{}
	for _, m := range p.Mounts {
		out[m.Path] = m.Kind
	}
	return out
}

func TestPlanMasksExistingDeniedEntries(t *testing.T) {
	ws := t.TempDir()
	touch(t, ws+"/.env", ws+"/src/main.go", ws+"/src/certs/tls.pem", ws+"/.git/hooks/pre-commit", ws+"/.git/config", ws+"/.git/objects/", ws+"/node_modules/x/index.js")
	fs := resolvedFS(t, map[string]bundle.Access{ws: bundle.WriteAccess}, []string{"**/.env*", "**/*.pem"}, []string{"**/.git/hooks", "**/.git/config"})
	p, err := planFence(fs, nil, defaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	got := mounts(p)
	want := map[string]string{
		ws + "/.env":              fence.Hide,
		ws + "/src/certs/tls.pem": fence.Hide,
		ws + "/.git/hooks":        fence.ReadOnly,
		ws + "/.git/config":       fence.ReadOnly,
		ws + "/.git":              fence.Pin, // so .git cannot be swapped for a copy without the read-only entries
	}
	for path, kind := range want {
		if got[path] != kind {
			t.Errorf("%s: %q, want %q (plan %v)", path, got[path], kind, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("unexpected mounts: %v", got)
	}
	// Parents before children: a pin must exist before what lies below it.
	seen := map[string]bool{}
	for _, m := range p.Mounts {
		for dir := filepath.Dir(m.Path); dir != ws && dir != "/"; dir = filepath.Dir(dir) {
			if got[dir] != "" && !seen[dir] {
				t.Errorf("%s is mounted before its parent %s", m.Path, dir)
			}
		}
		seen[m.Path] = true
	}
	if len(p.Uncovered) == 0 || !strings.Contains(strings.Join(p.Uncovered, "\n"), "**/.env*") {
		t.Errorf("names created later in a writable tree must be reported as uncovered: %v", p.Uncovered)
	}
}

func TestPlanNeverFollowsSymlinks(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	touch(t, secret+"/key.pem", dir+"/ws/")
	if err := os.Symlink(secret, dir+"/ws/link"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, dir+"/granted"); err != nil {
		t.Fatal(err)
	}
	fs := resolvedFS(t, map[string]bundle.Access{dir + "/ws": bundle.WriteAccess, dir + "/granted": bundle.ReadAccess, dir + "/granted/sub": bundle.ReadAccess}, []string{"**/*.pem"}, nil)
	p, err := planFence(fs, nil, defaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	skipped := map[string]string{}
	for _, s := range p.Skipped {
		skipped[s.Path] = s.Reason
	}
	for _, path := range []string{dir + "/granted", dir + "/granted/sub"} {
		if !strings.Contains(skipped[path], "symbolic link") {
			t.Errorf("grant %s through a symlink was not skipped: %v", path, skipped)
		}
	}
	for _, g := range p.Grants {
		if strings.HasPrefix(g.Path, dir+"/granted") {
			t.Errorf("a symlinked grant root was applied: %+v", g)
		}
	}
	if len(p.Mounts) != 0 {
		t.Errorf("the walk followed a symlink out of the workspace: %v", mounts(p))
	}
}

func TestPlanGrantUnderDeny(t *testing.T) {
	home := t.TempDir()
	touch(t, home+"/.ssh/config", home+"/.config/git/config")
	fs := resolvedFS(t, map[string]bundle.Access{home + "/.ssh": bundle.ReadAccess, home + "/.config/git": bundle.WriteAccess},
		[]string{home + "/.ssh"}, []string{home + "/.config/git"})
	p, err := planFence(fs, nil, defaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Skipped) != 1 || p.Skipped[0].Path != home+"/.ssh" {
		t.Errorf("a grant inside a denied tree must be dropped: %+v", p.Skipped)
	}
	if len(p.Grants) != 1 || bundle.Access(p.Grants[0].Access)&bundle.Changes != 0 {
		t.Errorf("a writable grant inside a deny_write tree must become read-only: %+v", p.Grants)
	}
}

func TestPlanSearchIsBounded(t *testing.T) {
	ws := t.TempDir()
	for i := 0; i < 50; i++ {
		touch(t, filepath.Join(ws, "d", strings.Repeat("x", i+1)))
	}
	fs := resolvedFS(t, map[string]bundle.Access{ws: bundle.WriteAccess}, []string{"**/.env"}, nil)
	p, err := planFence(fs, nil, searchLimits{MaxEntries: 10, MaxDepth: 8})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(p.Uncovered, "\n"), "stopped after 10 entries") {
		t.Errorf("a search cut short must be reported: %v", p.Uncovered)
	}
}

func TestPlanSystemTreesOnlyAnchoredPatterns(t *testing.T) {
	etc := t.TempDir()
	touch(t, etc+"/shadow", etc+"/ssl/private/x.key", etc+"/app/.env")
	fs := resolvedFS(t, map[string]bundle.Access{etc: bundle.ReadAccess}, []string{etc + "/shadow", "**/.env*"}, nil)
	p, err := planFence(fs, nil, defaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if got := mounts(p); got[etc+"/shadow"] != fence.Hide || len(got) != 1 {
		t.Errorf("a read-only system tree masks its anchored denies only: %v", got)
	}
	if len(p.Unsearched) != 1 || !strings.Contains(p.Unsearched[0], "**/.env*") {
		t.Errorf("name patterns left unsearched must be reported: %v", p.Unsearched)
	}
	// The same tree named as home is searched for name patterns too.
	p, _ = planFence(fs, []string{etc}, defaultLimits)
	if mounts(p)[etc+"/app/.env"] != fence.Hide {
		t.Errorf("home and workspace are searched for name patterns: %v", mounts(p))
	}
}

// BenchmarkPlanSearch measures the search for denied entries in a writable
// workspace the size of a small JavaScript project: 20,000 files in 1,000
// directories, with the default policy's name patterns. Every launch pays
// it for the workspace and the home directory.
func BenchmarkPlanSearch(b *testing.B) {
	ws := b.TempDir()
	for d := range 1000 {
		dir := filepath.Join(ws, "node_modules", "pkg"+strconv.Itoa(d/25), "lib"+strconv.Itoa(d%25))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := range 20 {
			if err := os.WriteFile(filepath.Join(dir, "f"+strconv.Itoa(f)+".js"), nil, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	fs := &bundle.ResolvedFS{Grants: []bundle.ResolvedGrant{{Path: ws, Access: bundle.WriteAccess}}}
	for _, d := range []string{"**/.env*", "**/*.pem", "**/*.key", "**/*-service-account.json", "**/.npmrc", "**/.pypirc", "**/.mcp.json",
		"**/.claude/settings.json", "**/.claude/hooks", "**/.vscode", "**/.idea", "**/.husky"} {
		fs.Deny = append(fs.Deny, bundle.ResolvedDeny{Pattern: pathglob.MustParse(d)})
	}
	for _, d := range []string{"**/.git/hooks", "**/.git/config"} {
		fs.Deny = append(fs.Deny, bundle.ResolvedDeny{Pattern: pathglob.MustParse(d), WriteOnly: true})
	}
	for b.Loop() {
		p, err := planFence(fs, nil, defaultLimits)
		if err != nil {
			b.Fatal(err)
		}
		if p.Entries < 21000 {
			b.Fatalf("searched %d entries, want all 21,000", p.Entries)
		}
	}
}
