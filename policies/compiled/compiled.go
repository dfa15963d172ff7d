// Package compiled holds the builtin policies compiled at build time, so a
// launch with a builtin policy pays no parsing or compiling. The launcher
// uses one only while the embedded source still hashes to what it was
// compiled from (compiler/policy checks); `make generate` rebuilds them, and
// CI fails when they are stale.
package compiled

//go:generate go run ./gen -o bundles_gen.go
