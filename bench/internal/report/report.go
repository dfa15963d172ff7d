// Package report holds what every benchmark under bench/ writes its
// report with: quantiles, the command line that reproduces it, the
// machine's load, and the verdict on a target.
package report

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Quantile is the q-quantile of xs, interpolated linearly; NaN for none.
func Quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}

// Command says how the report was made, for a benchmark run as
// `go run ./bench/NAME`: the flags given are repeated so the line can be
// pasted back, and make exports MAKELEVEL to what it runs.
func Command(name string) string {
	c := "go run ./bench/" + name
	flag.Visit(func(f *flag.Flag) {
		v := f.Value.String()
		if v == "" || strings.ContainsAny(v, " \t'\"") {
			v = fmt.Sprintf("%q", v)
		}
		c += " -" + f.Name + " " + v
	})
	if os.Getenv("MAKELEVEL") != "" {
		return "`make bench` (which runs `" + c + "`)"
	}
	return "`" + c + "`"
}

// Verdict words whether a target was met.
func Verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

// Loadavg is the machine's 1, 5 and 15 minute load, for the record.
func Loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// Write prints the report and, when out is not "", writes it there too.
func Write(out string, report []byte) error {
	os.Stdout.Write(report)
	if out == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, report, 0o644)
}
