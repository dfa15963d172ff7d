package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/paddock-sh/paddock/bench/internal/report"
)

// hfResult is hyperfine's measurement of one row, in ms.
type hfResult struct {
	row                     string
	median, mean, min, max  float64
	runs                    int
	ratioToBare, pairedBare float64 // hyperfine's median over its bare median; the paired figure
}

// crossCheck times the rows that need no agentd, as root, a second time
// with hyperfine (-N: no shell; warm-up runs first), one row after the
// other rather than interleaved: an independent measurement of the same
// launches by a tool others use. Skipped when hyperfine is missing or
// -hyperfine-runs is 0.
func (b *bench) crossCheck(tmp string) error {
	if b.hfRuns <= 0 {
		return nil
	}
	path, err := exec.LookPath("hyperfine")
	if err != nil {
		return nil
	}
	var rows []*row
	for _, r := range b.rows {
		if r.skip == "" && r.cred == nil && !r.agentd {
			rows = append(rows, r)
		}
	}
	out := filepath.Join(tmp, "hyperfine.json")
	args := []string{"-N", "--style", "none", "--warmup", "3", "--runs", fmt.Sprint(b.hfRuns), "--export-json", out}
	for _, r := range rows {
		for _, a := range r.argv {
			if strings.ContainsAny(a, " \t'\"\\") {
				return fmt.Errorf("hyperfine cross-check: %q needs quoting", a)
			}
		}
		args = append(args, strings.Join(r.argv, " "))
	}
	cmd := exec.CommandContext(b.ctx, path, args...)
	cmd.Dir, cmd.Env = b.ws, rows[0].env
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	fmt.Fprintf(os.Stderr, "launch: hyperfine cross-check, %d runs of %d commands\n", b.hfRuns, len(rows))
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("hyperfine: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	var doc struct {
		Results []struct {
			Median, Mean, Min, Max float64
			Times                  []float64
		}
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("hyperfine's JSON: %w", err)
	}
	if len(doc.Results) != len(rows) {
		return fmt.Errorf("hyperfine reported %d commands, not %d", len(doc.Results), len(rows))
	}
	bare := doc.Results[0].Median // rows[0] is the bare launch
	for i, r := range rows {
		h := doc.Results[i]
		m, _, _ := paired(r, b.rows[0])
		b.hyperfine = append(b.hyperfine, hfResult{row: r.name, median: h.Median * 1e3, mean: h.Mean * 1e3, min: h.Min * 1e3, max: h.Max * 1e3,
			runs: len(h.Times), ratioToBare: h.Median / bare, pairedBare: m})
	}
	b.hfVersion = report.Version(path, "--version")
	return nil
}

func (b *bench) renderCrossCheck(w io.Writer) {
	if len(b.hyperfine) == 0 {
		return
	}
	fmt.Fprintln(w, "## Cross-check with hyperfine")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "After the timed iterations, %s timed the rows that need neither agentd nor another user, %d runs each after 3 warm-up runs, "+
		"without a shell (`hyperfine -N`), one command after the other. Its ratio is of medians, not paired, so it moves with drift; "+
		"it is here to show the spawner's figures are not an artefact of the spawner.\n\n", b.hfVersion, b.hfRuns)
	fmt.Fprintln(w, "| launch | hyperfine median ms | min–max ms | ratio to bare, of medians | the spawner's paired ratio |")
	fmt.Fprintln(w, "|:---|---:|---:|---:|---:|")
	for _, h := range b.hyperfine {
		fmt.Fprintf(w, "| %s | %.2f | %.2f–%.2f | %.2f× | %.2f× |\n", h.row, h.median, h.min, h.max, h.ratioToBare, h.pairedBare)
	}
	fmt.Fprintln(w)
}

