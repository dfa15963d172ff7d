package report

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestJSONRoundTrip(t *testing.T) {
	r := &Result{
		Bench: "syscall", Title: "t", Markdown: "syscall.md", Command: "`go run ./bench/syscall`",
		Date:    time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC),
		Machine: Machine{Kernel: "6.18", Arch: "amd64", CPUs: 2, CPU: "AMD EPYC", Load: "0.1 0.2 0.3", Root: true},
		Tools:   map[string]string{"bwrap": "bubblewrap 0.8.0"},
		Claims:  []Claim{NewClaim("c", Stat{Median: 1.02, P10: 0.99, P90: 1.05}, "×", "the floor", "<=", 1.05, "d")},
		Tables:  []Table{{Caption: "x", Header: []string{"a", "b"}, Rows: [][]string{{"1", "2"}}}},
		Plots: []Plot{{Name: "p", Title: "P", Kind: Lines, LogX: true, Base: 1, Refs: []Ref{{Y: 1, Label: "floor"}},
			Series: []Series{{Name: "s", Points: []Point{{N: 10, Median: 1, P10: 0.9, P90: 1.1}}}}}},
		Notes: []string{"n"},
	}
	path := filepath.Join(t.TempDir(), "sub", "syscall.json")
	if err := WriteJSON(path, r); err != nil {
		t.Fatal(err)
	}
	got, err := ReadJSON(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip changed the result:\n got %+v\nwant %+v", got, r)
	}
	if err := WriteJSON("", r); err != nil {
		t.Fatalf("no path should write nothing: %v", err)
	}
}

func TestReadJSONRejects(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"unknown.json": `{"bench": "x", "surprise": 1}`,
		"nobench.json": `{"title": "x"}`,
		"broken.json":  `{"bench": `,
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadJSON(path); err == nil {
			t.Errorf("%s: read without error", name)
		}
	}
}

func TestPairedRatio(t *testing.T) {
	s, err := PairedRatio([]float64{110, 220, 330, 100, 120}, []float64{100, 200, 300, 100, 100})
	if err != nil {
		t.Fatal(err)
	}
	// Ratios 1.1, 1.1, 1.1, 1.0, 1.2: median 1.1 whatever the drift in
	// absolute values.
	if math.Abs(s.Median-1.1) > 1e-9 || s.N != 5 {
		t.Fatalf("median %v over %d", s.Median, s.N)
	}
	if !(s.P10 < s.Median && s.Median < s.P90) {
		t.Fatalf("spread %v–%v around %v", s.P10, s.P90, s.Median)
	}
	if _, err := PairedRatio([]float64{1, 2}, []float64{1}); err == nil {
		t.Fatal("unpaired samples accepted")
	}
}

func TestClaims(t *testing.T) {
	for _, c := range []struct {
		v      float64
		op     string
		target float64
		met    bool
	}{
		{1.05, "<=", 1.05, true}, {1.051, "<=", 1.05, false}, {20, "<", 20, false}, {19.9, "<", 20, true},
		{0.6, ">=", 0.6, true}, {0.59, ">=", 0.6, false}, {math.NaN(), "<=", 1, false}, {1, "", 1, false},
	} {
		cl := NewClaim("x", Stat{Median: c.v}, "×", "", c.op, c.target, "")
		if cl.Met != c.met {
			t.Errorf("%v %s %v: met=%v, want %v", c.v, c.op, c.target, cl.Met, c.met)
		}
	}
	if v := (Claim{}).Verdict(); v != "–" {
		t.Errorf("a claim without a target says %q", v)
	}
	if v := NewClaim("x", Stat{Median: 2}, "×", "", "<=", 1, "").Verdict(); v != "not met" {
		t.Errorf("a missed claim says %q", v)
	}
}

func TestNames(t *testing.T) {
	if got := JSONName("", "bench/results/proxy.md"); got != "bench/results/proxy.json" {
		t.Errorf("derived %q", got)
	}
	if got := JSONName("x.json", "bench/results/proxy.md"); got != "x.json" {
		t.Errorf("explicit %q", got)
	}
	if got := JSONName("", ""); got != "" {
		t.Errorf("stdout only: %q", got)
	}
	if got := MarkdownName("bench/results/proxy.md"); got != "proxy.md" {
		t.Errorf("markdown %q", got)
	}
	if got := MarkdownName(""); got != "" {
		t.Errorf("markdown for stdout %q", got)
	}
}

func TestThisMachine(t *testing.T) {
	m := ThisMachine()
	if m.CPUs < 1 || m.Kernel == "" || m.Arch == "" {
		t.Fatalf("%+v", m)
	}
	if s := m.String(); !strings.Contains(s, m.Kernel) {
		t.Fatalf("%q", s)
	}
}

func TestVersion(t *testing.T) {
	if v := Version("no-such-tool-paddock"); v != "" {
		t.Fatalf("a missing tool has version %q", v)
	}
	if v := Version("go", "version"); !strings.HasPrefix(v, "go version") {
		t.Fatalf("go version: %q", v)
	}
}
