package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/paddock-sh/paddock/bench/internal/report"
)

// figures are one variant's results for one call: its median ns and the
// median and spread of its ratios to the bare and floor blocks measured
// next to it.
type figures struct {
	ns              report.Stat
	toBare, toFloor report.Stat
}

// stats computes v's figures for call c.
func (b *bench) stats(v *variant, c string) (figures, error) {
	ss := v.samples[c]
	if len(ss) == 0 {
		return figures{}, fmt.Errorf("%s, %s: nothing measured", v.name, c)
	}
	return figuresOf(ss), nil
}

// figuresOf summarizes samples: the ratios are taken sample by sample,
// each against the baselines measured next to it.
func figuresOf(ss []sample) figures {
	ns, bare, floor := make([]float64, len(ss)), make([]float64, len(ss)), make([]float64, len(ss))
	for i, s := range ss {
		ns[i], bare[i], floor[i] = s.ns, s.bare, s.floor
	}
	// The lengths agree by construction.
	toBare, _ := report.PairedRatio(ns, bare)
	toFloor, _ := report.PairedRatio(ns, floor)
	return figures{ns: report.Summarize(ns), toBare: toBare, toFloor: toFloor}
}

func ratio(s report.Stat) string {
	return fmt.Sprintf("%.3f× (%.3f–%.3f)", s.Median, s.P10, s.P90)
}

func (b *bench) mainVariants() []*variant {
	var out []*variant
	for _, v := range b.variants {
		if v.rules == 0 {
			out = append(out, v)
		}
	}
	return out
}

func (b *bench) scale(layout string, args bool, n int) *variant {
	kind := "cached"
	if args {
		kind = "args"
	}
	return b.find(fmt.Sprintf("scale-%s-%s-%d", layout, kind, n))
}

