package syscalls

import (
	"strings"
	"testing"
)

func TestArgIndexSpotChecks(t *testing.T) {
	for _, c := range []struct {
		syscall, arg string
		index, bits  int
	}{
		{"socket", "domain", 0, 32},
		{"socket", "type", 1, 32},
		{"socket", "protocol", 2, 32},
		{"ioctl", "cmd", 1, 32},
		{"ioctl", "arg", 2, 64},
		{"clone", "flags", 0, 32},
		{"unshare", "flags", 0, 64},
		{"setns", "nstype", 1, 32},
		{"prctl", "option", 0, 32},
		{"prctl", "arg1", 1, 64},
		{"keyctl", "operation", 0, 32},
		{"personality", "persona", 0, 32},
		{"seccomp", "operation", 0, 32},
		{"seccomp", "flags", 1, 32},
		{"seccomp", "args", 2, 64},
		{"prlimit64", "pid", 0, 32},
		{"prlimit64", "resource", 1, 32},
		{"prlimit64", "new_limit", 2, 64},
		{"setpriority", "who", 1, 32},
		{"sched_setaffinity", "pid", 0, 32},
		{"mmap", "prot", 2, 32},
		{"mmap", "flags", 3, 32},
		{"mmap", "fd", 4, 32},
		{"mmap", "offset", 5, 64},
		{"mprotect", "prot", 2, 32},
		{"ptrace", "request", 0, 64},
		{"ptrace", "pid", 1, 32},
		{"setsockopt", "optname", 2, 32},
		{"setsockopt", "optlen", 4, 32},
		{"getsockopt", "optlen", 4, 64},
		{"sendto", "flags", 3, 32},
		{"openat", "flags", 2, 32},
		{"open", "flags", 1, 32},
		{"mknodat", "mode", 2, 32},
		{"kill", "sig", 1, 32},
		{"tgkill", "sig", 2, 32},
		{"pidfd_send_signal", "sig", 1, 32},
		{"perf_event_open", "flags", 4, 64},
		{"memfd_create", "flags", 1, 32},
		{"process_vm_readv", "flags", 5, 64},
		{"madvise", "advice", 2, 32},
		// positional forms
		{"socket", "0", 0, 32},
		{"socket", "arg2", 2, 32},
		{"clone", "arg3", 3, 64}, // child_tid or tls, by architecture
		{"clone", "4", 4, 64},
		{"read", "arg0", 0, 64}, // no signature: 64 bits
		{"open", "arg5", 5, 64},
	} {
		index, bits, err := ArgIndex(c.syscall, c.arg)
		if err != nil || index != c.index || bits != c.bits {
			t.Errorf("ArgIndex(%s, %s) = %d, %d, %v; want %d, %d", c.syscall, c.arg, index, bits, err, c.index, c.bits)
		}
	}
}

func TestArgIndexErrors(t *testing.T) {
	for _, c := range []struct {
		syscall, arg string
		want         []string
	}{
		{"socket", "domian", []string{`syscall "socket" has no argument "domian"`, `did you mean "domain"?`, "domain, type, protocol", "arg0..arg5"}},
		{"socket", "arg6", []string{`no argument "arg6"`, "domain, type, protocol"}},
		{"ioctl", "request", []string{"fd, cmd, arg"}},
		{"read", "fd", []string{`syscall "read" has no named arguments`, "arg0..arg5"}},
		{"sockt", "domain", []string{`unknown syscall "sockt"`, `did you mean "socket"?`}},
	} {
		_, _, err := ArgIndex(c.syscall, c.arg)
		if err == nil {
			t.Errorf("ArgIndex(%s, %s) succeeded", c.syscall, c.arg)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ArgIndex(%s, %s) error %q lacks %q", c.syscall, c.arg, err, w)
			}
		}
	}
}

func TestSignaturesAreWellFormed(t *testing.T) {
	for name, sig := range signatures {
		if !Known(name) {
			t.Errorf("signature for unknown syscall %q", name)
		}
		if len(sig) == 0 || len(sig) > 6 {
			t.Errorf("%s: %d arguments", name, len(sig))
		}
		seen := map[string]bool{}
		for i, a := range sig {
			if a.Bits != 32 && a.Bits != 64 {
				t.Errorf("%s arg %d: width %d", name, i, a.Bits)
			}
			if a.Name == "" || seen[a.Name] {
				t.Errorf("%s arg %d: empty or repeated name %q", name, i, a.Name)
			}
			seen[a.Name] = true
			// A name that parses as a position would mean two things.
			if _, ok := positional(a.Name); ok {
				t.Errorf("%s arg %d: name %q collides with the positional form", name, i, a.Name)
			}
		}
	}
	for _, s := range []string{
		"socket", "socketpair", "ioctl", "clone", "unshare", "setns", "prctl", "personality",
		"seccomp", "prlimit64", "setpriority", "getpriority", "sched_setaffinity",
		"sched_setscheduler", "sched_setparam", "sched_setattr", "ioprio_set", "kill", "tkill",
		"tgkill", "mmap", "mprotect", "fcntl", "setsockopt", "getsockopt", "bind", "connect",
		"sendto", "utimensat", "fchmodat", "fchownat", "openat", "open", "mknod", "mknodat",
		"keyctl", "bpf", "perf_event_open", "ptrace", "memfd_create", "pidfd_send_signal",
		"process_vm_readv", "execveat", "madvise", "sendmsg", "recvmsg",
	} {
		if _, ok := Signature(s); !ok {
			t.Errorf("no signature for %s", s)
		}
	}
	if _, ok := Signature("read"); ok {
		t.Error("read has a signature; update TestArgIndexErrors")
	}
	sig, _ := Signature("socket")
	sig[0].Name = "mangled"
	if again, _ := Signature("socket"); again[0].Name != "domain" {
		t.Error("Signature exposes the table's own slice")
	}
}
