package syscalls

import (
	"github.com/paddock-sh/paddock/compiler/suggest"

	"slices"
	"strings"
	"testing"
)

// unclassified are the table names deliberately left out of every group but
// @known (see the comment on catalogue). Any other name a table gains must be
// placed in a group, so a go-seccomp-bpf upgrade cannot add calls silently.
var unclassified = []string{
	"arch_specific_syscall",
	"clock_adjtime64",
	"clock_getres_time64",
	"clock_gettime64",
	"clock_nanosleep_time64",
	"clock_settime64",
	"clone3",
	"futex_time64",
	"io_pgetevents_time64",
	"mq_timedreceive_time64",
	"mq_timedsend_time64",
	"ppoll_time64",
	"pselect6_time64",
	"recvmmsg_time64",
	"rt_sigtimedwait_time64",
	"sched_rr_get_interval_time64",
	"semtimedop_time64",
	"timer_gettime64",
	"timer_settime64",
	"timerfd_gettime64",
	"timerfd_settime64",
	"utimensat_time64",
}

func mustExpand(t *testing.T, name string) []string {
	t.Helper()
	got, err := Expand(name)
	if err != nil {
		t.Fatalf("Expand(%q): %v", name, err)
	}
	return got
}

func TestGroupsAreWellFormed(t *testing.T) {
	groups := Groups()
	if len(groups) == 0 {
		t.Fatal("no groups")
	}
	byName := func(a, b Group) int { return strings.Compare(a.Name, b.Name) }
	if !slices.IsSortedFunc(groups, byName) {
		t.Error("Groups() is not sorted by name")
	}
	if !slices.IsSortedFunc(catalogue, byName) {
		t.Error("catalogue.go lists the groups out of alphabetical order")
	}
	seen := map[string]bool{}
	for _, g := range groups {
		if seen[g.Name] {
			t.Errorf("group %s defined twice", g.Name)
		}
		seen[g.Name] = true
		if !strings.HasPrefix(g.Name, "@") {
			t.Errorf("group %q does not start with '@'", g.Name)
		}
		if g.Description == "" || strings.Contains(g.Description, "\n") {
			t.Errorf("group %s needs a one-line description", g.Name)
		}
		if len(g.Syscalls) == 0 && len(g.Includes) == 0 {
			t.Errorf("group %s is empty", g.Name)
		}
		if !slices.IsSorted(g.Syscalls) || len(slices.Compact(slices.Clone(g.Syscalls))) != len(g.Syscalls) {
			t.Errorf("group %s: Syscalls are not sorted and unique", g.Name)
		}
		if !slices.IsSorted(g.Includes) || len(slices.Compact(slices.Clone(g.Includes))) != len(g.Includes) {
			t.Errorf("group %s: Includes are not sorted and unique", g.Name)
		}
		for _, inc := range g.Includes {
			if _, ok := Lookup(inc); !ok {
				t.Errorf("group %s includes unknown group %q", g.Name, inc)
			}
		}
	}
}

// Every member must be a real syscall of x86_64 or aarch64: this is what
// catches a misspelled member.
func TestGroupMembersResolve(t *testing.T) {
	for _, g := range Groups() {
		for _, s := range g.Syscalls {
			_, x86 := Number("x86_64", s)
			_, arm := Number("aarch64", s)
			if !x86 && !arm {
				t.Errorf("group %s: %q is not a syscall on x86_64 or aarch64%s", g.Name, s, suggest.DidYouMean(s, knownNames()))
			}
			if g.Name != "@known" && slices.Contains(unclassified, s) {
				t.Errorf("group %s: %q is meant to stay out of every group", g.Name, s)
			}
		}
	}
}

func TestIncludesHaveNoCycle(t *testing.T) {
	const (
		unvisited = iota
		inProgress
		done
	)
	state := map[string]int{}
	var visit func(name string, path []string)
	visit = func(name string, path []string) {
		switch state[name] {
		case inProgress:
			t.Errorf("include cycle: %s -> %s", strings.Join(path, " -> "), name)
			return
		case done:
			return
		}
		state[name] = inProgress
		g, _ := Lookup(name)
		for _, inc := range g.Includes {
			visit(inc, append(path, name))
		}
		state[name] = done
	}
	for _, g := range Groups() {
		visit(g.Name, nil)
	}
}

func TestExpandIsSortedUniqueAndComplete(t *testing.T) {
	for _, g := range Groups() {
		got := mustExpand(t, g.Name)
		if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Errorf("Expand(%s) is not sorted and unique", g.Name)
		}
		for _, s := range g.Syscalls {
			if _, found := slices.BinarySearch(got, s); !found {
				t.Errorf("Expand(%s) lacks its own member %s", g.Name, s)
			}
		}
		for _, inc := range g.Includes {
			for _, s := range mustExpand(t, inc) {
				if _, found := slices.BinarySearch(got, s); !found {
					t.Errorf("Expand(%s) lacks %s from %s", g.Name, s, inc)
				}
			}
		}
	}
}

