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

func TestQuantile(t *testing.T) {
	if q := quantile([]float64{4, 1, 3, 2}, 0.5); q != 2.5 {
		t.Fatalf("median %v", q)
	}
	if q := quantile([]float64{1, 2, 3, 4, 5}, 0.9); q != 4.6 {
		t.Fatalf("p90 %v", q)
	}
}
