package launch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/agentd/fence"
	"github.com/paddock-sh/paddock/agentd/landlock"
	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/compiler/pathglob"
)

// searchLimits bound the search for denied entries, so a launch in a huge
// tree stays fast; a search cut short is reported, never silent.
type searchLimits struct {
	MaxEntries int // directory entries examined in all, across roots
	MaxDepth   int // levels below a grant root
}

// defaultLimits keep a launch in a large repository under a few tens of
// milliseconds.
var defaultLimits = searchLimits{MaxEntries: 50000, MaxDepth: 32}

type deny struct {
	pat       *pathglob.Pattern
	writeOnly bool
	rule      string
}

// search is a deny rule during the search of one directory: at is its
// pattern's state after the directory's path, so each entry costs one
// step of the pattern, not a match from the root.
type search struct {
	deny
	at pathglob.Cursor
}

type builder struct {
	plan   *fence.Plan
	denies []deny
	limits searchLimits
	pinned map[string]bool
	cut    []string
}

// planFence plans the fence for fs, resolved for one launch. searchAll lists the
// trees where name patterns (such as **/.env*) are searched even when the
// grant is read-only: the user's home and workspace. Writable trees are
// always searched; read-only system trees are searched only for patterns
// anchored inside them (such as /etc/ssh/ssh_host_*_key).
func planFence(fs *bundle.ResolvedFS, searchAll []string, limits searchLimits) (*fence.Plan, error) {
	b := &builder{plan: &fence.Plan{Grants: []fence.Grant{}, Skipped: []fence.Skipped{}, Mounts: []fence.Mount{}, Uncovered: []string{}, Unsearched: []string{}},
		limits: limits, pinned: map[string]bool{}}
	for _, d := range fs.Deny {
		b.denies = append(b.denies, deny{pat: d.Pattern, writeOnly: d.WriteOnly, rule: d.Rule.String()})
	}
	unsearched := map[string][]string{}
	for _, g := range fs.Grants {
		if err := b.grant(g, searchAll, unsearched); err != nil {
			return nil, err
		}
	}
	b.uncovered()
	// One line per set of trees: the same patterns skip the same trees.
	byRoots := map[string][]string{}
	for _, pat := range sortedKeys(unsearched) {
		roots := strings.Join(unsearched[pat], ", ")
		byRoots[roots] = append(byRoots[roots], pat)
	}
	for _, roots := range sortedKeys(byRoots) {
		b.plan.Unsearched = append(b.plan.Unsearched, fmt.Sprintf("name patterns %s are not searched in the read-only system trees %s",
			strings.Join(byRoots[roots], ", "), roots))
	}
	b.plan.Uncovered = append(b.plan.Uncovered, b.cut...)
	// Parents before children: a pin clones its subtree, and a child's
	// mount must land on the view the pin created.
	sort.SliceStable(b.plan.Mounts, func(i, j int) bool {
		return strings.Count(b.plan.Mounts[i].Path, "/") < strings.Count(b.plan.Mounts[j].Path, "/")
	})
	return b.plan, nil
}

func (b *builder) grant(g bundle.ResolvedGrant, searchAll []string, unsearched map[string][]string) error {
	rule, note := g.Rule.String(), ""
	for _, d := range b.denies {
		if !d.pat.Match(g.Path) {
			continue
		}
		if !d.writeOnly {
			b.plan.Skipped = append(b.plan.Skipped, fence.Skipped{Path: g.Path, Reason: "denied by " + d.rule, Rule: rule})
			return nil
		}
		if g.Access&bundle.Changes != 0 {
			g.Access &= bundle.ReadAccess
			note = "read-only: changes denied by " + d.rule
		}
	}
	fd, err := fence.OpenNoFollow(g.Path)
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
		b.plan.Skipped = append(b.plan.Skipped, fence.Skipped{Path: g.Path, Reason: "does not exist", Rule: rule})
		return nil
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.EXDEV):
		b.plan.Skipped = append(b.plan.Skipped, fence.Skipped{Path: g.Path, Reason: "a component of the path is a symbolic link, which grants never follow", Rule: rule})
		return nil
	case errors.Is(err, unix.EACCES):
		b.plan.Skipped = append(b.plan.Skipped, fence.Skipped{Path: g.Path, Reason: "not accessible to the launcher", Rule: rule})
		return nil
	case err != nil:
		return fmt.Errorf("%s: opening grant %s: %w", rule, g.Path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("%s: %s: %w", rule, g.Path, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		// openat2 hands back the link itself for a final component.
		b.plan.Skipped = append(b.plan.Skipped, fence.Skipped{Path: g.Path, Reason: "is a symbolic link, which grants never follow", Rule: rule})
		return nil
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	if !isDir {
		g.Access &= bundle.Access(landlock.FileRights)
	}
	b.plan.Grants = append(b.plan.Grants, fence.Grant{Path: g.Path, Access: uint64(g.Access), Rights: g.Access.Names(), Dir: isDir, Rule: rule, Note: note})
	if !isDir {
		return nil
	}
	all := g.Access&bundle.Changes != 0 || withinAny(g.Path, searchAll)
	var ds []search
	for _, d := range b.denies {
		at, ok := d.pat.Cursor(g.Path)
		if !ok || !at.MayMatchUnder() {
			continue
		}
		if !all && !within(d.pat.Base(), g.Path) {
			unsearched[d.pat.String()] = append(unsearched[d.pat.String()], g.Path)
			continue
		}
		ds = append(ds, search{d, at})
	}
	if len(ds) == 0 {
		return nil
	}
	dirfd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		b.cut = append(b.cut, fmt.Sprintf("%s could not be searched for denied entries: %v", g.Path, err))
		return nil
	}
	writable := g.Access&bundle.Changes != 0
	b.walk(dirfd, g.Path, g.Path, writable, ds, 1)
	return nil
}

