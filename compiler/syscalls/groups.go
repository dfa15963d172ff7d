package syscalls

import (
	"github.com/paddock-sh/paddock/compiler/suggest"
	"sync"

	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/elastic/go-seccomp-bpf/arch"
)

// Group is a named set of syscalls. A group's full membership is its own
// Syscalls plus, recursively, those of the groups it Includes; Expand
// computes it.
type Group struct {
	Name        string   // with the leading '@'
	Description string   // one line
	Syscalls    []string // syscall names, sorted
	Includes    []string // other groups, sorted
}

// tables are the architectures Paddock emits programs for, by the names the
// syscall tables use.
var tables = map[string]*arch.Info{
	"aarch64": arch.AARCH64,
	"x86_64":  arch.X86_64,
}

var groupIndex = sync.OnceValue(func() map[string]*Group {
	idx := make(map[string]*Group, len(catalogue))
	for i := range catalogue {
		g := &catalogue[i]
		if g.Name == "@known" {
			g.Syscalls = knownNames()
		}
		idx[g.Name] = g
	}
	return idx
})

func knownNames() []string {
	set := map[string]bool{}
	for _, t := range tables {
		for name := range t.SyscallNames {
			set[name] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// Groups returns every group of the catalogue, sorted by name.
func Groups() []Group {
	out := make([]Group, 0, len(catalogue))
	for _, name := range slices.Sorted(maps.Keys(groupIndex())) {
		out = append(out, copyGroup(groupIndex()[name]))
	}
	return out
}

// Lookup finds a group by its name, leading '@' included.
func Lookup(name string) (Group, bool) {
	g, ok := groupIndex()[name]
	if !ok {
		return Group{}, false
	}
	return copyGroup(g), true
}

func copyGroup(g *Group) Group {
	c := *g
	c.Syscalls = slices.Clone(g.Syscalls)
	c.Includes = slices.Clone(g.Includes)
	return c
}

// Expand resolves a syscall name or an @group (recursively through its
// Includes) to sorted, unique syscall names. An unknown name is an error that
// suggests the nearest known syscall or group.
func Expand(name string) ([]string, error) {
	if strings.HasPrefix(name, "@") {
		if _, ok := groupIndex()[name]; !ok {
			return nil, fmt.Errorf("unknown syscall group %q%s", name, suggest.DidYouMean(name, allNames()))
		}
		set := map[string]bool{}
		if err := expandInto(name, set, nil); err != nil {
			return nil, err
		}
		return slices.Sorted(maps.Keys(set)), nil
	}
	if !Known(name) {
		return nil, fmt.Errorf("unknown syscall %q%s", name, suggest.DidYouMean(name, allNames()))
	}
	return []string{name}, nil
}

// expandInto adds the members of group name to set. path holds the groups
// being expanded, to report a cycle instead of recursing forever.
func expandInto(name string, set map[string]bool, path []string) error {
	if slices.Contains(path, name) {
		return fmt.Errorf("syscall group %q includes itself (%s)", name, strings.Join(append(path, name), " -> "))
	}
	g, ok := groupIndex()[name]
	if !ok {
		return fmt.Errorf("unknown syscall group %q", name)
	}
	for _, s := range g.Syscalls {
		set[s] = true
	}
	for _, inc := range g.Includes {
		if err := expandInto(inc, set, append(path, name)); err != nil {
			return err
		}
	}
	return nil
}

// allNames lists every syscall and group name, for suggestions.
func allNames() []string {
	names := knownNames()
	for name := range groupIndex() {
		names = append(names, name)
	}
	return names
}

// Known reports whether name is a syscall on at least one supported
// architecture.
func Known(name string) bool {
	for _, t := range tables {
		if _, ok := t.SyscallNames[name]; ok {
			return true
		}
	}
	return false
}

// Number is the syscall number of name on arch ("x86_64" or "aarch64"). It
// reports false when the architecture is not supported or has no such call
// (open, stat and fork have no aarch64 number, for example).
func Number(archName, name string) (int, bool) {
	t, ok := tables[archName]
	if !ok {
		return 0, false
	}
	nr, ok := t.SyscallNames[name]
	return nr, ok
}

// Arches lists the supported architectures, sorted.
func Arches() []string {
	return slices.Sorted(maps.Keys(tables))
}

// MaxNumber is the highest syscall number arch's table knows, or -1 for an
// unsupported architecture. A program answers numbers above it as "newer
// than this policy".
func MaxNumber(archName string) int {
	t, ok := tables[archName]
	if !ok {
		return -1
	}
	return slices.Max(slices.Collect(maps.Keys(t.SyscallNumbers)))
}
