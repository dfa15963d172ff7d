package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/paddock-sh/paddock/compiler/hostpattern"
	"github.com/paddock-sh/paddock/compiler/policy"
	"github.com/paddock-sh/paddock/compiler/policyedit"
)

const overlayHelp = `Usage: policyc overlay show [--json] OVERLAY
       policyc overlay merge [-w] [--var NAME=VALUE] POLICY.hcl OVERLAY

An overlay holds the destinations allowed permanently for one policy when
an approval request (on_unknown = "ask") was answered "allow permanently";
agentd keeps one per policy and user under its state directory
(overlays/UID/POLICY.hcl) and adds its entries to later sandboxes of that
policy.

  show   check the overlay and print it in canonical format (or as JSON)
  merge  add the overlay's destinations to POLICY's network.allow, skipping
         those the policy (with what it extends) already allows; print the
         merged policy, or write it back with -w

Exit status: 0 success; 1 the overlay or the merged policy has errors, or
the overlay is for another policy; 2 usage or I/O error.
`

func cmdOverlay(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) == 0 {
			fmt.Fprint(stderr, overlayHelp)
			return exitUsage
		}
		fmt.Fprint(stdout, overlayHelp)
		return exitOK
	}
	switch args[0] {
	case "show":
		return overlayShow(args[1:], stdout, stderr)
	case "merge":
		return overlayMerge(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "policyc overlay: unknown command %q\n\n%s", args[0], overlayHelp)
	return exitUsage
}

// loadOverlay reads and checks an overlay file, printing its diagnostics.
func loadOverlay(path string, stderr io.Writer) (*policy.Overlay, []byte, int) {
	src, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "policyc: %v\n", err)
		return nil, nil, exitUsage
	}
	res := policy.LoadOverlay(path, src)
	policy.WriteText(stderr, policy.Flatten(res.Diags), res.Files, colorful(stderr))
	if res.Overlay == nil {
		return nil, nil, exitPolicy
	}
	return res.Overlay, src, exitOK
}

func overlayShow(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("overlay show", "[--json] OVERLAY", stderr)
	jsonOut := fs.Bool("json", false, "print the policy name and the entries, with their lines, as JSON")
	if code, done := parse(fs, args, stdout); done {
		return code
	}
	path, ok := oneArg(fs, stderr)
	if !ok {
		return exitUsage
	}
	o, src, code := loadOverlay(path, stderr)
	if o == nil {
		return code
	}
	if *jsonOut {
		type entry struct {
			Pattern string `json:"pattern"`
			Field   string `json:"field"`
			Line    int    `json:"line"`
		}
		out := struct {
			File   string  `json:"file"`
			Policy string  `json:"policy"`
			Allow  []entry `json:"allow"`
		}{File: path, Policy: o.Policy, Allow: []entry{}}
		for _, r := range o.HostRules(path) {
			out.Allow = append(out.Allow, entry{Pattern: r.Pattern, Field: r.Rule.Field, Line: r.Rule.Line})
		}
		writeJSON(stdout, out)
		return exitOK
	}
	stdout.Write(hclwrite.Format(src))
	return exitOK
}

func overlayMerge(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("overlay merge", "[-w] POLICY.hcl OVERLAY", stderr)
	write := fs.Bool("w", false, "write the merged policy back to POLICY.hcl instead of printing it")
	vars := policy.VarFlags{}
	fs.Var(vars, "var", "set a policy variable, NAME=VALUE; repeatable")
	if code, done := parse(fs, args, stdout); done {
		return code
	}
	if fs.NArg() != 2 {
		fmt.Fprintf(stderr, "policyc overlay merge: want POLICY.hcl and OVERLAY, got %d arguments\n", fs.NArg())
		fs.Usage()
		return exitUsage
	}
	polPath, ovPath := fs.Arg(0), fs.Arg(1)
	if !strings.HasSuffix(polPath, ".hcl") {
		fmt.Fprintf(stderr, "policyc overlay merge: %s: give a policy source in HCL native syntax (.hcl)\n", polPath)
		return exitUsage
	}
	o, _, code := loadOverlay(ovPath, stderr)
	if o == nil {
		return code
	}
	src, err := os.ReadFile(polPath)
	if err != nil {
		fmt.Fprintf(stderr, "policyc: %v\n", err)
		return exitUsage
	}
	res := policy.LoadSource(polPath, src, vars)
	policy.WriteText(stderr, policy.Flatten(res.Diags), res.Files, colorful(stderr))
	if res.Policy == nil {
		return exitPolicy
	}
	if res.Policy.Name != o.Policy {
		fmt.Fprintf(stderr, "policyc overlay merge: %s is an overlay for policy %q, and %s is policy %q\n", ovPath, o.Policy, polPath, res.Policy.Name)
		return exitPolicy
	}
	have := map[string]bool{}
	for _, e := range res.Policy.Allow {
		if pat, err := hostpattern.ParsePattern(e.Value); err == nil {
			have[pat.String()] = true
		}
	}
	var add []string
	for _, r := range o.HostRules(ovPath) {
		if !have[r.Pattern] {
			add = append(add, r.Pattern)
			have[r.Pattern] = true
		}
	}
	merged := hclwrite.Format(src)
	if len(add) > 0 {
		if merged, err = policyedit.AppendAllow(polPath, src, add, "from "+ovPath); err != nil {
			fmt.Fprintf(stderr, "policyc overlay merge: %v\n", err)
			return exitPolicy
		}
	}
	// The merged policy must load and compile like the original did.
	mres := policy.LoadSource(polPath, merged, vars)
	if mres.Policy != nil {
		if _, err := policy.Compile(mres.Policy); err != nil {
			fmt.Fprintf(stderr, "policyc overlay merge: the merged policy does not compile: %v\n", err)
			return exitPolicy
		}
	} else {
		policy.WriteText(stderr, policy.Flatten(mres.Diags), mres.Files, colorful(stderr))
		fmt.Fprintln(stderr, "policyc overlay merge: the merged policy has errors; nothing written")
		return exitPolicy
	}
	fmt.Fprintf(stderr, "policyc: %d destinations of %s added to %s's network.allow, %d already allowed\n",
		len(add), ovPath, polPath, len(o.HostRules(ovPath))-len(add))
	if !*write {
		stdout.Write(merged)
		return exitOK
	}
	if len(add) == 0 {
		return exitOK
	}
	info, err := os.Stat(polPath)
	if err == nil {
		err = writeAtomic(polPath, merged, info.Mode().Perm())
	}
	if err != nil {
		fmt.Fprintf(stderr, "policyc: %v\n", err)
		return exitUsage
	}
	return exitOK
}
