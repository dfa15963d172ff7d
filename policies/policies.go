// Package policies embeds the policies Paddock ships. A policy names one of
// them as builtin:NAME (for example builtin:default) in its extends list,
// and the binaries use builtin:default when no policy is given.
package policies

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.hcl
var files embed.FS

// Prefix marks a builtin policy reference.
const Prefix = "builtin:"

// Read returns the source of builtin:name.
func Read(name string) ([]byte, error) {
	data, err := files.ReadFile(name + ".hcl")
	if err != nil {
		return nil, fmt.Errorf("no builtin policy %q (builtins: %s)", name, strings.Join(Names(), ", "))
	}
	return data, nil
}

// Names lists the builtin policies.
func Names() []string {
	entries, _ := fs.ReadDir(files, ".")
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".hcl"))
	}
	sort.Strings(out)
	return out
}
