package launch

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/agentd/shim"
	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/compiler/policy"
	"github.com/paddock-sh/paddock/compiler/seccomp"
	"github.com/paddock-sh/paddock/compiler/syscalls"
)

func prepare(t *testing.T, b *bundle.Bundle) (*Launch, error) {
	t.Helper()
	l, err := Prepare(Options{Bundle: b, Argv: []string{"/bin/true"}, Workspace: t.TempDir(), Shim: "/bin/true",
		Environ: []string{"HOME=" + t.TempDir(), "PATH=/usr/bin:/bin", "LEAK=secret-value", "ANTHROPIC_API_KEY=sk-real"}})
	if l != nil {
		t.Cleanup(func() { l.Close() })
	}
	return l, err
}

func builtin(t *testing.T, name string) *bundle.Bundle {
	t.Helper()
	b, _, _, err := policy.Open("builtin:"+name, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPrepareFailsClosedOnMissingLayer(t *testing.T) {
	b := builtin(t, "default")
	b.Process.Limits.MilliCPUs = 500 // needs a cgroup, which only agentd has
	_, err := prepare(t, b)
	var le *Error
	if !errors.As(err, &le) || le.Layer != "limits" || !strings.Contains(err.Error(), "best_effort") {
		t.Fatalf("a layer that cannot be applied must stop the launch and name itself: %v", err)
	}
	b.Metadata.BestEffort = []string{"limits"}
	l, err := prepare(t, b)
	if err != nil {
		t.Fatalf("with limits under best_effort the launch goes on: %v", err)
	}
	var found bool
	for _, layer := range l.Layers {
		found = found || (layer.Name == "limits" && layer.State == Degraded)
	}
	if !found {
		t.Errorf("the degraded layer must be reported: %+v", l.Layers)
	}
}

func TestPrepareEnvironment(t *testing.T) {
	l, err := prepare(t, builtin(t, "claude-code"))
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Join(l.spec.Env, "\n")
	for _, bad := range []string{"LEAK=", "sk-real"} {
		if strings.Contains(env, bad) {
			t.Errorf("%q reached the workload's environment:\n%s", bad, env)
		}
	}
	for _, want := range []string{"ANTHROPIC_API_KEY=paddock:cred:anthropic", "PATH=/usr/bin:/bin", "TMPDIR=" + l.Vars.Tmp} {
		if !strings.Contains(env, want) {
			t.Errorf("missing %q:\n%s", want, env)
		}
	}
	tmp := l.Vars.Tmp
	if _, err := os.Stat(tmp); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("the private temporary directory must be removed: %v", err)
	}
}

func TestPrepareNetworkWithoutDaemon(t *testing.T) {
	l, err := prepare(t, builtin(t, "default"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// One logged program: the policy's with the socket allowlist chained
	// onto it. It decides as both would.
	if len(l.spec.Seccomp) != 1 {
		t.Fatalf("want the policy's program with the socket allowlist chained on, got %d programs", len(l.spec.Seccomp))
	}
	arch, err := seccomp.NativeArch()
	if err != nil {
		t.Fatal(err)
	}
	prog := l.policyProg
	if !slices.Equal(shim.Program(seccomp.Marshal(prog)), l.spec.Seccomp[0]) {
		t.Fatal("the planned program is not the chained one")
	}
	for _, tc := range []struct {
		name string
		args [6]uint64
		want seccomp.Action
	}{
		{"socket", [6]uint64{unix.AF_INET, unix.SOCK_STREAM, 0}, seccomp.Allow},
		{"socket", [6]uint64{unix.AF_PACKET, unix.SOCK_RAW, 0}, seccomp.Errno(unix.EAFNOSUPPORT)},
		{"socket", [6]uint64{unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_SCTP}, seccomp.Errno(unix.EPROTONOSUPPORT)},
		{"getpid", [6]uint64{}, seccomp.Allow},
	} {
		nr, _ := syscalls.Number(arch.Name, tc.name)
		got, _, err := seccomp.Run(prog, seccomp.Data{Nr: uint32(nr), Arch: arch.AuditArch, Args: tc.args})
		if err != nil || got != tc.want {
			t.Errorf("%s%v: %#x %v, want %#x", tc.name, tc.args[:3], got, err, tc.want)
		}
	}
	if !l.NetNS || l.spec.Net == nil || len(l.spec.Net.Listen) < 2 || l.spec.Net.Listen[0].Addr != "127.0.0.1:3128" {
		t.Fatalf("the sandbox needs its own network namespace with the proxy inside: %+v", l.spec.Net)
	}
	if ll := l.spec.Landlock; ll == nil || !slices.Contains(ll.ConnectPorts, ProxyPort) {
		t.Fatalf("Landlock must let the workload connect to the proxy port only: %+v", ll)
	}
	if !slices.Contains(l.spec.Env, "HTTPS_PROXY=http://127.0.0.1:3128") {
		t.Errorf("the proxy variables are not set: %v", l.spec.Env)
	}
	found := false
	for _, layer := range l.Layers {
		if layer.Name == "network" {
			found = layer.State == Enforced
		}
	}
	if !found {
		t.Errorf("network layer not enforced: %+v", l.Layers)
	}
}
