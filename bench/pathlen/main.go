// Command pathlen compares the worst-case path length of Paddock's seccomp
// programs with elastic/go-seccomp-bpf's linear program for the same rules,
// for policies of 10 to 1000 rules, with and without an argument check per
// rule. The path length is the number of BPF instructions the kernel runs for
// the slowest syscall when its action cache cannot skip the program (a
// syscall with an argument check, or a denied one).
//
// Instruction counts are exact and machine-independent, so this benchmark
// needs no repetitions; bench/README.md says how the numbers relate to time.
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/paddock-sh/paddock/compiler/seccomp"
)

func main() {
	out := flag.String("o", "", "also write the markdown table to this file")
	flag.Parse()
	w := io.Writer(os.Stdout)
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		defer f.Close()
		w = io.MultiWriter(os.Stdout, f)
	}
	if err := run(w); err != nil {
		fmt.Fprintln(os.Stderr, "pathlen:", err)
		os.Exit(1)
	}
}

func run(w io.Writer) error {
	arch, err := seccomp.NativeArch()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "## seccomp worst-case path length (%s)\n\n", arch.Name)
	fmt.Fprintln(w, "| rules | argument check per rule | Paddock instructions | Paddock worst path | bound 2·log2(N)+10 | go-seccomp-bpf instructions | go-seccomp-bpf worst path | linear ÷ Paddock |")
	fmt.Fprintln(w, "|---:|:---:|---:|---:|---:|---:|---:|---:|")
	failed := false
	for _, args := range []bool{false, true} {
		for _, n := range []int{10, 50, 100, 300, 1000} {
			spec := seccomp.SyntheticSpec(arch, n, args)
			f, err := seccomp.Lower(spec, arch)
			if err != nil {
				return err
			}
			ours, err := f.Assemble()
			if err != nil {
				return err
			}
			ref, err := seccomp.Reference(spec)
			if err != nil {
				return err
			}
			bound := 2*math.Log2(float64(n)) + 10
			op, rp := seccomp.LongestPath(ours), seccomp.LongestPath(ref)
			refCell := fmt.Sprint(len(ref))
			if len(ref) > 4096 {
				refCell += " (over the kernel's 4096 limit: refused)"
			}
			mark := ""
			if float64(op) > bound {
				mark, failed = " ✗", true
			}
			check := "no"
			if args {
				check = "yes"
			}
			fmt.Fprintf(w, "| %d | %s | %d | %d%s | %.1f | %s | %d | %.1f× |\n", n, check, len(ours), op, mark, bound, refCell, rp, float64(rp)/float64(op))
		}
	}
	fmt.Fprintln(w, "\nWithout argument checks, N is capped by the number of syscalls the architecture has; at 1000 every syscall is allowed, so Paddock's ranges merge into a handful while the linear list stays a list.")
	if failed {
		return fmt.Errorf("a worst path exceeds 2*log2(N)+10")
	}
	return nil
}
