package main

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// The embedded spawner compiles without warnings wherever a C compiler is.
func TestSpawnerCompiles(t *testing.T) {
	if _, err := exec.LookPath("cc"); err != nil {
		t.Skip("no cc")
	}
	prog, _, err := compileSpawner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("cc", "-O2", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", filepath.Join(filepath.Dir(prog), "spawn.c")).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}
