package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paddock-sh/paddock/bench/internal/report"
)

func fixture() []*report.Result {
	date := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	m := report.Machine{Kernel: "6.18.44", Arch: "amd64", CPUs: 2, CPU: "AMD EPYC", Load: "0.5 0.4 0.3", Root: true}
	return []*report.Result{
		{
			Bench: "proxy", Title: "Egress proxy", Markdown: "proxy.md", Command: "`make bench`", Date: date.Add(time.Hour), Machine: m,
			Tools: map[string]string{"wrk": "wrk 4.1.0"},
			Claims: []report.Claim{
				report.NewClaim("Paddock's proxy at 1 connection: at least 0.6× direct", report.Stat{Median: 0.56, P10: 0.5, P90: 0.58}, "×", "direct", ">=", 0.6, "5,041 req/s"),
			},
			Plots: []report.Plot{{Name: "proxy-throughput", Title: "req/s", Kind: report.Bars, Refs: []report.Ref{{Y: 1, Label: "direct"}},
				Series: []report.Series{
					{Name: "direct", Points: []report.Point{{X: "1 connection", Median: 1, P10: 1, P90: 1}, {X: "8 connections", Median: 1, P10: 1, P90: 1}}},
					{Name: "Paddock", Points: []report.Point{{X: "1 connection", Median: 0.56, P10: 0.5, P90: 0.58}, {X: "8 connections", Median: 0.36, P10: 0.3, P90: 0.4}}},
				}}},
		},
		{
			Bench: "syscall", Title: "Hot syscall path", Markdown: "syscall.md", Command: "`make bench`", Date: date, Machine: m,
			Claims: []report.Claim{
				report.NewClaim("Paddock default policy, getpid: at most 1.05× the floor", report.Stat{Median: 1.01, P10: 0.98, P90: 1.04}, "×", "the floor", "<=", 1.05, "241 ns"),
				{Claim: "firejail, getpid", Value: 1.24, P10: 1.1, P90: 1.3, Unit: "×", Of: "bare"},
			},
			Tables: []report.Table{{Caption: "ratios", Header: []string{"variant", "getpid"}, Rows: [][]string{{"a|b", "1.01×"}}}},
			Plots: []report.Plot{
				{Name: "syscall-scaling", Title: "scaling", Kind: report.Lines, LogX: true, Refs: []report.Ref{{Y: 1, Label: "floor"}, {Y: 1.15, Label: "target"}},
					Series: []report.Series{{Name: "Paddock", Points: []report.Point{{N: 10, Median: 1.1, P10: 1, P90: 1.2}, {N: 300, Median: 1.12, P10: 1.05, P90: 1.2}}}}},
				{Name: "launch-time", Title: "launch", Kind: report.HBars, Refs: []report.Ref{{Y: 1, Label: "bare"}},
					Series: []report.Series{{Name: "× bare", Points: []report.Point{{X: "bare", Median: 1, P10: 1, P90: 1}, {X: "bwrap", Median: 5.3, P10: 4.5, P90: 6.6}}}}},
			},
			Notes: []string{"A note."},
		},
	}
}

func TestAssemble(t *testing.T) {
	rs := fixture()
	md := string(assemble(rs, []string{"events"}, "needs root", map[string]string{"go": "go version go1.26"}, time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)))
	for _, want := range []string{
		"Measured 2026-11-23 on kernel 6.18.44, 2 CPUs (AMD EPYC), amd64",
		"## Headline",
		"| Paddock default policy, getpid: at most 1.05× the floor | 1.010× the floor (p10–p90 0.980–1.040×) | ≤ 1.05× | **met** | [syscall](syscall.md) |",
		"| Paddock's proxy at 1 connection: at least 0.6× direct | 0.560× direct (p10–p90 0.500–0.580×) | ≥ 0.6× | **missed** | [proxy](proxy.md) |",
		"| firejail, getpid | 1.240× bare (p10–p90 1.100–1.300×) | – | – | [syscall](syscall.md) |",
		"1 of 2 targets met.",
		"Not run this time (needs root): events.",
		"| go | go version go1.26 |",
		"| wrk | wrk 4.1.0 |",
		"![scaling](syscall-scaling.svg)",
		"| a\\|b | 1.01× |",
		"A note.",
		"## bench/events\n\nNot run this time: needs root.",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	// Sections follow the headline in the order of the list, whatever
	// the order given.
	if strings.Index(md, "## Hot syscall path") > strings.Index(md, "## Egress proxy") {
		t.Error("syscall's section should come before proxy's")
	}
}

