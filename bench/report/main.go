// Command report assembles bench/results/REPORT.md from the JSON every
// benchmark under bench/ writes beside its markdown report: a headline
// table with one line per claim (the figure, its target, met or not), then
// a section per benchmark with its plots, drawn here as SVG files beside
// the report, and its key tables. It measures nothing itself; it records
// the versions of the tools the benchmarks use.
//
//	go run ./bench/report [-dir bench/results] [-skipped launch,connect -reason "need root"]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/paddock-sh/paddock/bench/internal/report"
)

// order is the order of the sections; benchmarks not listed follow by name.
var order = []string{"syscall", "pathlen", "launch", "connect", "proxy", "credential", "events"}

func main() {
	dir := flag.String("dir", "bench/results", "where the benchmarks wrote their JSON; the report and plots go there too")
	out := flag.String("o", "", "the report's file (default: DIR/REPORT.md)")
	skipped := flag.String("skipped", "", "benchmarks not run this time, comma-separated: their old results are left out and the report says so")
	reason := flag.String("reason", "not run", "why the -skipped benchmarks were not run")
	flag.Parse()
	if *out == "" {
		*out = filepath.Join(*dir, "REPORT.md")
	}
	var skip []string
	if *skipped != "" {
		skip = strings.Split(*skipped, ",")
	}
	results, err := load(*dir, skip)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	if len(results) == 0 {
		fmt.Fprintf(os.Stderr, "report: no results in %s (run the benchmarks first: make bench)\n", *dir)
		os.Exit(1)
	}
	for _, r := range results {
		for _, p := range r.Plots {
			if err := render(p, filepath.Join(*dir, p.Name+".svg")); err != nil {
				fmt.Fprintln(os.Stderr, "report:", err)
				os.Exit(1)
			}
		}
	}
	md := assemble(results, skip, *reason, report.Tools(), time.Now().UTC())
	if err := os.WriteFile(*out, md, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "report: wrote %s from %d benchmarks\n", *out, len(results))
}

// load reads every benchmark's JSON in dir, in report order, leaving out
// the skipped ones.
func load(dir string, skip []string) ([]*report.Result, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*report.Result
	for _, f := range files {
		r, err := report.ReadJSON(f)
		if err != nil {
			return nil, err
		}
		if slices.Contains(skip, r.Bench) {
			continue
		}
		out = append(out, r)
	}
	sortResults(out)
	return out, nil
}

func sortResults(rs []*report.Result) {
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rank(rs[i].Bench), rank(rs[j].Bench)
		if a != b {
			return a < b
		}
		return rs[i].Bench < rs[j].Bench
	})
}

func rank(bench string) int {
	if i := slices.Index(order, bench); i >= 0 {
		return i
	}
	return len(order)
}

