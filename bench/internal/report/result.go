package report

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Result is a benchmark's report in machine-readable form: written as JSON
// next to its markdown, read back by bench/report, which assembles
// bench/results/REPORT.md and the plots from every benchmark's Result.
type Result struct {
	Bench    string    `json:"bench"`              // the directory under bench/: "syscall"
	Title    string    `json:"title"`              // what it measures, one line
	Markdown string    `json:"markdown,omitempty"` // the full report's file name, beside the JSON
	Command  string    `json:"command"`            // how it was made (Command)
	Date     time.Time `json:"date"`
	Machine  Machine   `json:"machine"`
	// Tools are the versions of what the benchmark ran or compared with:
	// "bwrap": "bubblewrap 0.8.0".
	Tools  map[string]string `json:"tools,omitempty"`
	Claims []Claim           `json:"claims,omitempty"`
	Tables []Table           `json:"tables,omitempty"`
	Plots  []Plot            `json:"plots,omitempty"`
	Notes  []string          `json:"notes,omitempty"` // a sentence each, markdown
}

// Machine is where a result was measured.
type Machine struct {
	Kernel string `json:"kernel"`
	Arch   string `json:"arch"` // GOARCH
	CPUs   int    `json:"cpus"`
	CPU    string `json:"cpu,omitempty"` // the model name /proc/cpuinfo gives
	Load   string `json:"load"`          // load average before the run
	Root   bool   `json:"root"`
}

// ThisMachine describes the machine this process runs on; call it before
// the measurement, as it records the load.
func ThisMachine() Machine {
	m := Machine{Kernel: "unknown", Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), Load: Loadavg(), Root: os.Geteuid() == 0}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// String is the machine in a few words: "kernel 6.18.44, 2 CPUs (AMD
// EPYC), amd64".
func (m Machine) String() string {
	s := fmt.Sprintf("kernel %s, %d CPUs", m.Kernel, m.CPUs)
	if m.CPU != "" {
		s += " (" + m.CPU + ")"
	}
	return s + ", " + m.Arch
}

// Claim is one promise and the figure that checks it. A claim with no Op
// is a figure worth a headline line without a target (a peer's, say).
type Claim struct {
	Claim  string  `json:"claim"`            // what is promised or shown, in words
	Value  float64 `json:"value"`            // the figure: a median, a count
	P10    float64 `json:"p10,omitempty"`    // its spread, when it has one
	P90    float64 `json:"p90,omitempty"`    //
	Unit   string  `json:"unit"`             // "×" for a ratio, "ms", "µs", "MiB", "events/s", "instructions"
	Of     string  `json:"of,omitempty"`     // a ratio's baseline: "the one-instruction floor"
	Op     string  `json:"op,omitempty"`     // "<=", "<", ">=", ">"; "" for no target
	Target float64 `json:"target,omitempty"` //
	Met    bool    `json:"met"`
	Detail string  `json:"detail,omitempty"` // absolute figures beside the ratio, how it was taken
}

// NewClaim makes a claim with a target and judges it.
func NewClaim(claim string, s Stat, unit, of, op string, target float64, detail string) Claim {
	c := Claim{Claim: claim, Value: s.Median, P10: s.P10, P90: s.P90, Unit: unit, Of: of, Op: op, Target: target, Detail: detail}
	c.Met = Meets(s.Median, op, target)
	return c
}

// Meets reports whether v satisfies "v op target".
func Meets(v float64, op string, target float64) bool {
	if math.IsNaN(v) {
		return false
	}
	switch op {
	case "<=":
		return v <= target
	case "<":
		return v < target
	case ">=":
		return v >= target
	case ">":
		return v > target
	}
	return false
}

// Verdict is "met", "not met", or "–" for a claim without a target.
func (c Claim) Verdict() string {
	if c.Op == "" {
		return "–"
	}
	return Verdict(c.Met)
}

// Table is a table for REPORT.md, its cells already formatted.
type Table struct {
	Caption string     `json:"caption"`
	Header  []string   `json:"header"`
	Align   string     `json:"align,omitempty"` // one letter per column: l, r or c; default l then r
	Rows    [][]string `json:"rows"`
}

// Plot is a figure bench/report draws as an SVG.
type Plot struct {
	Name   string `json:"name"` // the file's name without .svg: "syscall-overhead"
	Title  string `json:"title"`
	Kind   string `json:"kind"` // Bars (grouped by category), HBars (one series, horizontal) or Lines
	XLabel string `json:"x_label"`
	YLabel string `json:"y_label"`
	LogX   bool   `json:"log_x,omitempty"`
	// Base is where bars start: 1 to show a ratio's excess over its
	// baseline, 0 for a plain quantity.
	Base float64 `json:"base,omitempty"`
	// Refs are horizontal lines: 1 for a ratio's baseline, a target.
	Refs   []Ref    `json:"refs,omitempty"`
	Series []Series `json:"series"`
}