// render writes the markdown report and the Result.
func (b *bench) render() ([]byte, *report.Result, error) {
	var buf bytes.Buffer
	w := &buf
	res := &report.Result{
		Bench: "syscall", Title: "Hot syscall path: seccomp filters and sandboxes, per call",
		Command: report.Command("syscall"), Date: time.Now().UTC(), Machine: b.machine,
		Tools: map[string]string{"cc": b.cc},
	}
	for name, argv := range map[string][]string{"bwrap": {"bwrap", "--version"}, "firejail": {"firejail", "--version"},
		"libseccomp": {"dpkg-query", "-W", "-f", "libseccomp ${Version}\n", "libseccomp-dev"}} {
		if v := report.Version(argv...); v != "" {
			res.Tools[name] = v
		}
	}
	jit := "unknown"
	if j, err := os.ReadFile("/proc/sys/net/core/bpf_jit_enable"); err == nil {
		jit = strings.TrimSpace(string(j))
	}

	fmt.Fprintln(w, "# Hot syscall path: what a seccomp filter costs per call")
	fmt.Fprintln(w)
	who := "as root"
	if !b.machine.Root {
		who = "as uid " + fmt.Sprint(os.Geteuid())
	}
	fmt.Fprintf(w, "Produced by %s on %s; %s, %s; loop built with %s; net.core.bpf_jit_enable=%s.\n\n",
		res.Command, res.Date.Format("2006-01-02"), b.machine, who, b.cc, jit)
	var tools []string
	for _, k := range []string{"bwrap", "firejail", "libseccomp"} {
		if v := res.Tools[k]; v != "" {
			tools = append(tools, v)
		}
	}
	if len(tools) > 0 {
		fmt.Fprintf(w, "Peers: %s.\n\n", strings.Join(tools, "; "))
	}

	fmt.Fprintln(w, "## Method")
	fmt.Fprintln(w)
	var callDesc []string
	for _, c := range calls {
		callDesc = append(callDesc, fmt.Sprintf("%s (%d per block)", c.name, b.itersOf(c)))
	}
	fmt.Fprintf(w, "A C program (bench/syscall/csrc/loop.c, compiled at run time) times blocks of calls with CLOCK_MONOTONIC and reports nanoseconds per iteration: %s. "+
		"getpid goes through syscall(2) with every argument 0; openat opens /etc/passwd; read reads /dev/zero; socket makes an AF_INET stream socket; "+
		"ioctl asks a pipe for FIONREAD. openat+close and socket+close are two syscalls per iteration. "+
		"Every variant runs this same binary. Where the variant is a filter, the loop installs it itself, after no_new_privs, from the raw struct sock_filter "+
		"array this benchmark wrote (the Docker-like one is exported by libseccomp's seccomp_export_bpf), so every filter is loaded the same way; "+
		"the peers' sandboxes start the loop instead. Everything the loop needs is opened before the filters go in. "+
		"After installing, the loop reads Seccomp_filters from /proc/self/status and exits without measuring unless it is what the variant expects.\n\n",
		strings.Join(callDesc, ", "))
	live := 0
	for _, v := range b.variants {
		if v.skip == "" {
			live++
		}
	}
	fmt.Fprintf(w, "All %d variants' loops run side by side, each waiting on its stdin, and time one block when asked. "+
		"Each of %d rounds (after %d untimed ones) takes the calls in turn and, for every variant that measures the call (in an order that rotates from round to round and call to call), "+
		"times one block of it right next to a block of the bare loop and one of the floor's loop, the three in an order that rotates too: "+
		"every figure is compared with baselines measured milliseconds before or after it. "+
		"A ratio is the median over the rounds of the variant's block over the adjacent bare block (× bare) or the adjacent floor block (× floor, the one-instruction `ret ALLOW` filter), "+
		"with the p10–p90 of those per-round ratios; absolute times are medians over the rounds. "+
		"The loops run under %s. "+
		"The host is shared with other work and its load drifts (load average before the run: %s); "+
		"drift moves blocks milliseconds apart alike, so the paired ratios are the figures to compare.\n\n",
		live, b.rounds, b.warmup, b.schedNote, b.machine.Load)
	fmt.Fprintln(w, "The path column says what the kernel does for the call under that filter, worked out from the installed program: "+
		"`cached` when the kernel's seccomp action cache (5.11+) proves the syscall allowed whatever its arguments and skips the filter "+
		"(compiler/seccomp's ConstAllow emulates the kernel's check), else the number of BPF instructions the filter runs for it (compiler/seccomp's interpreter, with the call's arguments).")
	fmt.Fprintln(w)

	// Per call.
	fmt.Fprintln(w, "## Per-call cost")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| call | variant | median ns | × bare (p10–p90) | × floor (p10–p90) | path |")
	fmt.Fprintln(w, "|:---|:---|---:|---:|---:|:---|")
	overview := report.Table{Caption: "Median ratio to bare per call (p10–p90 in the full report)", Header: []string{"variant"}}
	for _, c := range calls {
		overview.Header = append(overview.Header, c.name)
	}
	overhead := report.Plot{Name: "syscall-overhead", Title: "Per-call cost by variant, ratio to no filter", Kind: report.Bars, Base: 1,
		XLabel: "call", YLabel: "× bare (median of per-round ratios, p10–p90)", Refs: []report.Ref{{Y: 1, Label: "bare"}}}
	perVariant := map[string]*report.Series{}
	for _, c := range calls {
		for _, v := range b.mainVariants() {
			if v.skip != "" {
				fmt.Fprintf(w, "| %s | %s | %s | – | – | |\n", c.name, v.name, v.skip)
				continue
			}
			f, err := b.stats(v, c.key)
			if err != nil {
				return nil, nil, err
			}
			fmt.Fprintf(w, "| %s | %s | %.1f | %s | %s | %s |\n", c.name, v.name, f.ns.Median, ratio(f.toBare), ratio(f.toFloor), path(b.arch, v.progs, c))
			if v.key == "bare" {
				continue
			}
			s := perVariant[v.key]
			if s == nil {
				s = &report.Series{Name: v.name}
				perVariant[v.key] = s
			}
			s.Points = append(s.Points, report.PointOf(c.name, f.toBare))
		}
	}
	for _, v := range b.mainVariants() {
		if s := perVariant[v.key]; s != nil {
			overhead.Series = append(overhead.Series, *s)
		}
		if v.key == "bare" {
			continue
		}
		row := []string{v.name}
		for _, c := range calls {
			if v.skip != "" {
				row = append(row, "–")
				continue
			}
			f, _ := b.stats(v, c.key)
			row = append(row, fmt.Sprintf("%.2f×", f.toBare.Median))
		}
		overview.Rows = append(overview.Rows, row)
	}
	fmt.Fprintln(w)
	res.Plots = append(res.Plots, overhead)
	res.Tables = append(res.Tables, overview)

	// Scaling.
	if b.scaling {
		if err := b.renderScaling(w, res); err != nil {
			return nil, nil, err
		}
	}

	// Targets.
	if err := b.renderTargets(w, res); err != nil {
		return nil, nil, err
	}

	if err := b.renderReading(w); err != nil {
		return nil, nil, err
	}

	// What each variant installs.
	fmt.Fprintln(w, "## Variants")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| variant | what it installs | Seccomp_filters seen | NoNewPrivs | Speculation_Store_Bypass |")
	fmt.Fprintln(w, "|:---|:---|---:|---:|:---|")
	for _, v := range b.mainVariants() {
		if v.skip != "" {
			fmt.Fprintf(w, "| %s | %s | – | – | – |\n", v.name, v.skip)
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", v.name, v.what, v.status["Seccomp_filters"], v.status["NoNewPrivs"], strings.ReplaceAll(v.status["Speculation_Store_Bypass"], "_", " "))
	}
	fmt.Fprintln(w)
	if len(b.linNotes) > 0 {
		fmt.Fprintf(w, "The linear variant is builtin:default's spec rebuilt from its bundle (which lowers back to the bundle's exact program) and assembled by go-seccomp-bpf, "+
			"after the rewrites that library needs, which change which errno a refusal returns and nothing else: %s. "+
			"The library writes every argument condition as an OR of ANDs, so socket's three checks become %s alternatives, walked one after another.\n\n",
			strings.Join(b.linNotes, "; "), socketAlternatives(b.linNotes))
	}

	// Probes.
	fmt.Fprintln(w, "## Checks")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Before the rounds, every variant ran once with probes: calls restrictive policies refuse, each printed as `ok` or the errno it got. "+
		"For the filters this benchmark wrote or exported (and for agentctl, whose policy program it knows), the kernel's answers must equal what compiler/seccomp's interpreter "+
		"predicts from the programs, or the run stops: this shows the programs in force are the ones measured. The peers' answers are recorded as they came.")
	fmt.Fprintln(w)
	fmt.Fprint(w, "| variant |")
	for _, p := range probeCases {
		fmt.Fprintf(w, " %s |", p.name)
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, "|:---|")
	for range probeCases {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w)
	for _, v := range b.mainVariants() {
		if v.skip != "" {
			continue
		}
		fmt.Fprintf(w, "| %s |", v.name)
		for _, p := range probeCases {
			fmt.Fprintf(w, " %s |", v.probes[p.name])
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "keyctl is `keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0)`; unshare_newuser is `unshare(CLONE_NEWUSER)` in a forked child; "+
		"ioctl_tiocsti is `ioctl(pipe, TIOCSTI, &c)` (ENOTTY when allowed: a pipe is no terminal); socket_packet is `socket(AF_PACKET, SOCK_RAW, 0)`; getpid_arg1 is getpid with 1 as its first argument, "+
		"which the synthetic policies with an argument rule refuse (the scaling variants run only this probe and all answered as predicted).")
	fmt.Fprintln(w)

	fmt.Fprintln(w, "## Commands")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "LOOP is the compiled loop, FILE a program this benchmark wrote; the loop's arguments after them are the same for every variant. "+
		"Each loop then reads its requests (`b K`: time a block of its K-th call) on stdin.")
	fmt.Fprintln(w)
	for _, v := range b.mainVariants() {
		if v.skip != "" {
			continue
		}
		fmt.Fprintf(w, "- %s: `%s`\n", v.name, b.shown(v))
	}
	if b.scaling {
		fmt.Fprintf(w, "- scaling variants: `LOOP -f FILE -e 1 -p getpid_arg1 getpid=%d`, FILE one of the synthetic programs\n", b.itersOf(calls[0]))
	}
	fmt.Fprintln(w)
	return buf.Bytes(), res, nil
}

