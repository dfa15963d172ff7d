// Command escape-probe attempts one escape technique from inside a sandbox
// and prints whatever it reached. The adversarial tests run it under
// agentctl and judge the outcome by their canaries (a token that must never
// appear in the output, a process that must stay untouched, a file that must
// keep its content), not by the probe's own words.
//
//	escape-probe TECHNIQUE [ARGS...]
//
// Every line it prints starts with "probe:"; data it managed to read is
// printed as is, so a leaked token shows up in the output.
package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/internal/int80"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: escape-probe TECHNIQUE [ARGS...]")
		os.Exit(2)
	}
	args := os.Args[2:]
	t, ok := techniques[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "escape-probe: unknown technique %q\n", os.Args[1])
		os.Exit(2)
	}
	t(args)
}

var techniques = map[string]func([]string){
	"read":     func(a []string) { forEach(a, readFile) },
	"find":     func(a []string) { forEach(a, find) },
	"write":    func(a []string) { write(a[0], a[1]) },
	"truncate": func(a []string) { forEach(a, truncate) },
	"link":     func(a []string) { say("link %s %s: %v", a[0], a[1], unix.Link(a[0], a[1])); readFile(a[1]) },
	"rename":   func(a []string) { say("rename %s %s: %v", a[0], a[1], unix.Rename(a[0], a[1])); readFile(a[1]) },
	"int80":    func(a []string) { forEach(a, int80Read) },
	"x32":      func(a []string) { forEach(a, x32Read) },
	"io_uring": func([]string) { ioUring() },
	"clone3":   func([]string) { clone3() },
	"userns":   func([]string) { userns() },
	"mount":    func(a []string) { mounts(a) },
	"keyctl":   func(a []string) { forEach(a, keyRead) },
	"bpf":      func([]string) { bpfProbe() },
	"ptrace":   func(a []string) { ptrace(a[0], a[1]) },
	"signal":   func(a []string) { signal(a[0]) },
	"prlimit":  func(a []string) { prlimit(a[0]) },
	"fds":      func([]string) { fds() },
	"tiocsti":  func([]string) { tiocsti() },
	"exec":     func(a []string) { execv(a) },
	"whoami": func([]string) {
		say("uid=%d euid=%d gid=%d egid=%d", os.Getuid(), os.Geteuid(), os.Getgid(), os.Getegid())
	},
	"hold":      func(a []string) { hold(a[0]) },
	"int80nice": func(a []string) { int80Nice(a[0]) },
	"connect":   func(a []string) { forEach(a, connect) },
}

func say(format string, args ...any) { fmt.Printf("probe: "+format+"\n", args...) }

func forEach(paths []string, f func(string)) {
	for _, p := range paths {
		f(p)
	}
}

func readFile(path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		say("read %s: %v", path, err)
		return
	}
	say("read %s: %d bytes", path, len(b))
	os.Stdout.Write(b)
	fmt.Println()
}

// find reads every regular file it can reach under dir, as a program
// sweeping for secrets would.
func find(dir string) {
	n := 0
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			say("find %s: %v", p, err)
			return nil
		}
		if d.Type().IsRegular() && n < 2000 {
			n++
			if b, err := os.ReadFile(p); err == nil {
				say("found %s", p)
				os.Stdout.Write(b)
				fmt.Println()
			}
		}
		return nil
	})
}

func write(path, text string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o755)
	if err != nil {
		say("write %s: %v", path, err)
		return
	}
	_, err = f.WriteString(text)
	f.Close()
	say("write %s: %v", path, err)
}

func truncate(path string) {
	say("truncate(%s): %v", path, unix.Truncate(path, 0))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err == nil {
		f.Close()
	}
	say("open(%s, O_TRUNC): %v", path, err)
}

// low32 copies s into memory below 4 GiB, where the i386 ABI can see it.
func low32(size int) []byte {
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_32BIT)
	if err != nil {
		say("mmap below 4 GiB: %v", err)
		os.Exit(1)
	}
	return b
}

// int80Read opens and reads path through the i386 ABI (open=5, read=3).
func int80Read(path string) {
	buf := low32(1 << 16)
	copy(buf, path+"\x00")
	say("int 0x80 open %s", path)
	fd := int32(int80.Syscall3(5, uintptr(unsafe.Pointer(&buf[0])), 0, 0))
	if fd < 0 {
		say("int 0x80 open: errno %d", -fd)
		return
	}
	n := int32(int80.Syscall3(3, uintptr(fd), uintptr(unsafe.Pointer(&buf[4096])), 4096))
	if n > 0 {
		say("int 0x80 read %d bytes", n)
		os.Stdout.Write(buf[4096 : 4096+n])
		fmt.Println()
	}
}

