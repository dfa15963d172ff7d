package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/paddock-sh/paddock/agentd/events"
	"github.com/paddock-sh/paddock/agentd/launch"
	"github.com/paddock-sh/paddock/agentd/shim"
	"github.com/paddock-sh/paddock/compiler/policy"
	"github.com/paddock-sh/paddock/policies"
)

const runAbout = `Runs COMMAND with the policy's filesystem, syscall and process restrictions
applied from its first instruction: Landlock on every right the kernel
offers, denied entries inside granted trees masked, seccomp loaded last,
capabilities and privileges dropped, the environment reduced to the policy's
list (credentials appear only as placeholders). On a terminal COMMAND gets a
pty of its own that agentctl relays.

With agentd running (its socket exists; --agentd=always requires it,
--agentd=never ignores it), agentd makes an ephemeral sandbox for COMMAND:
its cgroup hooks send every connection to agentd's egress proxy, programs
that ignore the proxy variables included, and every DNS query to its stub;
resource limits hold per sandbox; every decision goes to agentd's event log
(agentctl events). The sandbox goes when agentctl exits.

Without agentd, COMMAND gets a network namespace of its own holding only
loopback, and agentctl serves the egress proxy inside it on 127.0.0.1:3128
(HTTP_PROXY, HTTPS_PROXY and ALL_PROXY point there); every destination is
checked against the policy, and programs that ignore the proxy variables
cannot connect at all. Deny rules then cover only what exists at launch.
Denied connections are summarised on stderr when COMMAND exits; --events
FILE appends every network decision as JSON lines. --explain shows the whole
plan without running anything.

POLICY is builtin:NAME (default, claude-code, ci-runner, offline), a policy
source (.hcl, .json) or a compiled bundle (.bundle).
`

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", "[flags] -- COMMAND [ARGS...]", runAbout, stdout)
	policyArg := fs.String("policy", policies.Prefix+"default", "the policy to apply: builtin:NAME, FILE.hcl, FILE.json or FILE.bundle")
	ws := fs.String("workspace", "", "the directory the policy calls ${workspace} (default: the current directory)")
	userFlag := fs.String("user", "", "run COMMAND as this user (name or uid; needs root)")
	explain := fs.Bool("explain", false, "print the launch plan (layers, grants, masked entries, what stays uncovered) and exit")
	jsonOut := fs.Bool("json", false, "with --explain, print the plan as JSON")
	quiet := fs.Bool("quiet", false, "do not report degraded layers, uncovered rules and denied connections on stderr")
	eventsPath := fs.String("events", "", "append every network decision to `FILE` as JSON lines (without agentd; with it, see agentctl events)")
	daemonMode := fs.String("agentd", "auto", "run in a sandbox of agentd: auto (when its socket exists), always, never")
	sock := socketFlag(fs)
	vars := policy.VarFlags{}
	fs.Var(vars, "var", "set a policy variable, NAME=VALUE (lists: comma-separated); repeatable")
	fs.BoolVar(quiet, "q", false, "short for --quiet")
	if code, done := parse(fs, args, stdout, stderr); done {
		return code
	}
	argv := fs.Args()
	if len(argv) == 0 && !*explain {
		fmt.Fprintln(stderr, "agentctl run: no command given (agentctl run [flags] -- COMMAND [ARGS...])")
		return exitUsage
	}
	if len(argv) == 0 {
		argv = []string{"/bin/true"}
	}

	b, data, res, err := policy.Open(*policyArg, vars)
	if res != nil {
		policy.WriteText(stderr, policy.Flatten(res.Diags), res.Files, colorful(stderr))
	}
	if err != nil {
		if res == nil || !res.Diags.HasErrors() {
			fmt.Fprintf(stderr, "agentctl: %v\n", err)
		}
		return shim.ExitSetup
	}

	denials := &denials{}
	var sink events.Sink = denials
	if *eventsPath != "" {
		f, err := os.OpenFile(*eventsPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			fmt.Fprintf(stderr, "agentctl: --events: %v\n", err)
			return shim.ExitSetup
		}
		defer f.Close()
		sink = tee{denials, newJSONLines(f)}
	}
	withDaemon, err := useDaemon(*daemonMode, *sock)
	if err != nil {
		fmt.Fprintf(stderr, "agentctl: %v\n", err)
		return exitUsage
	}
	opts := launch.Options{Bundle: b, Argv: argv, Workspace: *ws, User: *userFlag, Environ: os.Environ(), Events: sink}
	var dr *daemonRun
	if withDaemon && !*explain {
		if opts.Workspace, err = launch.ResolveWorkspace(*ws); err != nil {
			fmt.Fprintf(stderr, "agentctl: %v\n", err)
			return shim.ExitSetup
		}
		if dr, opts.Daemon, err = startDaemonRun(*sock, b, data, opts.Workspace); err != nil {
			fmt.Fprintf(stderr, "agentctl: %v (agentctl run --agentd=never runs without it)\n", err)
			return shim.ExitSetup
		}
		defer func() {
			if err := dr.close(); err != nil {
				fmt.Fprintf(stderr, "agentctl: %v\n", err)
			}
		}()
	} else if withDaemon {
		// --explain shows the plan agentd would run, without creating anything.
		opts.Daemon = &launch.Daemon{CABundle: caBundle(*sock, b)}
	}
	if !*quiet {
		opts.Ready = func(l *launch.Launch) { report(stderr, l) }
	}
	l, err := launch.Prepare(opts)
	if err == nil && withDaemon && *explain {
		err = l.Join(&launch.Sandbox{ID: "(made at launch)", FileDeny: "see agentctl info", CABundle: opts.Daemon.CABundle})
	}
	if err != nil {
		fmt.Fprintf(stderr, "agentctl: %v\n", err)
		return shim.ExitSetup
	}
	if *explain {
		defer l.Close()
		if *jsonOut {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(l)
		} else {
			printPlan(stdout, l)
		}
		return 0
	}
	code, err := l.Run()
	if err != nil {
		fmt.Fprintf(stderr, "agentctl: %v\n", err)
	}
	if dr != nil && dr.sbx != nil && !*quiet {
		if err := dr.denials(denials); err != nil {
			fmt.Fprintf(stderr, "agentctl: reading the sandbox's denials from agentd: %v\n", err)
		}
	}
	if !*quiet {
		denials.report(stderr)
	}
	return code
}

