package main

import (
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/compiler/hostpattern"
	"github.com/paddock-sh/paddock/compiler/policy"
	"github.com/paddock-sh/paddock/compiler/seccomp"
	"github.com/paddock-sh/paddock/compiler/syscalls"
	"github.com/paddock-sh/paddock/policies"
)

func cmdExplain(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("explain", "[flags] POLICY (--path P [--write] | --host H[:PORT] | --syscall NAME [--args A,B,...])", stderr)
	path := fs.String("path", "", "a filesystem path: may the sandbox read it (or, with --write, change it)?")
	write := fs.Bool("write", false, "with --path: ask about changing the path rather than reading it")
	host := fs.String("host", "", "a destination, HOST or HOST:PORT (port 443 if omitted)")
	sys := fs.String("syscall", "", "a syscall name")
	argList := fs.String("args", "", "with --syscall: argument values, comma-separated (numbers or constants such as AF_INET)")
	archName := fs.String("arch", "", "with --syscall: the architecture whose program answers (default: this machine's)")
	jsonOut := fs.Bool("json", false, "print the decision as JSON")
	workspace := fs.String("workspace", "", "the workspace ${workspace} stands for (default: the current directory)")
	home := fs.String("home", "", "the home ${home} stands for (default: the current user's)")
	tmp := fs.String("tmp", "", "the directory ${tmp} stands for (default: $TMPDIR/paddock)")
	vars := policy.VarFlags{}
	fs.Var(vars, "var", "set a policy variable, NAME=VALUE; repeatable")
	if code, done := parse(fs, args, stdout); done {
		return code
	}
	arg, ok := oneArg(fs, stderr)
	if !ok {
		return exitUsage
	}
	asked := 0
	for _, s := range []string{*path, *host, *sys} {
		if s != "" {
			asked++
		}
	}
	if asked != 1 {
		fmt.Fprintln(stderr, "policyc explain: ask exactly one of --path, --host or --syscall")
		return exitUsage
	}
	l, code := load(arg, vars, true, stderr, *jsonOut)
	if code != 0 {
		return code
	}
	b := l.bundle

	var d bundle.Decision
	var subject string
	switch {
	case *path != "":
		v := launchVars(*workspace, *home, *tmp)
		resolved, err := b.Filesystem.Resolve(v)
		if err != nil {
			fmt.Fprintf(stderr, "policyc explain: %v\n", err)
			return exitPolicy
		}
		p := *path
		if !filepath.IsAbs(p) {
			p = filepath.Join(v.Workspace, p)
		}
		verb := "read"
		if *write {
			verb = "write"
		}
		subject = fmt.Sprintf("%s %s", verb, filepath.Clean(p))
		d = resolved.Decide(p, *write)
	case *host != "":
		h, port, err := hostpattern.SplitHostPort(*host)
		if err == nil && port == 0 {
			port = 443
		}
		if err == nil {
			d, err = b.Network.Decide(h, port)
		}
		if err != nil {
			fmt.Fprintf(stderr, "policyc explain: --host %q: %v\n", *host, err)
			return exitUsage
		}
		subject = fmt.Sprintf("connect %s", *host)
	default:
		arch, err := seccomp.NativeArch()
		if *archName != "" {
			arch, err = seccomp.ArchByName(*archName)
		}
		if err != nil {
			fmt.Fprintf(stderr, "policyc explain: %v\n", err)
			return exitUsage
		}
		if _, err := syscalls.Expand(*sys); err != nil || strings.HasPrefix(*sys, "@") {
			fmt.Fprintf(stderr, "policyc explain: --syscall: %v\n", orGroupErr(err, *sys))
			return exitUsage
		}
		var values [6]uint64
		var names []string
		if *argList != "" {
			names = strings.Split(*argList, ",")
			if len(names) > 6 {
				fmt.Fprintln(stderr, "policyc explain: --args: a syscall has at most 6 arguments")
				return exitUsage
			}
			for i, n := range names {
				if values[i], err = syscalls.ParseValue(strings.TrimSpace(n)); err != nil {
					fmt.Fprintf(stderr, "policyc explain: --args: %v\n", err)
					return exitUsage
				}
			}
		}
		d, _, err = b.Syscalls.Decide(arch, *sys, values)
		if err != nil {
			fmt.Fprintf(stderr, "policyc explain: %v\n", err)
			return exitUsage
		}
		subject = fmt.Sprintf("%s(%s) on %s", *sys, strings.Join(names, ", "), arch.Name)
	}
	if *jsonOut {
		writeJSON(stdout, map[string]any{"subject": subject, "verdict": d.Verdict, "reason": d.Reason, "rule": d.Rule})
	} else {
		fmt.Fprintf(stdout, "%-8s %s\n", d.Verdict, subject)
		if d.Rule != nil {
			fmt.Fprintf(stdout, "  rule    %s %q\n", d.Rule.Field, d.Rule.Text)
			fmt.Fprintf(stdout, "  at      %s\n", location(arg, *d.Rule))
		} else {
			fmt.Fprintf(stdout, "  rule    (none matched)\n")
		}
		fmt.Fprintf(stdout, "  reason  %s\n", d.Reason)
	}
	switch d.Verdict {
	case bundle.VerdictDeny:
		return exitDeny
	case bundle.VerdictAsk:
		return exitAsk
	}
	return exitOK
}

func orGroupErr(err error, name string) error {
	if err == nil {
		return fmt.Errorf("%q is a group; ask about one syscall", name)
	}
	return err
}

// location names a rule's place so that a terminal or editor can open it:
// bundle source names are relative to the main policy's directory.
func location(arg string, r bundle.Rule) string {
	file := r.File
	if !strings.HasPrefix(file, policies.Prefix) && !strings.HasPrefix(arg, policies.Prefix) && !strings.HasSuffix(arg, ".bundle") {
		file = filepath.Join(filepath.Dir(arg), file)
	}
	return fmt.Sprintf("%s:%d:%d", file, r.Line, r.Col)
}

// launchVars fills the path variables as a launch by the current user would.
func launchVars(workspace, home, tmp string) bundle.Vars {
	v := bundle.Vars{Workspace: workspace, Home: home, Tmp: tmp, Env: os.LookupEnv}
	if v.Workspace == "" {
		v.Workspace, _ = os.Getwd()
	}
	u, err := user.Current()
	if err == nil {
		v.User = u.Username
	}
	if v.Home == "" {
		if err == nil {
			v.Home = u.HomeDir
		} else {
			v.Home, _ = os.UserHomeDir()
		}
	}
	if v.Tmp == "" {
		v.Tmp = filepath.Join(os.TempDir(), "paddock")
	}
	abs := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return p
	}
	v.Workspace, v.Home, v.Tmp = abs(v.Workspace), abs(v.Home), abs(v.Tmp)
	return v
}
