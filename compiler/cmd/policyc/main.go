// Command policyc compiles Paddock policies into bundles, and checks,
// formats, explains and reviews them.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"golang.org/x/term"

	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/compiler/policy"
	"github.com/paddock-sh/paddock/policies"
)

// Exit codes scripts can rely on.
const (
	exitOK     = 0
	exitPolicy = 1 // the policy has errors, is too open (plan --threshold) or is not formatted (fmt --check)
	exitUsage  = 2 // bad command line, unreadable file
	exitDeny   = 10
	exitAsk    = 11
)

const usage = `policyc compiles Paddock policies (HCL) into bundles the launcher and daemon enforce.

Usage:
  policyc build   [flags] POLICY        compile POLICY.hcl to POLICY.bundle
  policyc check   [flags] POLICY        report errors as file:line:col with a caret and a hint
  policyc fmt     [-w] [--check] FILE... rewrite policies in canonical format
  policyc explain [flags] POLICY (--path P [--write] | --host H[:PORT] | --syscall NAME [--args A,B,...])
                                        the decision and the rule that makes it
  policyc plan    [flags] POLICY        the expansion a reviewer reads, with an exposure score
  policyc groups  [--json] [@GROUP]     the syscall group catalogue
  policyc overlay show|merge ...        approvals' policy overlays (policyc overlay --help)

POLICY is a file (.hcl, or .json in HCL's JSON syntax), builtin:NAME for a
shipped policy (builtin:default, builtin:claude-code, ...), or, for explain
and plan, a compiled .bundle.

Exit status: 0 success; 1 policy errors, too open (plan --threshold) or not
formatted (fmt --check); 2 usage or I/O error; explain also exits 10 when the
answer is deny and 11 when it is ask.

Run "policyc COMMAND --help" for a command's flags.
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmds := map[string]func([]string, io.Writer, io.Writer) int{
		"build": cmdBuild, "check": cmdCheck, "fmt": cmdFmt, "explain": cmdExplain, "plan": cmdPlan, "groups": cmdGroups,
		"overlay": cmdOverlay,
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "version", "--version":
		fmt.Fprintln(stdout, policy.CompilerVersion)
		return exitOK
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "policyc: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	return cmd(args[1:], stdout, stderr)
}

// newFlags makes a command's flag set; -h prints help on stdout and exits 0.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("policyc "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: policyc %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags; it returns done with an exit code for -h or errors.
func parse(fs *flag.FlagSet, args []string, stdout io.Writer) (code int, done bool) {
	if err := fs.Parse(interleave(fs, args)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return exitOK, true
		}
		return exitUsage, true
	}
	return 0, false
}

// interleave lets flags follow positional arguments (policyc check p.hcl
// --json), as users expect; "--" ends flag parsing.
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if f := fs.Lookup(name); f != nil {
			if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !bf.IsBoolFlag() {
				if i+1 < len(args) {
					flags = append(flags, args[i+1])
					i++
				}
			}
		}
	}
	return append(flags, pos...)
}

// loaded is a policy ready to use: its bundle, and (from source) the load
// result for diagnostics.
type loaded struct {
	res    *policy.Result
	bundle *bundle.Bundle
	base   string // the name outputs derive from
}

// load reads POLICY and compiles it. It prints diagnostics to stderr and
// returns an exit code when it cannot go on.
func load(arg string, vars policy.VarFlags, allowBundle bool, stderr io.Writer, jsonOut bool) (*loaded, int) {
	if strings.HasSuffix(arg, ".bundle") && !allowBundle {
		fmt.Fprintf(stderr, "policyc: %s is a compiled bundle; give the policy source\n", arg)
		return nil, exitUsage
	}
	base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(arg, ".hcl"), ".json"), ".bundle")
	if name, ok := strings.CutPrefix(arg, policies.Prefix); ok {
		base = name
	}
	b, _, res, err := policy.Open(arg, vars)
	if res != nil {
		diags := policy.Flatten(res.Diags)
		if jsonOut {
			if res.Diags.HasErrors() {
				writeJSON(stderr, map[string]any{"diagnostics": diags})
			}
		} else {
			policy.WriteText(stderr, diags, res.Files, colorful(stderr))
		}
	}
	switch {
	case err == nil:
		return &loaded{res: res, bundle: b, base: base}, 0
	case errors.Is(err, policy.ErrInvalid):
		if res == nil || !res.Diags.HasErrors() {
			fmt.Fprintf(stderr, "policyc: %v\n", err)
		}
		return &loaded{res: res}, exitPolicy
	default:
		fmt.Fprintf(stderr, "policyc: %v\n", err)
		return nil, exitUsage
	}
}

// colorful reports whether w is a terminal that wants colour.
func colorful(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb" && term.IsTerminal(int(f.Fd()))
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

func oneArg(fs *flag.FlagSet, stderr io.Writer) (string, bool) {
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "policyc %s: want exactly one POLICY, got %d arguments\n", strings.TrimPrefix(fs.Name(), "policyc "), fs.NArg())
		fs.Usage()
		return "", false
	}
	return fs.Arg(0), true
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
