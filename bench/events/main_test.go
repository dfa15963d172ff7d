package main

import (
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// The embedded generator compiles without warnings wherever a C compiler
// is.
func TestGeneratorCompiles(t *testing.T) {
	if _, err := exec.LookPath("cc"); err != nil {
		t.Skip("no cc")
	}
	b := &bench{}
	if err := b.compile(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("cc", "-O2", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", filepath.Join(filepath.Dir(b.gen), "gen.c")).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

func TestParseRates(t *testing.T) {
	got, err := parseRates("100000, 0")
	want := []load{{}, {sandbox: true, rate: 100000}, {sandbox: true}}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("parseRates: %v %v", got, err)
	}
	for _, bad := range []string{"", "x", "-1", "5,5"} {
		if _, err := parseRates(bad); err == nil {
			t.Errorf("parseRates(%q) accepted", bad)
		}
	}
	if s := thousands(1234567); s != "1,234,567" {
		t.Errorf("thousands: %s", s)
	}
}