// assemble writes REPORT.md, the sections in report order.
func assemble(results []*report.Result, skip []string, reason string, tools map[string]string, now time.Time) []byte {
	results = slices.Clone(results)
	sortResults(results)
	var buf bytes.Buffer
	w := &buf
	fmt.Fprintln(w, "# Paddock benchmarks")
	fmt.Fprintln(w)
	first, last := results[0].Date, results[0].Date
	machines := map[string]bool{}
	var machineList []string
	for _, r := range results {
		if r.Date.Before(first) {
			first = r.Date
		}
		if r.Date.After(last) {
			last = r.Date
		}
		if m := r.Machine.String(); !machines[m] {
			machines[m] = true
			machineList = append(machineList, m)
		}
	}
	when := first.Format("2006-01-02")
	if l := last.Format("2006-01-02"); l != when {
		when += " to " + l
	}
	fmt.Fprintf(w, "Measured %s on %s; assembled by `go run ./bench/report` (part of `make bench`) on %s from the JSON each benchmark wrote beside its own report.\n\n",
		when, strings.Join(machineList, "; "), now.Format("2006-01-02 15:04 MST"))
	fmt.Fprintln(w, "Every figure is a ratio to a baseline measured in the same run (no filter, a bare process, a direct connection), "+
		"as the median over repeated runs with its p10–p90 spread; absolute times appear beside their ratios. "+
		"The machine is a shared VM whose load drifts, which is why the ratios are paired run by run: compare ratios, not absolute times, with other hosts.")
	fmt.Fprintln(w)
	if len(skip) > 0 {
		fmt.Fprintf(w, "Not run this time (%s): %s.\n\n", reason, strings.Join(skip, ", "))
	}

	fmt.Fprintln(w, "## Headline")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| claim | measured | target | verdict | from |")
	fmt.Fprintln(w, "|:---|---:|---:|:---|:---|")
	met, total := 0, 0
	for _, r := range results {
		for _, c := range r.Claims {
			from := "bench/" + r.Bench
			if r.Markdown != "" {
				from = fmt.Sprintf("[%s](%s)", r.Bench, r.Markdown)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", cell(c.Claim), cell(figure(c)), target(c), verdictCell(c), from)
			if c.Op != "" {
				total++
				if c.Met {
					met++
				}
			}
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%d of %d targets met. Lines without a target are figures for comparison (the peers, Paddock's own against no filter).\n\n", met, total)

	fmt.Fprintln(w, "## Tools")
	fmt.Fprintln(w)
	all := map[string]string{}
	for k, v := range tools {
		all[k] = v
	}
	for _, r := range results {
		for k, v := range r.Tools {
			if all[k] == "" {
				all[k] = v
			}
		}
	}
	names := make([]string, 0, len(all))
	for k := range all {
		names = append(names, k)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "| tool | version |")
	fmt.Fprintln(w, "|:---|:---|")
	for _, k := range names {
		fmt.Fprintf(w, "| %s | %s |\n", k, cell(all[k]))
	}
	fmt.Fprintln(w)

	for _, r := range results {
		fmt.Fprintf(w, "## %s\n\n", r.Title)
		fmt.Fprintf(w, "`bench/%s`, measured %s on %s (load average before the run %s), by %s.", r.Bench, r.Date.Format("2006-01-02 15:04 MST"), r.Machine, r.Machine.Load, r.Command)
		if r.Markdown != "" {
			fmt.Fprintf(w, " Full report, method and checks: [%s](%s).", r.Markdown, r.Markdown)
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w)
		for _, c := range r.Claims {
			line := fmt.Sprintf("- %s: %s", c.Claim, figure(c))
			if c.Op != "" {
				line += fmt.Sprintf(", target %s: **%s**", target(c), c.Verdict())
			}
			if c.Detail != "" {
				line += " (" + c.Detail + ")"
			}
			fmt.Fprintln(w, line+".")
		}
		if len(r.Claims) > 0 {
			fmt.Fprintln(w)
		}
		for _, p := range r.Plots {
			fmt.Fprintf(w, "![%s](%s.svg)\n\n", p.Title, p.Name)
		}
		for _, t := range r.Tables {
			table(w, t)
		}
		for _, n := range r.Notes {
			fmt.Fprintln(w, n)
			fmt.Fprintln(w)
		}
	}
	for _, s := range skip {
		fmt.Fprintf(w, "## bench/%s\n\nNot run this time: %s.\n\n", s, reason)
	}
	return buf.Bytes()
}

func table(w *bytes.Buffer, t report.Table) {
	if t.Caption != "" {
		fmt.Fprintf(w, "%s:\n\n", t.Caption)
	}
	fmt.Fprintln(w, "| "+strings.Join(mapCells(t.Header), " | ")+" |")
	var seps []string
	for i := range t.Header {
		a := byte('r')
		if i == 0 {
			a = 'l'
		}
		if i < len(t.Align) {
			a = t.Align[i]
		}
		switch a {
		case 'l':
			seps = append(seps, ":---")
		case 'c':
			seps = append(seps, ":---:")
		default:
			seps = append(seps, "---:")
		}
	}
	fmt.Fprintln(w, "|"+strings.Join(seps, "|")+"|")
	for _, row := range t.Rows {
		fmt.Fprintln(w, "| "+strings.Join(mapCells(row), " | ")+" |")
	}
	fmt.Fprintln(w)
}

func mapCells(xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = cell(x)
	}
	return out
}

// cell makes text safe inside a markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", "\\|"), "\n", " ")
}

// number formats v for a reader: thousands separated from 1,000 up, three
// significant figures below.
func number(v float64) string { return numberAt(v, v) }

// numberAt formats v with the precision number would give scale, so that
// figures printed side by side (a median and its spread) agree.
func numberAt(v, scale float64) string {
	switch a := math.Abs(scale); {
	case math.IsNaN(v):
		return "–"
	case a >= 1000:
		s := fmt.Sprintf("%.0f", math.Abs(v))
		var b strings.Builder
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		if v < 0 {
			return "-" + b.String()
		}
		return b.String()
	case a >= 100 || scale == math.Trunc(scale) && v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// value is v with its unit: a ratio to three decimals ("1.042×"), other
// figures by number.
func value(v float64, unit string) string { return valueAt(v, unit, v) }

func valueAt(v float64, unit string, scale float64) string {
	if unit == "×" {
		if math.Abs(scale) < 10 {
			return fmt.Sprintf("%.3f×", v)
		}
		return fmt.Sprintf("%.1f×", v)
	}
	if unit == "" {
		return numberAt(v, scale)
	}
	return numberAt(v, scale) + " " + unit
}

// figure is a claim's measured value with its spread and baseline, the
// three at one precision.
func figure(c report.Claim) string {
	scale := c.Value
	if c.P10 != c.P90 {
		scale = max(math.Abs(c.Value), math.Abs(c.P10), math.Abs(c.P90))
	}
	s := valueAt(c.Value, c.Unit, scale)
	if c.Of != "" {
		s += " " + c.Of
	}
	if c.P10 != c.P90 {
		lo, hi := valueAt(c.P10, c.Unit, scale), valueAt(c.P90, c.Unit, scale)
		lo = strings.TrimSuffix(strings.TrimSuffix(lo, "×"), " "+c.Unit)
		s += fmt.Sprintf(" (p10–p90 %s–%s)", lo, hi)
	}
	return s
}

var ops = map[string]string{"<=": "≤", "<": "<", ">=": "≥", ">": ">"}

// target is a claim's target as it was set, "–" for none: "≤ 1.05×",
// "≥ 100,000 events/s".
func target(c report.Claim) string {
	if c.Op == "" {
		return "–"
	}
	v := strconv.FormatFloat(c.Target, 'f', -1, 64)
	if math.Abs(c.Target) >= 1000 {
		v = number(c.Target)
	}
	switch c.Unit {
	case "×":
		v += "×"
	case "":
	default:
		v += " " + c.Unit
	}
	return ops[c.Op] + " " + v
}

func verdictCell(c report.Claim) string {
	switch {
	case c.Op == "":
		return "–"
	case c.Met:
		return "**met**"
	default:
		return "**missed**"
	}
}