// int80Nice lowers the priority of another process through the i386 ABI
// (setpriority=97), which Landlock's scoping does not cover.
func int80Nice(pidText string) {
	pid, _ := strconv.Atoi(pidText)
	say("int 0x80 setpriority(%d, 19)", pid)
	r := int32(int80.Syscall3(97, 0, uintptr(pid), 19))
	say("int 0x80 setpriority: %d", r)
}

// connect sends a token-free marker over TCP and UDP to addr.
func connect(addr string) {
	for _, network := range []string{"tcp", "udp"} {
		c, err := net.DialTimeout(network, addr, 2*time.Second)
		if err != nil {
			say("%s connect %s: %v", network, addr, err)
			continue
		}
		_, err = c.Write([]byte("probe-was-here\n"))
		c.Close()
		say("%s send %s: %v", network, addr, err)
	}
}

// x32Read opens path with the x32 bit set on the syscall number.
func x32Read(path string) {
	p, _ := unix.BytePtrFromString(path)
	const x32 = 0x40000000
	cwd := unix.AT_FDCWD
	fd, _, errno := unix.RawSyscall6(x32|unix.SYS_OPENAT, uintptr(cwd), uintptr(unsafe.Pointer(p)), 0, 0, 0, 0)
	if errno != 0 {
		say("x32 openat %s: %v", path, errno)
		return
	}
	buf := make([]byte, 4096)
	n, _ := unix.Read(int(fd), buf)
	say("x32 openat %s: read %d bytes", path, n)
	os.Stdout.Write(buf[:max(n, 0)])
	fmt.Println()
}

func ioUring() {
	var params [120]byte
	fd, _, errno := unix.RawSyscall(unix.SYS_IO_URING_SETUP, 8, uintptr(unsafe.Pointer(&params[0])), 0)
	if errno != 0 {
		say("io_uring_setup: %v", errno)
		return
	}
	say("io_uring_setup: REACHED fd %d", fd)
}

func clone3() {
	// struct clone_args with flags = CLONE_NEWUSER, exit_signal = SIGCHLD.
	var args [11]uint64
	args[0] = unix.CLONE_NEWUSER
	args[4] = uint64(unix.SIGCHLD)
	pid, _, errno := unix.RawSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&args[0])), unsafe.Sizeof(args), 0)
	if errno != 0 {
		say("clone3(CLONE_NEWUSER): %v", errno)
		return
	}
	if pid == 0 {
		unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
	}
	say("clone3(CLONE_NEWUSER): REACHED child %d", pid)
}