func TestExpandSyscallsAndUnknownNames(t *testing.T) {
	if got := mustExpand(t, "ptrace"); !slices.Equal(got, []string{"ptrace"}) {
		t.Errorf("Expand(ptrace) = %v", got)
	}
	if got := mustExpand(t, "open"); !slices.Equal(got, []string{"open"}) {
		t.Errorf("Expand(open) = %v (x86_64-only names are known)", got)
	}
	for input, want := range map[string]string{
		"ptace":           `unknown syscall "ptace" (did you mean "ptrace"?)`,
		"@sytem-service":  `unknown syscall group "@sytem-service" (did you mean "@system-service"?)`,
		"system-service":  `(did you mean "@system-service"?)`,
		"@mounts":         `(did you mean "@mount"?)`,
		"io_uring_setpu":  `(did you mean "io_uring_setup"?)`,
		"@no-such-group!": `unknown syscall group "@no-such-group!"`,
	} {
		_, err := Expand(input)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Expand(%q) error = %v, want it to contain %q", input, err, want)
		}
	}
	if _, err := Expand("@no-such-group!"); strings.Contains(err.Error(), "did you mean") {
		t.Errorf("far-off name got a suggestion: %v", err)
	}
}

// @system-service is the default allowlist; these groups and calls must never
// slip into it. Widening it is a catalogue change that must edit this test.
func TestSystemServiceExclusions(t *testing.T) {
	service := mustExpand(t, "@system-service")
	in := func(s string) bool { _, ok := slices.BinarySearch(service, s); return ok }
	for _, group := range []string{
		"@bpf", "@cpu-emulation", "@debug", "@file-metadata", "@io-uring", "@keyring",
		"@module", "@mount", "@namespaces", "@obsolete", "@privileged", "@raw-io",
		"@reboot", "@swap",
	} {
		for _, s := range mustExpand(t, group) {
			if in(s) {
				t.Errorf("@system-service includes %s from %s", s, group)
			}
		}
	}
	for _, s := range []string{
		"clone3", "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
		"perf_event_open", "bpf", "userfaultfd", "keyctl", "add_key", "request_key",
		"io_uring_setup", "io_uring_enter", "io_uring_register", "unshare", "setns", "mount",
		"umount2", "pivot_root", "chroot", "fsopen", "open_tree", "move_mount", "init_module",
		"finit_module", "kexec_load", "reboot", "swapon", "iopl", "ioperm", "modify_ldt",
		"open_by_handle_at", "name_to_handle_at", "fanotify_init", "settimeofday",
		"clock_settime", "adjtimex", "sethostname", "syslog", "acct", "quotactl", "vhangup",
		"chmod", "fchmodat", "fchmodat2", "chown", "lchown", "fchownat", "setxattr",
		"lsetxattr", "removexattr", "utimensat", "utimes", "migrate_pages", "move_pages",
		"lsm_set_self_attr", "get_robust_list", "remap_file_pages",
	} {
		if in(s) {
			t.Errorf("@system-service includes %s", s)
		}
	}
}

// What shells, git, make, go, node, python and their test runners call in
// ordinary work. Removing any of these from @system-service breaks them.
func TestSystemServiceCoversCommonTools(t *testing.T) {
	service := mustExpand(t, "@system-service")
	for _, s := range []string{
		// start-up and memory
		"execve", "execveat", "brk", "mmap", "munmap", "mprotect", "mremap", "madvise",
		"arch_prctl", "set_tid_address", "set_robust_list", "rseq", "prlimit64", "getrandom",
		"exit", "exit_group",
		// files
		"openat", "open", "read", "write", "pread64", "pwrite64", "readv", "writev", "close",
		"lseek", "fstat", "newfstatat", "fstatat", "stat", "lstat", "statx", "access",
		"faccessat", "faccessat2", "readlink", "readlinkat", "getdents64", "getcwd", "chdir",
		"fchdir", "umask", "mkdir", "mkdirat", "unlink", "unlinkat", "rename", "renameat2",
		"symlink", "symlinkat", "link", "linkat", "ftruncate", "fcntl", "flock", "fsync",
		"fdatasync", "statfs", "fstatfs", "getxattr", "lgetxattr", "copy_file_range",
		"sendfile", "fchmod", "fchown", "inotify_init1", "inotify_add_watch", "memfd_create",
		"dup", "dup2", "dup3", "close_range", "ioctl",
		// processes and threads
		"clone", "fork", "vfork", "wait4", "waitid", "kill", "tgkill", "getpid", "getppid",
		"gettid", "getuid", "geteuid", "getgid", "getegid", "getgroups", "setpgid", "getpgrp",
		"setsid", "prctl", "futex", "sched_yield", "sched_getaffinity", "pidfd_open",
		"capget", "setresuid", "setgroups",
		// signals, time, events
		"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "rt_sigsuspend",
		"clock_gettime", "clock_nanosleep", "nanosleep", "gettimeofday", "epoll_create1",
		"epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd2", "poll", "ppoll",
		"pselect6", "select", "timerfd_create", "timerfd_settime",
		// pipes and sockets
		"pipe", "pipe2", "socket", "socketpair", "connect", "bind", "listen", "accept4",
		"getsockname", "getpeername", "getsockopt", "setsockopt", "sendto", "recvfrom",
		"sendmsg", "recvmsg", "sendmmsg", "shutdown",
		// system information
		"uname", "sysinfo", "getrusage", "getrlimit", "times", "getcpu", "membarrier",
	} {
		if _, ok := slices.BinarySearch(service, s); !ok {
			t.Errorf("@system-service lacks %s", s)
		}
	}
}

