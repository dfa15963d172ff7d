// Command pathlen compares the worst-case path length of Paddock's seccomp
// programs with elastic/go-seccomp-bpf's linear program for the same rules,
// for policies of 10 to 1000 rules, with and without an argument check per
// rule. The path length is the number of BPF instructions the kernel runs for
// the slowest syscall when its action cache cannot skip the program (a
// syscall with an argument check, or a denied one).
//
// Instruction counts are exact and machine-independent, so this benchmark
// needs no repetitions; bench/syscall measures what they cost in time.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/paddock-sh/paddock/bench/internal/filters"
	"github.com/paddock-sh/paddock/bench/internal/report"
	"github.com/paddock-sh/paddock/compiler/seccomp"
)

func main() {
	out := flag.String("o", "", "also write the markdown table to this file")
	jsonOut := flag.String("json", "", "write the results as JSON to this file, for bench/report (default: -o's name with .json)")
	flag.Parse()
	md, res, err := run()
	if err == nil {
		err = report.Publish(*out, *jsonOut, md, res)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pathlen:", err)
		os.Exit(1)
	}
}

// bound is the ceiling on the worst path: 2·log2(N)+10.
func bound(n int) float64 { return 2*math.Log2(float64(n)) + 10 }

func run() ([]byte, *report.Result, error) {
	arch, err := seccomp.NativeArch()
	if err != nil {
		return nil, nil, err
	}
	res := &report.Result{Bench: "pathlen", Title: "seccomp worst-case path length: Paddock's layout against a linear one",
		Command: report.Command("pathlen"), Date: time.Now().UTC(), Machine: report.ThisMachine()}
	table := report.Table{Caption: fmt.Sprintf("Worst-case instructions per syscall (%s)", arch.Name),
		Header: []string{"rules", "argument check per rule", "Paddock worst path", "bound 2·log2(N)+10", "go-seccomp-bpf worst path", "linear ÷ Paddock"}}
	var w bytes.Buffer
	fmt.Fprintf(&w, "## seccomp worst-case path length (%s)\n\n", arch.Name)
	fmt.Fprintln(&w, "| rules | argument check per rule | Paddock instructions | Paddock worst path | bound 2·log2(N)+10 | go-seccomp-bpf instructions | go-seccomp-bpf worst path | linear ÷ Paddock |")
	fmt.Fprintln(&w, "|---:|:---:|---:|---:|---:|---:|---:|---:|")
	failed := false
	worst := 0.0 // the largest path ÷ bound
	var worstAt string
	for _, args := range []bool{false, true} {
		for _, n := range []int{10, 50, 100, 300, 1000} {
			ours, ref, err := filters.Both(seccomp.SyntheticSpec(arch, n, args), arch)
			if err != nil {
				return nil, nil, err
			}
			op, rp := seccomp.LongestPath(ours), seccomp.LongestPath(ref)
			refCell := fmt.Sprint(len(ref))
			if len(ref) > filters.MaxInsns {
				refCell += " (over the kernel's 4096 limit: refused)"
			}
			mark := ""
			if float64(op) > bound(n) {
				mark, failed = " ✗", true
			}
			check := "no"
			if args {
				check = "yes"
			}
			if r := float64(op) / bound(n); r > worst {
				worst, worstAt = r, fmt.Sprintf("%d rules, argument checks: %s", n, check)
			}
			fmt.Fprintf(&w, "| %d | %s | %d | %d%s | %.1f | %s | %d | %.1f× |\n", n, check, len(ours), op, mark, bound(n), refCell, rp, float64(rp)/float64(op))
			table.Rows = append(table.Rows, []string{fmt.Sprint(n), check, fmt.Sprint(op), fmt.Sprintf("%.1f", bound(n)), fmt.Sprint(rp), fmt.Sprintf("%.1f×", float64(rp)/float64(op))})
			if args && n == 300 {
				res.Claims = append(res.Claims, report.NewClaim("Paddock's worst path with 300 argument rules: at most 2·log2(300)+10 instructions",
					report.Stat{Median: float64(op)}, "instructions", "", "<=", math.Round(bound(n)*10)/10,
					fmt.Sprintf("go-seccomp-bpf's linear program: %d (%.1f× Paddock's)", rp, float64(rp)/float64(op))))
			}
		}
	}
	fmt.Fprintln(&w, "\nWithout argument checks, N is capped by the number of syscalls the architecture has; at 1000 every syscall is allowed, so Paddock's ranges merge into a handful while the linear list stays a list.")
	res.Claims = append(res.Claims, report.NewClaim("Paddock's worst path within 2·log2(N)+10 for every N from 10 to 1000 (largest path ÷ bound)",
		report.Stat{Median: math.Round(worst*1000) / 1000}, "×", "the bound", "<=", 1, "the closest: "+worstAt))
	res.Tables = append(res.Tables, table)
	if failed {
		return w.Bytes(), res, fmt.Errorf("a worst path exceeds 2*log2(N)+10")
	}
	return w.Bytes(), res, nil
}