// report says, in a few lines, what this launch does not enforce.
func report(w io.Writer, l *launch.Launch) {
	var degraded []string
	for _, layer := range l.Layers {
		switch layer.State {
		case launch.Degraded, launch.Off:
			degraded = append(degraded, layer.Name+" ("+layer.State+": "+layer.Detail+")")
		}
	}
	for _, d := range degraded {
		fmt.Fprintf(w, "agentctl: %s\n", d)
	}
	for _, layer := range l.Layers {
		if layer.State == launch.Refused {
			fmt.Fprintf(w, "agentctl: %s refused: %s\n", layer.Name, layer.Detail)
		}
	}
	for _, warn := range l.Warnings {
		fmt.Fprintf(w, "agentctl: %s\n", warn)
	}
	if n := len(l.Fence.Uncovered); n > 0 {
		fmt.Fprintf(w, "agentctl: %d deny rules are not enforced on names created after launch (agentctl run --explain lists them)\n", n)
	}
}

func printPlan(w io.Writer, l *launch.Launch) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("Policy %s (%s)", l.Policy, l.Bundle)
	p("Workload user %s (uid %d, gid %d); workspace %s; home %s; tmp %s (removed afterwards)", l.Vars.User, l.Vars.UID, l.Vars.GID, l.Vars.Workspace, l.Vars.Home, l.Vars.Tmp)
	p("")
	p("Layers")
	for _, layer := range l.Layers {
		p("  %-16s %-9s %s", layer.Name, layer.State, layer.Detail)
	}
	p("")
	p("Landlock grants (opened without following symlinks)")
	for _, g := range l.Fence.Grants {
		note := ""
		if g.Note != "" {
			note = "  [" + g.Note + "]"
		}
		p("  %-40s %s%s", g.Path, strings.Join(g.Rights, ","), note)
	}
	if len(l.Fence.Skipped) > 0 {
		p("Grants not applied")
		for _, s := range l.Fence.Skipped {
			p("  %-40s %s", s.Path, s.Reason)
		}
	}
	p("")
	p("Denied entries inside granted trees, masked at launch (%d directory entries searched)", l.Fence.Entries)
	if len(l.Fence.Mounts) == 0 {
		p("  none found")
	}
	for _, m := range l.Fence.Mounts {
		what := map[string]string{"hide": "hidden (empty, unreadable, read-only)", "readonly": "read-only", "pin": "pinned (cannot be renamed or removed)"}[m.Kind]
		p("  %-40s %s  %s", m.Path, what, m.Rule)
	}
	p("")
	p("Not covered without agentd's BPF-LSM")
	for _, u := range append(append([]string{}, l.Fence.Uncovered...), l.Fence.Unsearched...) {
		p("  %s", u)
	}
	if len(l.Fence.Uncovered)+len(l.Fence.Unsearched) == 0 {
		p("  nothing")
	}
	p("")
	p("Environment: %s", strings.Join(l.EnvNames, " "))
	if len(l.Rlimits) > 0 {
		var ls []string
		for _, r := range l.Rlimits {
			ls = append(ls, fmt.Sprintf("%s=%d", r.Name, r.Value))
		}
		p("Limits: %s", strings.Join(ls, " "))
	}
	for _, warn := range l.Warnings {
		p("Note: %s", warn)
	}
}

// colorful reports whether w is a terminal that wants colour.
func colorful(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb" && term.IsTerminal(int(f.Fd()))
}