// Ref is a horizontal reference line of a plot (a vertical one in HBars).
type Ref struct {
	Y     float64 `json:"y"`
	Label string  `json:"label"`
}

// The kinds of plot.
const (
	Bars  = "bars"
	HBars = "hbars"
	Lines = "lines"
)

// Series is one legend entry of a plot.
type Series struct {
	Name   string  `json:"name"`
	Points []Point `json:"points"`
}

// Point is one bar or point: a category (X) or a number (N), its median
// and p10–p90 spread.
type Point struct {
	X      string  `json:"x,omitempty"`
	N      float64 `json:"n,omitempty"`
	Median float64 `json:"median"`
	P10    float64 `json:"p10"`
	P90    float64 `json:"p90"`
}

// PointOf is a point of a category with s's figures.
func PointOf(x string, s Stat) Point { return Point{X: x, Median: s.Median, P10: s.P10, P90: s.P90} }

// Stat is a median and its p10–p90 spread over N samples.
type Stat struct {
	Median float64 `json:"median"`
	P10    float64 `json:"p10"`
	P90    float64 `json:"p90"`
	N      int     `json:"n"`
}

// Summarize is xs's median and p10–p90.
func Summarize(xs []float64) Stat {
	return Stat{Median: Quantile(xs, 0.5), P10: Quantile(xs, 0.1), P90: Quantile(xs, 0.9), N: len(xs)}
}

// Ratios divides a by b sample by sample: a[i] and b[i] were measured in
// the same round, so drift in between moves both alike.
func Ratios(a, b []float64) ([]float64, error) {
	if len(a) != len(b) {
		return nil, fmt.Errorf("%d samples against %d: ratios need pairs", len(a), len(b))
	}
	out := make([]float64, len(a))
	for i := range a {
		out[i] = a[i] / b[i]
	}
	return out, nil
}

// PairedRatio is the median and p10–p90 of a's per-round ratios to b.
func PairedRatio(a, b []float64) (Stat, error) {
	r, err := Ratios(a, b)
	if err != nil {
		return Stat{}, err
	}
	return Summarize(r), nil
}

// JSONName is where a benchmark writes its JSON: explicit when given,
// else the markdown's name with .json for .md; "" when neither is set.
func JSONName(explicit, markdown string) string {
	if explicit != "" || markdown == "" {
		return explicit
	}
	return strings.TrimSuffix(markdown, filepath.Ext(markdown)) + ".json"
}

// WriteJSON writes r to path, indented, creating its directory; nothing
// when path is "".
func WriteJSON(path string, r *Result) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadJSON reads a Result WriteJSON wrote.
func ReadJSON(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Result
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if r.Bench == "" {
		return nil, fmt.Errorf("%s: no bench name", path)
	}
	return &r, nil
}

// Version runs argv (a tool's version flag) and returns the first line of
// what it prints that holds a digit, trimmed; "" when the tool is missing
// or prints none. Some tools print their version on stderr or exit non-zero
// after it (wrk, nginx), so neither is an error here.
func Version(argv ...string) string {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, argv[1:]...).CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return ""
	}
	for _, line := range strings.Split(string(out), "\n") {
		if line = strings.TrimSpace(line); strings.ContainsAny(line, "0123456789") {
			return line
		}
	}
	return ""
}

// Tools are the versions of every tool the benchmarks use or compare
// with, for the record; a missing tool is left out.
func Tools() map[string]string {
	probes := map[string][]string{
		"bwrap":      {"bwrap", "--version"},
		"firejail":   {"firejail", "--version"},
		"wrk":        {"wrk", "-v"},
		"nginx":      {"nginx", "-v"},
		"tinyproxy":  {"tinyproxy", "-v"},
		"hyperfine":  {"hyperfine", "--version"},
		"go":         {"go", "version"},
		"clang":      {"clang", "--version"},
		"cc":         {"cc", "--version"},
		"libseccomp": {"dpkg-query", "-W", "-f", "libseccomp ${Version}\n", "libseccomp-dev"},
	}
	out := map[string]string{}
	for name, argv := range probes {
		if v := Version(argv...); v != "" {
			out[name] = v
		}
	}
	return out
}

// Publish prints a benchmark's markdown report md and writes it to out
// (when not ""), then writes res, naming that markdown, as JSON to jsonOut
// or beside out (JSONName).
func Publish(out, jsonOut string, md []byte, res *Result) error {
	if err := Write(out, md); err != nil {
		return err
	}
	res.Markdown = MarkdownName(out)
	return WriteJSON(JSONName(jsonOut, out), res)
}

// MarkdownName is a Result's Markdown for a report written to out: its
// file name, beside the JSON; "" when the report went to stdout only.
func MarkdownName(out string) string {
	if out == "" {
		return ""
	}
	return filepath.Base(out)
}