func TestPrivilegedIsAUnion(t *testing.T) {
	priv := mustExpand(t, "@privileged")
	for _, s := range []string{
		"init_module", "mount", "pivot_root", "reboot", "kexec_load", "swapon", "iopl", "bpf",
		"settimeofday", "clock_settime", "open_by_handle_at", "userfaultfd", "perf_event_open",
	} {
		if _, ok := slices.BinarySearch(priv, s); !ok {
			t.Errorf("@privileged lacks %s", s)
		}
	}
	for _, s := range []string{"setuid", "setresuid", "ptrace", "unshare"} {
		if _, ok := slices.BinarySearch(priv, s); ok {
			t.Errorf("@privileged includes %s, which has its own group", s)
		}
	}
}

// Every syscall either table knows sits in a group (or is one of the few
// left out on purpose), so a table upgrade forces a placement decision.
func TestEveryKnownSyscallIsPlaced(t *testing.T) {
	placed := map[string]bool{}
	for _, g := range Groups() {
		if g.Name == "@known" {
			continue
		}
		for _, s := range g.Syscalls {
			placed[s] = true
		}
	}
	for _, s := range mustExpand(t, "@known") {
		if !placed[s] && !slices.Contains(unclassified, s) {
			t.Errorf("syscall %s is in no group; place it in catalogue.go", s)
		}
	}
	for _, s := range unclassified {
		if !Known(s) {
			t.Errorf("unclassified name %s is not in the tables any more; drop it from the list", s)
		}
	}
}

func TestKnownGroupIsEveryTableName(t *testing.T) {
	known := mustExpand(t, "@known")
	set := map[string]bool{}
	for _, a := range Arches() {
		for name := range tables[a].SyscallNames {
			set[name] = true
		}
	}
	if len(known) != len(set) {
		t.Errorf("@known has %d names, the tables %d", len(known), len(set))
	}
	for _, s := range known {
		if !Known(s) {
			t.Errorf("@known member %s is not Known", s)
		}
	}
}

func TestNumbersAndArches(t *testing.T) {
	if got := Arches(); !slices.Equal(got, []string{"aarch64", "x86_64"}) {
		t.Errorf("Arches() = %v", got)
	}
	for _, c := range []struct {
		arch, name string
		nr         int
		ok         bool
	}{
		{"x86_64", "read", 0, true},
		{"aarch64", "read", 63, true},
		{"x86_64", "openat", 257, true},
		{"aarch64", "openat", 56, true},
		{"x86_64", "open", 2, true},
		{"aarch64", "open", 0, false},
		{"x86_64", "newfstatat", 262, true},
		{"aarch64", "fstatat", 79, true},
		{"x86_64", "clone3", 435, true},
		{"aarch64", "clone3", 435, true},
		{"x86_64", "socket", 41, true},
		{"aarch64", "socket", 198, true},
		{"mips", "read", 0, false},
		{"x86_64", "no_such_call", 0, false},
	} {
		nr, ok := Number(c.arch, c.name)
		if ok != c.ok || (ok && nr != c.nr) {
			t.Errorf("Number(%s, %s) = %d, %v; want %d, %v", c.arch, c.name, nr, ok, c.nr, c.ok)
		}
	}
	if got := MaxNumber("x86_64"); got != 467 {
		t.Errorf("MaxNumber(x86_64) = %d, want 467 (go-seccomp-bpf v1.6.0)", got)
	}
	if got := MaxNumber("aarch64"); got != 467 {
		t.Errorf("MaxNumber(aarch64) = %d, want 467 (go-seccomp-bpf v1.6.0)", got)
	}
	if got := MaxNumber("mips"); got != -1 {
		t.Errorf("MaxNumber(mips) = %d, want -1", got)
	}
	if !Known("open") || !Known("openat") || Known("opne") || Known("@default") {
		t.Error("Known gives wrong answers")
	}
}

func TestLookupReturnsACopy(t *testing.T) {
	g, ok := Lookup("@default")
	if !ok {
		t.Fatal("no @default")
	}
	g.Syscalls[0] = "mangled"
	again, _ := Lookup("@default")
	if again.Syscalls[0] == "mangled" {
		t.Error("Lookup exposes the catalogue's own slice")
	}
	if _, ok := Lookup("default"); ok {
		t.Error("Lookup found a group without its '@'")
	}
}
