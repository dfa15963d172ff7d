package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/paddock-sh/paddock/compiler/policy"
)

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check", "[flags] POLICY", stderr)
	jsonOut := fs.Bool("json", false, "print diagnostics as JSON on stdout (for editors and CI)")
	vars := policy.VarFlags{}
	fs.Var(vars, "var", "set a policy variable, NAME=VALUE; repeatable")
	if code, done := parse(fs, args, stdout); done {
		return code
	}
	arg, ok := oneArg(fs, stderr)
	if !ok {
		return exitUsage
	}
	if *jsonOut {
		// Diagnostics are the output here, so they go to stdout, warnings too.
		l, code := load(arg, vars, false, io.Discard, true)
		diags := []policy.Diagnostic{}
		if l != nil && l.res != nil {
			diags = append(diags, policy.Flatten(l.res.Diags)...)
		}
		writeJSON(stdout, map[string]any{"ok": code == 0, "diagnostics": diags})
		return code
	}
	_, code := load(arg, vars, false, stderr, false)
	if code == 0 {
		fmt.Fprintf(stdout, "%s: ok\n", arg)
	}
	return code
}

func cmdFmt(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("fmt", "[-w] [--check] FILE.hcl...", stderr)
	write := fs.Bool("w", false, "write the result back to each file instead of printing it")
	check := fs.Bool("check", false, "print the names of files that are not formatted and exit 1 if any")
	if code, done := parse(fs, args, stdout); done {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "policyc fmt: name at least one file")
		return exitUsage
	}
	code := exitOK
	for _, path := range fs.Args() {
		if strings.HasSuffix(path, ".json") {
			fmt.Fprintf(stderr, "policyc fmt: %s: only HCL native syntax is formatted; JSON policies are left as they are\n", path)
			return exitUsage
		}
		src, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(stderr, "policyc: %v\n", err)
			return exitUsage
		}
		// Refuse to format what does not parse: hclwrite would keep the
		// broken tokens and the result would look valid.
		p := hclparse.NewParser()
		if _, diags := p.ParseHCL(src, path); diags.HasErrors() {
			policy.WriteText(stderr, policy.Flatten(diags), p.Files(), colorful(stderr))
			return exitPolicy
		}
		out := hclwrite.Format(src)
		if _, diags := hclparse.NewParser().ParseHCL(out, path); diags.HasErrors() {
			fmt.Fprintf(stderr, "policyc: %s: formatting would break the file; left unchanged\n", path)
			return exitPolicy
		}
		same := bytes.Equal(src, out)
		switch {
		case *check:
			if !same {
				fmt.Fprintln(stdout, path)
				code = exitPolicy
			}
		case *write:
			if !same {
				info, err := os.Stat(path)
				if err == nil {
					err = writeAtomic(path, out, info.Mode().Perm())
				}
				if err != nil {
					fmt.Fprintf(stderr, "policyc: %v\n", err)
					return exitUsage
				}
			}
		default:
			stdout.Write(out)
		}
	}
	return code
}