// result is the report in machine-readable form, for bench/report: the
// targets as claims, every launch's ratio to the bare one as a plot.
func (b *bench) result() *report.Result {
	m := b.machine
	m.Load = b.load
	res := &report.Result{Bench: "launch", Title: "Launch cost: agentctl and agentd against bare exec and the peers", Command: report.Command("launch"),
		Date: time.Now().UTC(), Machine: m, Tools: map[string]string{"cc": b.cc}}
	for name, argv := range map[string][]string{"bwrap": {"bwrap", "--version"}, "firejail": {"firejail", "--version"}} {
		if v := report.Version(argv...); v != "" {
			res.Tools[name] = v
		}
	}
	if b.hfVersion != "" {
		res.Tools["hyperfine"] = b.hfVersion
	}
	plot := report.Plot{Name: "launch-time", Title: "Launch of /bin/true by tool, ratio to a bare launch", Kind: report.HBars,
		XLabel: "× bare /bin/true (median of per-iteration ratios, p10–p90)", Refs: []report.Ref{{Y: 1, Label: "bare /bin/true"}}}
	series := report.Series{Name: "× bare"}
	table := report.Table{Caption: fmt.Sprintf("%d interleaved iterations; ratios paired with the bare launch of the same iteration", b.n),
		Header: []string{"launch", "median ms", "× bare", "p10–p90", "peak RSS MiB"}}
	for _, r := range b.rows {
		if r.skip != "" {
			table.Rows = append(table.Rows, []string{r.name, r.skip, "–", "–", "–"})
			continue
		}
		s := report.Summarize(r.ratio)
		series.Points = append(series.Points, report.PointOf(r.name, s))
		table.Rows = append(table.Rows, []string{r.name, fmt.Sprintf("%.2f", report.Quantile(millis(r.wall), 0.5)),
			fmt.Sprintf("%.2f×", s.Median), fmt.Sprintf("%.2f–%.2f", s.P10, s.P90), fmt.Sprintf("%.1f", mib(r.maxRSS))})
	}
	plot.Series = []report.Series{series}
	res.Plots = append(res.Plots, plot)
	res.Tables = append(res.Tables, table)

	create := report.Summarize(millis(b.rpc.create))
	res.Claims = append(res.Claims, report.NewClaim(fmt.Sprintf("Sandbox creation through agentd, Create round trip: at most %.0f ms", targetCreateMS),
		create, "ms", "", "<=", targetCreateMS, fmt.Sprintf("Events.Info, the API's floor, %.2f ms", report.Quantile(millis(b.rpc.info), 0.5))))
	head, box := b.find("agentctl run through agentd, as uid 65534"), b.find("bwrap, minimal, as uid 65534")
	if box.skip == "" {
		mm, lo, hi := paired(head, box)
		res.Claims = append(res.Claims, report.NewClaim(fmt.Sprintf("`agentctl run -- /bin/true` through agentd, as uid 65534: at most %.1f× bubblewrap's launch", targetVsBwrap),
			report.Stat{Median: mm, P10: lo, P90: hi}, "×", "bwrap", "<=", targetVsBwrap,
			fmt.Sprintf("%.2f ms against %.2f ms", report.Quantile(millis(head.wall), 0.5), report.Quantile(millis(box.wall), 0.5))))
		if fl := b.find(floorRow); fl.skip == "" {
			mm, lo, hi := paired(fl, box)
			res.Claims = append(res.Claims, report.Claim{Claim: "A Go client of agentd that starts, makes one call and exits, launching nothing (the floor of the line above)",
				Value: mm, P10: lo, P90: hi, Unit: "×", Of: "bwrap", Detail: fmt.Sprintf("%.2f ms", report.Quantile(millis(fl.wall), 0.5))})
		}
	}
	var rss int64
	for _, r := range b.rows {
		if strings.HasPrefix(r.name, "agentctl") {
			rss = max(rss, r.maxRSS)
		}
	}
	res.Claims = append(res.Claims, report.NewClaim(fmt.Sprintf("agentctl's peak RSS: under %d MiB", targetRSSMiB),
		report.Stat{Median: mib(rss)}, "MiB", "", "<", targetRSSMiB, "the largest of its rows"))
	for _, name := range []string{"agentctl run standalone, as root", "bwrap, minimal, as root", "firejail --profile=default, as root", "Docker-default-like seccomp loader, as root"} {
		r := b.find(name)
		if r.skip != "" {
			continue
		}
		s := report.Summarize(r.ratio)
		res.Claims = append(res.Claims, report.Claim{Claim: "Launch of /bin/true: " + name, Value: s.Median, P10: s.P10, P90: s.P90, Unit: "×", Of: "bare",
			Detail: fmt.Sprintf("%.2f ms", report.Quantile(millis(r.wall), 0.5))})
	}
	return res
}
