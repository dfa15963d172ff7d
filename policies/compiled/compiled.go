// Package compiled holds the builtin policies compiled at build time, so a
// launch with a builtin policy pays no parsing, compiling or encoding. The
// launcher uses one only while the embedded source still hashes to what it
// was compiled from (compiler/policy checks); `make generate` rebuilds them,
// and CI fails when they are stale.
package compiled

import (
	"embed"

	"github.com/paddock-sh/paddock/compiler/bundle"
)

//go:generate go run ./gen -o bundles_gen.go

//go:embed *.bundle
var encoded embed.FS

// Bundle returns builtin:name's bundle, freshly built, with its canonical
// encoding (what bundle.Encode returns for it), or nil, nil when there is
// no such builtin.
func Bundle(name string) (*bundle.Bundle, []byte) {
	b := literal(name)
	if b == nil {
		return nil, nil
	}
	data, err := encoded.ReadFile(name + ".bundle")
	if err != nil {
		return nil, nil // unreachable: gen writes both
	}
	return b, data
}