// walk searches dir (dirfd, which it closes) for entries the denies match.
func (b *builder) walk(dirfd int, root, dir string, writable bool, ds []search, depth int) {
	f := os.NewFile(uintptr(dirfd), dir)
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		b.cut = append(b.cut, fmt.Sprintf("%s could not be listed, so denied entries in it are not masked: %v", dir, err))
		return
	}
	for _, e := range entries {
		b.plan.Entries++
		if b.plan.Entries > b.limits.MaxEntries {
			if b.plan.Entries == b.limits.MaxEntries+1 {
				b.cut = append(b.cut, fmt.Sprintf("the search for denied entries stopped after %d entries (in %s); entries beyond it are not masked", b.limits.MaxEntries, dir))
			}
			return
		}
		if e.Type()&os.ModeSymlink != 0 {
			// A symlink is not masked: Landlock judges the path it leads to.
			continue
		}
		isDir := e.IsDir()
		hit := -1
		for i := range ds {
			if ds[i].at.Accepts(e.Name()) && (hit < 0 || ds[hit].writeOnly) {
				hit = i
			}
		}
		if hit < 0 && !isDir {
			continue // the common case: a file no rule names
		}
		child := dir + "/" + e.Name()
		if dir == "/" {
			child = "/" + e.Name()
		}
		if hit >= 0 && !ds[hit].writeOnly {
			b.plan.Mounts = append(b.plan.Mounts, fence.Mount{Kind: fence.Hide, Path: child, Root: root, Dir: isDir, Rule: ds[hit].rule})
			continue
		}
		// Inside a read-only entry only full denies still matter.
		readOnly := false
		if hit >= 0 {
			if isDir || e.Type().IsRegular() {
				b.plan.Mounts = append(b.plan.Mounts, fence.Mount{Kind: fence.ReadOnly, Path: child, Root: root, Dir: isDir, Rule: ds[hit].rule})
				if writable {
					b.pinParents(root, dir)
				}
			}
			readOnly = true
		}
		if !isDir {
			continue
		}
		var under []search
		for i := range ds {
			if readOnly && ds[i].writeOnly {
				continue
			}
			if at := ds[i].at.Step(e.Name()); at.MayMatchUnder() {
				under = append(under, search{ds[i].deny, at})
			}
		}
		if len(under) == 0 {
			continue
		}
		if depth >= b.limits.MaxDepth {
			b.cut = append(b.cut, fmt.Sprintf("%s is deeper than %d levels below %s and was not searched", child, b.limits.MaxDepth, root))
			continue
		}
		cfd, err := unix.Openat(dirfd, e.Name(), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			if !errors.Is(err, unix.ENOENT) {
				b.cut = append(b.cut, fmt.Sprintf("%s could not be searched for denied entries: %v", child, err))
			}
			continue
		}
		b.walk(cfd, root, child, writable, under, depth+1)
	}
}

// pinParents pins every directory from dir up to, not including, root.
func (b *builder) pinParents(root, dir string) {
	for d := dir; d != root && within(d, root); d = filepath.Dir(d) {
		if b.pinned[d] {
			return
		}
		b.pinned[d] = true
		b.plan.Mounts = append(b.plan.Mounts, fence.Mount{Kind: fence.Pin, Path: d, Root: root, Dir: true})
	}
}

// uncovered lists the deny rules that can match names created after launch
// inside a writable tree: no launch-time mechanism sees those.
func (b *builder) uncovered() {
	roots := map[string][]string{}
	for _, g := range b.plan.Grants {
		if bundle.Access(g.Access)&bundle.Changes == 0 || !g.Dir {
			continue
		}
		for _, d := range b.denies {
			if d.pat.MayMatchUnder(g.Path) {
				roots[d.pat.String()] = append(roots[d.pat.String()], g.Path)
			}
		}
	}
	for _, pat := range sortedKeys(roots) {
		b.plan.Uncovered = append(b.plan.Uncovered, fmt.Sprintf("%s: a matching name created after launch under %s is not masked", pat, strings.Join(roots[pat], ", ")))
	}
}

func within(path, dir string) bool {
	return dir == "/" || path == dir || strings.HasPrefix(path, dir+"/")
}

func withinAny(path string, dirs []string) bool {
	for _, d := range dirs {
		if d != "" && within(path, d) {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