// socketAlternatives finds how many condition sets socket's checks made,
// from the notes: 4 families × 16 types × 3 protocols.
func socketAlternatives(notes []string) string {
	for _, n := range notes {
		if strings.HasPrefix(n, "socket: argument 1 masked") {
			return "4 × 16 × 3 = 192"
		}
	}
	return "several"
}

// shown is v's command line for the report, with the temporary paths
// replaced.
func (b *bench) shown(v *variant) string {
	argv := b.argv(v)
	s := strings.Join(argv, " ")
	s = strings.ReplaceAll(s, b.loop, "LOOP")
	if len(b.chrt) > 0 {
		s = strings.Replace(s, b.chrt[0], "chrt", 1)
	}
	for _, p := range v.filters {
		if strings.HasSuffix(p, ".bpf") {
			s = strings.ReplaceAll(s, p, "FILE")
		}
	}
	s = strings.ReplaceAll(s, b.tmp+"/bin/", "")
	return s
}

func (b *bench) renderScaling(w *bytes.Buffer, res *report.Result) error {
	fmt.Fprintln(w, "## Policy size")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "getpid under synthetic allowlists of N rules (compiler/seccomp's SyntheticSpec: without argument rules, N syscalls allowed outright; "+
		"with them, N allowed values of a syscall's first argument), plus the %d syscalls the loop itself needs (%s) allowed outright, plus getpid itself: "+
		"allowed outright (the kernel's action cache skips the filter) or only when its first argument is 0 (the filter runs to its argument check; "+
		"the loop passes 0, and the probe with 1 was refused with EPERM in every such variant). "+
		"Each policy is assembled in Paddock's layout and by go-seccomp-bpf's linear assembler. Ratios are to the floor's getpid in the same round.\n\n",
		len(harness), strings.Join(harness, ", "))
	fmt.Fprintln(w, "| N | layout | getpid | instructions | path | median ns | × floor (p10–p90) | × bare (p10–p90) |")
	fmt.Fprintln(w, "|---:|:---|:---|---:|:---|---:|---:|---:|")
	plot := report.Plot{Name: "syscall-scaling", Title: "getpid against policy size, ratio to the one-instruction floor", Kind: report.Lines, LogX: true,
		XLabel: "rules in the policy", YLabel: "× floor (median of per-round ratios, p10–p90)",
		Refs: []report.Ref{{Y: 1, Label: "floor"}, {Y: targetArgs, Label: fmt.Sprintf("target with an argument rule (%.2f×)", targetArgs)}}}
	table := report.Table{Caption: "getpid against policy size: median ratio to the one-instruction floor", Header: []string{"rules"}}
	type line struct {
		layout string
		args   bool
	}
	lines := []line{{"paddock", false}, {"linear", false}, {"paddock", true}, {"linear", true}}
	for _, l := range lines {
		table.Header = append(table.Header, layoutName(l.layout)+", "+kindName(l.args))
	}
	rows := map[int][]string{}
	for _, l := range lines {
		s := report.Series{Name: layoutName(l.layout) + ", " + kindName(l.args)}
		for _, n := range ruleCounts {
			v := b.scale(l.layout, l.args, n)
			if v == nil {
				continue
			}
			if v.skip != "" {
				fmt.Fprintf(w, "| %d | %s | %s | %d | – | %s | – | – |\n", n, layoutName(l.layout), kindName(l.args), b.insns[v.key], v.skip)
				rows[n] = append(rows[n], "refused")
				continue
			}
			f, err := b.stats(v, "getpid")
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "| %d | %s | %s | %d | %s | %.1f | %s | %s |\n", n, layoutName(l.layout), kindName(l.args), b.insns[v.key], path(b.arch, v.progs, calls[0]), f.ns.Median, ratio(f.toFloor), ratio(f.toBare))
			s.Points = append(s.Points, report.Point{N: float64(n), Median: f.toFloor.Median, P10: f.toFloor.P10, P90: f.toFloor.P90})
			rows[n] = append(rows[n], fmt.Sprintf("%.3f×", f.toFloor.Median))
		}
		plot.Series = append(plot.Series, s)
	}
	for _, n := range ruleCounts {
		table.Rows = append(table.Rows, append([]string{fmt.Sprint(n)}, rows[n]...))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Without argument rules N is capped by the number of syscalls there are: at 1000 every syscall is allowed. "+
		"The linear program with 1000 argument rules is over the kernel's 4096-instruction limit and cannot be loaded at all.")
	fmt.Fprintln(w)
	res.Plots = append(res.Plots, plot)
	res.Tables = append(res.Tables, table)
	return nil
}

