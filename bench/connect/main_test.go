package main

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// The embedded loop compiles without warnings wherever a C compiler is.
func TestLoopCompiles(t *testing.T) {
	if _, err := exec.LookPath("cc"); err != nil {
		t.Skip("no cc")
	}
	b := &bench{}
	if err := b.compile(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("cc", "-O2", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", filepath.Join(filepath.Dir(b.prog), "loop.c")).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}
