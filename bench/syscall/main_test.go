package main

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/bench/internal/filters"
	"github.com/paddock-sh/paddock/bench/internal/peers"
	"github.com/paddock-sh/paddock/bench/internal/rig"
	"github.com/paddock-sh/paddock/compiler/policy"
	"github.com/paddock-sh/paddock/compiler/seccomp"
)

func TestParseOutput(t *testing.T) {
	r, err := parseOutput("status NoNewPrivs=1 Seccomp=2 Seccomp_filters=3 Speculation_Store_Bypass=thread_vulnerable Sched=FIFO\nprobe keyctl EPERM\nprobe getpid_arg1 ok\n")
	if err != nil {
		t.Fatal(err)
	}
	if r.status["Seccomp_filters"] != "3" || r.status["Sched"] != "FIFO" || r.probes["keyctl"] != "EPERM" || r.probes["getpid_arg1"] != "ok" {
		t.Fatalf("%+v", r)
	}
	for _, bad := range []string{"", "probe keyctl\nstatus Seccomp_filters=1", "status Seccomp_filters=1\nsurprise", "status Seccomp_filters=1\nns getpid -3"} {
		if _, err := parseOutput(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// Each ratio pairs a block with the baselines measured next to it, so
// drift common to the three cancels.
func TestFiguresOf(t *testing.T) {
	var ss []sample
	for _, drift := range []float64{1, 1.3, 0.8, 1.1, 1.5} {
		ss = append(ss, sample{ns: 250 * drift, bare: 200 * drift, floor: 240 * drift})
	}
	f := figuresOf(ss)
	if math.Abs(f.toBare.Median-1.25) > 1e-9 || math.Abs(f.toBare.P10-1.25) > 1e-9 || math.Abs(f.toBare.P90-1.25) > 1e-9 {
		t.Errorf("× bare %+v, want 1.25 throughout", f.toBare)
	}
	if math.Abs(f.toFloor.Median-250.0/240) > 1e-9 {
		t.Errorf("× floor %+v", f.toFloor)
	}
	if f.ns.Median != 250*1.1 || f.ns.N != 5 {
		t.Errorf("ns %+v", f.ns)
	}
}

func ret(a seccomp.Action) []bpf.RawInstruction {
	return []bpf.RawInstruction{{Op: unix.BPF_RET | unix.BPF_K, K: uint32(a)}}
}

func TestStackAction(t *testing.T) {
	d := seccomp.Data{Nr: 39, Arch: seccomp.X86_64.AuditArch}
	for _, c := range []struct {
		progs [][]bpf.RawInstruction
		want  seccomp.Action
	}{
		{[][]bpf.RawInstruction{ret(seccomp.Allow)}, seccomp.Allow},
		{[][]bpf.RawInstruction{ret(seccomp.Allow), ret(seccomp.Errno(unix.EPERM))}, seccomp.Errno(unix.EPERM)},
		{[][]bpf.RawInstruction{ret(seccomp.Errno(unix.EPERM)), ret(seccomp.Allow)}, seccomp.Errno(unix.EPERM)},
		// Kill-process is 0x80000000: negative, so first.
		{[][]bpf.RawInstruction{ret(seccomp.KillProcess), ret(seccomp.Errno(unix.EPERM))}, seccomp.KillProcess},
		// Among equal actions the newest program's data.
		{[][]bpf.RawInstruction{ret(seccomp.Errno(unix.EPERM)), ret(seccomp.Errno(unix.EAFNOSUPPORT))}, seccomp.Errno(unix.EAFNOSUPPORT)},
		{[][]bpf.RawInstruction{ret(seccomp.Log), ret(seccomp.Allow)}, seccomp.Log},
	} {
		got, err := stackAction(c.progs, d)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%v: got %v, want %v", c.progs, got, c.want)
		}
	}
}

func defaultProgram(t *testing.T) []bpf.RawInstruction {
	t.Helper()
	b, _, _, err := policy.Open("builtin:default", nil)
	if err != nil {
		t.Fatal(err)
	}
	arch, err := seccomp.NativeArch()
	if err != nil {
		t.Skip(err)
	}
	p, ok := b.Syscalls.ProgramFor(arch.Name)
	if !ok {
		t.Fatal("no program")
	}
	prog, err := p.Instructions()
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

func TestPredictAndPath(t *testing.T) {
	arch, err := seccomp.NativeArch()
	if err != nil {
		t.Skip(err)
	}
	def := [][]bpf.RawInstruction{defaultProgram(t)}
	want := map[string]string{"keyctl": "EPERM", "unshare_newuser": "EPERM", "ioctl_tiocsti": "EPERM", "socket_packet": "EAFNOSUPPORT", "getpid_arg1": "BARE"}
	for _, p := range probeCases {
		if got := predict(arch, def, p, "BARE"); got != want[p.name] {
			t.Errorf("default policy, %s: predicted %s, want %s", p.name, got, want[p.name])
		}
		if got := predict(arch, [][]bpf.RawInstruction{filters.Floor()}, p, "BARE"); got != "BARE" {
			t.Errorf("floor, %s: predicted %s", p.name, got)
		}
	}
	// Under the default policy getpid, openat+close and read are cached;
	// socket and ioctl run the program to their argument checks.
	for _, c := range calls {
		got := path(arch, def, c)
		cached := !strings.Contains(got, "insns")
		if want := c.key == "getpid" || c.key == "openat" || c.key == "read"; cached != want {
			t.Errorf("%s: path %q", c.key, got)
		}
	}
	if got := path(arch, nil, calls[0]); got != "" {
		t.Errorf("unknown programs have a path: %q", got)
	}
}

// needLoop compiles the loop, or skips where no C compiler is (unless
// CI=true, where the test must run).
func needLoop(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	prog, _, err := rig.CompileC(dir, "loop", loopC)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return prog, dir
}

func startVariant(t *testing.T, loop string, v *variant) (*bench, error) {
	t.Helper()
	arch, err := seccomp.NativeArch()
	if err != nil {
		t.Skip(err)
	}
	b := &bench{ctx: context.Background(), loop: loop, arch: arch, iters: 0.01, sched: "OTHER"}
	p, err := b.start(v)
	if err != nil {
		return b, err
	}
	v.proc = p
	t.Cleanup(func() { p.kill() })
	return b, nil
}

func writeProg(t *testing.T, dir, name string, prog []bpf.RawInstruction) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, seccomp.Marshal(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The loop installs the floor and Paddock's default program itself (no
// privilege needed: it sets no_new_privs), the kernel counts each as one
// filter, the default program refuses what it should, and a block is
// timed on request.
func TestLoopInstallsFilters(t *testing.T) {
	loop, dir := needLoop(t)
	bare := &variant{name: "bare", calls: calls[:1], expect: []string{"-e", "0"}}
	if _, err := startVariant(t, loop, bare); err != nil {
		t.Fatal(err)
	}
	floor := &variant{name: "floor", calls: calls[:1], filters: []string{"-f", writeProg(t, dir, "floor.bpf", filters.Floor())}, expect: []string{"-e", "1"}}
	b, err := startVariant(t, loop, floor)
	if err != nil {
		t.Fatal(err)
	}
	if floor.status["Seccomp_filters"] != "1" || floor.status["NoNewPrivs"] != "1" {
		t.Fatalf("floor: %v", floor.status)
	}
	for _, p := range probeCases {
		if floor.probes[p.name] != bare.probes[p.name] {
			t.Errorf("floor changed %s: %s, bare %s", p.name, floor.probes[p.name], bare.probes[p.name])
		}
	}
	ns, err := floor.proc.block(b.ctx, 0, false)
	if err != nil || ns <= 0 {
		t.Fatalf("a block: %v %v", ns, err)
	}
	if err := floor.proc.stop(); err != nil {
		t.Fatal(err)
	}

	def := defaultProgram(t)
	pd := &variant{name: "paddock", calls: calls, filters: []string{"-F", writeProg(t, dir, "paddock.bpf", def)}, expect: []string{"-e", "1"}}
	if _, err := startVariant(t, loop, pd); err != nil {
		t.Fatal(err)
	}
	for _, p := range probeCases {
		if want := predict(b.arch, [][]bpf.RawInstruction{def}, p, bare.probes[p.name]); pd.probes[p.name] != want {
			t.Errorf("default policy, %s: the kernel said %s, the program %s", p.name, pd.probes[p.name], want)
		}
	}
	for i := range calls {
		if _, err := pd.proc.block(b.ctx, i, true); err != nil {
			t.Errorf("%s under the default policy: %v", calls[i].key, err)
		}
	}
}

// A variant whose filters do not add up to what it expects is refused
// before anything is measured.
func TestLoopRefusesAWrongFilterCount(t *testing.T) {
	loop, dir := needLoop(t)
	v := &variant{name: "short", calls: calls[:1], filters: []string{"-f", writeProg(t, dir, "floor.bpf", filters.Floor())}, expect: []string{"-e", "2"}}
	_, err := startVariant(t, loop, v)
	if err == nil || !strings.Contains(err.Error(), "Seccomp_filters is 1, the variant expects 2") {
		t.Fatalf("got %v", err)
	}
}

// The Docker-default-like filter loads as one filter and refuses what
// Docker's profile refuses: keyctl and new user namespaces.
func TestDockerLikeFilter(t *testing.T) {
	loop, dir := needLoop(t)
	prog, _, err := peers.BuildDockerLike(dir)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	file := filepath.Join(dir, "docker.bpf")
	if out, err := exec.Command(prog, "-o", file).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	insns, err := seccomp.Unmarshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	v := &variant{name: "docker", calls: calls, filters: []string{"-f", file}, expect: []string{"-e", "1"}}
	b, err := startVariant(t, loop, v)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"keyctl", "unshare_newuser"} {
		if v.probes[name] != "EPERM" {
			t.Errorf("%s under the Docker-like filter: %s, want EPERM", name, v.probes[name])
		}
	}
	// Its allowlist holds the timed calls, outright: the action cache
	// skips it for all of them.
	for i, c := range calls {
		if got := path(b.arch, [][]bpf.RawInstruction{insns}, c); c.key != "socket" && strings.Contains(got, "insns") {
			t.Errorf("%s is not cached under the Docker-like filter: %s", c.key, got)
		}
		if _, err := v.proc.block(b.ctx, i, true); err != nil {
			t.Errorf("%s under the Docker-like filter: %v", c.key, err)
		}
	}
	// Its own loader installs the same filter and runs a command.
	out, err := exec.Command(prog, "--", "/bin/sh", "-c", "grep Seccomp_filters /proc/self/status").Output()
	if err != nil || !strings.Contains(string(out), "Seccomp_filters:\t1") {
		t.Fatalf("docker_like -- CMD: %v %q", err, out)
	}
}