func (b *bench) renderTargets(w *bytes.Buffer, res *report.Result) error {
	fmt.Fprintln(w, "## Targets")
	fmt.Fprintln(w)
	floor, bare, paddock := b.find("floor"), b.find("bare"), b.find("paddock")
	med := func(v *variant, c string) float64 {
		f, _ := b.stats(v, c)
		return f.ns.Median
	}
	for _, c := range calls[:3] { // the calls the default policy has no argument rule for
		f, err := b.stats(paddock, c.key)
		if err != nil {
			return err
		}
		cl := report.NewClaim(fmt.Sprintf("Paddock default policy, %s (no argument rule): at most %.2f× the one-instruction floor", c.name, targetCached),
			f.toFloor, "×", "the one-instruction floor", "<=", targetCached,
			fmt.Sprintf("%.1f ns against the floor's %.1f ns and bare %.1f ns; %.3f× bare", f.ns.Median, med(floor, c.key), med(bare, c.key), f.toBare.Median))
		res.Claims = append(res.Claims, cl)
		fmt.Fprintf(w, "- %s: **%s** (%s; %s).\n", cl.Claim, cl.Verdict(), ratio(f.toFloor), cl.Detail)
	}
	if b.scaling {
		v, lin := b.scale("paddock", true, targetRules), b.scale("linear", true, targetRules)
		f, err := b.stats(v, "getpid")
		if err != nil {
			return err
		}
		detail := fmt.Sprintf("%.1f ns against the floor's %.1f ns; the path runs %s", f.ns.Median, med(floor, "getpid"), path(b.arch, v.progs, calls[0]))
		var lf figures
		if lin != nil && lin.skip == "" {
			if lf, err = b.stats(lin, "getpid"); err != nil {
				return err
			}
			detail += fmt.Sprintf("; go-seccomp-bpf's linear layout of the same policy: %s the floor, %s", ratio(lf.toFloor), path(b.arch, lin.progs, calls[0]))
		}
		cl := report.NewClaim(fmt.Sprintf("getpid with an argument rule in a %d-rule policy, Paddock's layout: at most %.2f× the floor", targetRules, targetArgs),
			f.toFloor, "×", "the one-instruction floor", "<=", targetArgs, detail)
		res.Claims = append(res.Claims, cl)
		fmt.Fprintf(w, "- %s: **%s** (%s; %s).\n", cl.Claim, cl.Verdict(), ratio(f.toFloor), cl.Detail)
		if lin != nil && lin.skip == "" {
			res.Claims = append(res.Claims, report.Claim{Claim: fmt.Sprintf("getpid with an argument rule in a %d-rule policy, go-seccomp-bpf's linear layout (for comparison)", targetRules),
				Value: lf.toFloor.Median, P10: lf.toFloor.P10, P90: lf.toFloor.P90, Unit: "×", Of: "the one-instruction floor",
				Detail: fmt.Sprintf("%.1f ns; %s", lf.ns.Median, path(b.arch, lin.progs, calls[0]))})
		}
	}
	for _, c := range calls[3:] { // socket and ioctl: argument rules in the default policy
		f, err := b.stats(paddock, c.key)
		if err != nil {
			return err
		}
		cl := report.NewClaim(fmt.Sprintf("Paddock default policy, %s (argument rules, a %d-syscall policy): at most %.2f× the floor", c.name, b.allowed, targetArgs),
			f.toFloor, "×", "the one-instruction floor", "<=", targetArgs,
			fmt.Sprintf("%.1f ns against the floor's %.1f ns and bare %.1f ns; the path runs %s", f.ns.Median, med(floor, c.key), med(bare, c.key), path(b.arch, paddock.progs, c)))
		res.Claims = append(res.Claims, cl)
		fmt.Fprintf(w, "- %s: **%s** (%s; %s).\n", cl.Claim, cl.Verdict(), ratio(f.toFloor), cl.Detail)
	}
	// The same for the stack a launch installs: every program of it runs
	// for a syscall the action cache cannot skip.
	if stack := b.find("stack"); stack != nil && stack.skip == "" {
		for _, c := range calls[3:] {
			f, err := b.stats(stack, c.key)
			if err != nil {
				return err
			}
			detail := fmt.Sprintf("%.1f ns against the floor's %.1f ns; the kernel runs all %d programs for it: %s", f.ns.Median, med(floor, c.key), len(stack.progs), path(b.arch, stack.progs, c))
			cl := report.NewClaim(fmt.Sprintf("Paddock default policy as a launch installs it (%d programs), %s: at most %.2f× the floor", len(stack.progs), c.name, targetArgs),
				f.toFloor, "×", "the one-instruction floor", "<=", targetArgs, detail)
			res.Claims = append(res.Claims, cl)
			fmt.Fprintf(w, "- %s: **%s** (%s; %s).\n", cl.Claim, cl.Verdict(), ratio(f.toFloor), cl.Detail)
		}
	}
	fmt.Fprintln(w)
	// Headline figures without a target: Paddock and the peers on getpid.
	for _, key := range []string{"floor", "paddock", "agentctl", "docker", "firejail", "bwrap"} {
		v := b.find(key)
		if v == nil || v.skip != "" {
			continue
		}
		f, err := b.stats(v, "getpid")
		if err != nil {
			return err
		}
		res.Claims = append(res.Claims, report.Claim{Claim: v.name + ", getpid, against no filter", Value: f.toBare.Median, P10: f.toBare.P10, P90: f.toBare.P90,
			Unit: "×", Of: "bare", Detail: fmt.Sprintf("%.1f ns against %.1f ns", f.ns.Median, med(bare, "getpid"))})
	}
	return nil
}