func userns() {
	before, _ := os.Readlink("/proc/self/ns/user")
	say("unshare(CLONE_NEWUSER): %v", unix.Unshare(unix.CLONE_NEWUSER))
	cmd := exec.Command("/bin/true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
	say("clone(CLONE_NEWUSER): %v", cmd.Run())
	cmd = exec.Command("/bin/true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWNET}
	say("clone(CLONE_NEWNS|CLONE_NEWNET): %v", cmd.Run())
	after, _ := os.Readlink("/proc/self/ns/user")
	say("user namespace %s -> %s", before, after)
}

// mounts tries to unmount every masked path and mount over args[0], then
// reads the masked paths.
func mounts(paths []string) {
	for _, p := range paths {
		say("umount2(%s, MNT_DETACH): %v", p, unix.Unmount(p, unix.MNT_DETACH))
	}
	say("mount tmpfs on %s: %v", filepath.Dir(paths[0]), unix.Mount("tmpfs", filepath.Dir(paths[0]), "tmpfs", 0, ""))
	fs, err := unix.Fsopen("tmpfs", 0)
	say("fsopen(tmpfs): %v", err)
	if err == nil {
		unix.Close(fs)
	}
	t, err := unix.OpenTree(unix.AT_FDCWD, paths[0], unix.OPEN_TREE_CLONE)
	say("open_tree(%s): %v", paths[0], err)
	if err == nil {
		unix.Close(t)
	}
	forEach(paths, readFile)
}

func keyRead(id string) {
	n, _ := strconv.Atoi(id)
	buf := make([]byte, 4096)
	r, err := unix.KeyctlBuffer(unix.KEYCTL_READ, n, buf, 0)
	if err != nil {
		say("keyctl(READ, %d): %v", n, err)
	} else {
		say("keyctl(READ, %d): %d bytes", n, r)
		os.Stdout.Write(buf[:min(r, len(buf))])
		fmt.Println()
	}
	_, err = unix.AddKey("user", "paddock-probe", []byte("x"), unix.KEY_SPEC_SESSION_KEYRING)
	say("add_key: %v", err)
}

func bpfProbe() {
	// BPF_MAP_CREATE of an array map: harmless if it ever succeeded.
	attr := [5]uint32{2, 4, 4, 1, 0}
	fd, _, errno := unix.RawSyscall(unix.SYS_BPF, 0, uintptr(unsafe.Pointer(&attr[0])), unsafe.Sizeof(attr))
	if errno != 0 {
		say("bpf(MAP_CREATE): %v", errno)
		return
	}
	say("bpf(MAP_CREATE): REACHED fd %d", fd)
}

// ptrace reads the canary's memory at addr three ways.
func ptrace(pidText, addrText string) {
	pid, _ := strconv.Atoi(pidText)
	addr, _ := strconv.ParseUint(addrText, 0, 64)
	say("ptrace(SEIZE, %d): %v", pid, unix.PtraceSeize(pid))
	say("ptrace(ATTACH, %d): %v", pid, unix.PtraceAttach(pid))
	buf := make([]byte, 64)
	n, err := unix.ProcessVMReadv(pid, []unix.Iovec{{Base: &buf[0], Len: uint64(len(buf))}}, []unix.RemoteIovec{{Base: uintptr(addr), Len: len(buf)}}, 0)
	say("process_vm_readv: %d %v", n, err)
	if n > 0 {
		os.Stdout.Write(buf[:n])
		fmt.Println()
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	say("open /proc/%d/mem: %v", pid, err)
	if err == nil {
		n, err := f.ReadAt(buf, int64(addr))
		say("read /proc/%d/mem: %d %v", pid, n, err)
		if n > 0 {
			os.Stdout.Write(buf[:n])
			fmt.Println()
		}
		f.Close()
	}
	readFile(fmt.Sprintf("/proc/%d/environ", pid))
}

func signal(pidText string) {
	pid, _ := strconv.Atoi(pidText)
	say("kill(%d, 0): %v", pid, unix.Kill(pid, 0))
	say("kill(%d, SIGKILL): %v", pid, unix.Kill(pid, unix.SIGKILL))
	fd, err := unix.PidfdOpen(pid, 0)
	say("pidfd_open(%d): %v", pid, err)
	if err == nil {
		say("pidfd_send_signal(SIGKILL): %v", unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0))
	}
	say("kill(-1, SIGKILL) is not attempted: it would also hit the test's own processes of this uid")
}

func prlimit(pidText string) {
	pid, _ := strconv.Atoi(pidText)
	lim := unix.Rlimit{Cur: 1, Max: 1}
	say("prlimit(%d, RLIMIT_CPU, 1): %v", pid, unix.Prlimit(pid, unix.RLIMIT_CPU, &lim, nil))
	say("prlimit(%d, RLIMIT_NOFILE, 1): %v", pid, unix.Prlimit(pid, unix.RLIMIT_NOFILE, &lim, nil))
	say("setpriority(%d, 19): %v", pid, unix.Setpriority(unix.PRIO_PROCESS, pid, 19))
	var set unix.CPUSet
	set.Set(0)
	say("sched_setaffinity(%d): %v", pid, unix.SchedSetaffinity(pid, &set))
	_, _, errno := unix.RawSyscall(unix.SYS_IOPRIO_SET, 1, uintptr(pid), 7|3<<13)
	say("ioprio_set(%d, idle): %v", pid, errno)
}

// fds reads and writes every descriptor above 2 it finds open.
func fds() {
	for fd := 3; fd < 256; fd++ {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil {
			continue
		}
		target, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
		say("fd %d is open: %s", fd, target)
		buf := make([]byte, 4096)
		if n, err := unix.Pread(fd, buf, 0); n > 0 && err == nil {
			os.Stdout.Write(buf[:n])
			fmt.Println()
		}
		if n, err := unix.Write(fd, []byte("probe-wrote-here\n")); err == nil {
			say("fd %d: wrote %d bytes", fd, n)
		}
	}
	say("fds done")
}

func tiocsti() {
	for _, fd := range []int{0, 1, 2} {
		c := byte('Z')
		err := unix.IoctlSetPointerInt(fd, unix.TIOCSTI, int(c))
		say("ioctl(%d, TIOCSTI): %v", fd, err)
	}
	if f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0); err == nil {
		say("ioctl(/dev/tty, TIOCSTI): %v", unix.IoctlSetPointerInt(int(f.Fd()), unix.TIOCSTI, 'Z'))
		f.Close()
	} else {
		say("open /dev/tty: %v", err)
	}
}

func execv(argv []string) {
	err := unix.Exec(argv[0], argv, os.Environ())
	say("exec %s: %v", argv[0], err)
}

// hold is the outside canary: it keeps token in memory, says where, and
// waits to be killed.
func hold(token string) {
	secret := []byte(token)
	fmt.Printf("%d %d\n", os.Getpid(), uintptr(unsafe.Pointer(&secret[0])))
	os.Stdout.Sync()
	for {
		time.Sleep(time.Hour)
		_ = strings.Clone(string(secret))
	}
}