func TestLoadOrdersAndSkips(t *testing.T) {
	dir := t.TempDir()
	for _, r := range fixture() {
		if err := report.WriteJSON(filepath.Join(dir, r.Bench+".json"), r); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Bench != "syscall" || rs[1].Bench != "proxy" {
		t.Fatalf("order: %v", names(rs))
	}
	rs, err = load(dir, []string{"proxy"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Bench != "syscall" {
		t.Fatalf("skipping proxy left %v", names(rs))
	}
}

func names(rs []*report.Result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Bench)
	}
	return out
}

// Every kind of plot renders to a well-formed SVG file.
func TestRender(t *testing.T) {
	dir := t.TempDir()
	for _, r := range fixture() {
		for _, p := range r.Plots {
			path := filepath.Join(dir, p.Name+".svg")
			if err := render(p, path); err != nil {
				t.Fatalf("%s: %v", p.Name, err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(b, []byte("<svg")) || !bytes.HasSuffix(bytes.TrimSpace(b), []byte("</svg>")) {
				t.Fatalf("%s is not an SVG document", p.Name)
			}
			for _, s := range p.Series {
				if !bytes.Contains(b, []byte(s.Name)) {
					t.Errorf("%s: the legend lacks %q", p.Name, s.Name)
				}
			}
		}
	}
	if err := render(report.Plot{Name: "x", Kind: "pie"}, filepath.Join(dir, "x.svg")); err == nil {
		t.Error("an unknown kind rendered")
	}
	if err := render(report.Plot{Name: "x", Kind: report.Bars}, filepath.Join(dir, "x.svg")); err == nil {
		t.Error("a plot without points rendered")
	}
}

func TestFormatting(t *testing.T) {
	for _, c := range []struct {
		v    float64
		unit string
		want string
	}{
		{1.0423, "×", "1.042×"}, {33.88, "×", "33.9×"}, {108977.4, "events/s", "108,977 events/s"}, {2.109, "ms", "2.11 ms"},
		{20.7, "MiB", "20.7 MiB"}, {18, "instructions", "18 instructions"}, {197, "µs", "197 µs"}, {1234567, "", "1,234,567"},
	} {
		if got := value(c.v, c.unit); got != c.want {
			t.Errorf("value(%v, %q) = %q, want %q", c.v, c.unit, got, c.want)
		}
	}
	if got := target(report.Claim{Op: ">=", Target: 100000, Unit: "events/s"}); got != "≥ 100,000 events/s" {
		t.Errorf("target %q", got)
	}
	if got := target(report.Claim{Op: "<", Target: 20, Unit: "MiB"}); got != "< 20 MiB" {
		t.Errorf("target %q", got)
	}
	if got := figure(report.Claim{Value: 2.1, Unit: "ms"}); got != "2.10 ms" {
		t.Errorf("a figure without spread: %q", got)
	}
	if got := figure(report.Claim{Value: 14.5, P10: 8.76, P90: 21.07, Unit: "×", Of: "bare"}); got != "14.5× bare (p10–p90 8.8–21.1×)" {
		t.Errorf("a spread at the median's precision: %q", got)
	}
	if got := figure(report.Claim{Value: 46, P10: -7.7, P90: 87.8, Unit: "µs"}); got != "46.0 µs (p10–p90 -7.7–87.8 µs)" {
		t.Errorf("a spread at the median's precision: %q", got)
	}
}