// renderReading says what the figures show, from the figures.
func (b *bench) renderReading(w *bytes.Buffer) error {
	get := func(key, call string) (figures, bool) {
		v := b.find(key)
		if v == nil || v.skip != "" {
			return figures{}, false
		}
		f, err := b.stats(v, call)
		return f, err == nil
	}
	fmt.Fprintln(w, "## Reading it")
	fmt.Fprintln(w)
	if fl, ok := get("floor", "getpid"); ok {
		pd, _ := get("paddock", "getpid")
		fmt.Fprintf(w, "- Any filter at all costs a syscall the slow entry path and the action cache's lookup: the one-instruction floor makes getpid %.2f× bare (%.0f ns more). "+
			"For a syscall the cache proves allowed, no program runs, so Paddock's default policy costs exactly that (%.3f× the floor), and so do the peers' filters.\n",
			fl.toBare.Median, fl.ns.Median-b.nsOf("bare", "getpid"), pd.toFloor.Median)
	}
	pd, ok1 := get("paddock", "ioctl")
	st, ok2 := get("stack", "ioctl")
	if stack := b.find("stack"); ok1 && ok2 && len(stack.progs) > 1 {
		extra := (st.ns.Median - pd.ns.Median) / float64(len(stack.progs)-1)
		fmt.Fprintf(w, "- A syscall with an argument rule runs the program: ioctl under the default policy's one program is %.3f× the floor (%s). "+
			"For such a syscall the kernel runs every program of the task's stack, and each costs a fixed call beside its instructions: "+
			"the %d programs a launch installs make it %.3f× (about %.0f ns per extra program here), which is why the launch chains the socket allowlist onto the policy's program (seccomp.Chain) instead of installing a third.\n",
			pd.toFloor.Median, path(b.arch, b.find("paddock").progs, calls[4]), len(stack.progs), st.toFloor.Median, extra)
	}
	if b.scaling {
		p10, ok1 := get("scale-paddock-args-10", "getpid")
		p300, ok2 := get(fmt.Sprintf("scale-paddock-args-%d", targetRules), "getpid")
		l300, ok3 := get(fmt.Sprintf("scale-linear-args-%d", targetRules), "getpid")
		if ok1 && ok2 && ok3 {
			fmt.Fprintf(w, "- Policy size: in Paddock's layout an argument-checked getpid costs %.3f× the floor at 10 rules and %.3f× at %d (%s); "+
				"go-seccomp-bpf's linear layout of the %d-rule policy walks %s for it, %.3f×, and the longer the list before a syscall, the more. "+
				"For syscalls the cache skips, neither layout nor size matters.\n",
				p10.toFloor.Median, p300.toFloor.Median, targetRules, path(b.arch, b.find(fmt.Sprintf("scale-paddock-args-%d", targetRules)).progs, calls[0]),
				targetRules, path(b.arch, b.find(fmt.Sprintf("scale-linear-args-%d", targetRules)).progs, calls[0]), l300.toFloor.Median)
		}
	}
	if bw, ok := get("bwrap", "getpid"); ok {
		fmt.Fprintf(w, "- Namespaces cost nothing per syscall: bubblewrap, which installs no filter, is %.3f× bare on getpid.\n", bw.toBare.Median)
	}
	fmt.Fprintln(w)
	return nil
}

func (b *bench) nsOf(key, call string) float64 {
	f, err := b.stats(b.find(key), call)
	if err != nil {
		return 0
	}
	return f.ns.Median
}
