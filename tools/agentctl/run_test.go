package main

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// What a user of agentctl run checks first: statuses, signals, pipes, the
// environment, and a shell in a terminal.

func TestRunExitStatus(t *testing.T) {
	s := newSandbox(t, "root")
	for _, c := range []struct {
		argv []string
		want int
	}{
		{[]string{"/bin/sh", "-c", "exit 3"}, 3},
		{[]string{"/bin/true"}, 0},
		{[]string{"/bin/sh", "-c", "kill -TERM $$"}, 128 + int(syscall.SIGTERM)},
		{[]string{"no-such-program-anywhere"}, 127},
		{[]string{filepath.Join(s.ws, "src/main.go")}, 126}, // not executable
		{[]string{"/bin/sh", "-c", "exec " + filepath.Join(s.home, ".ssh/id_ed25519")}, 126},
	} {
		if r := s.run(c.argv...); r.code != c.want {
			t.Errorf("%v: status %d, want %d\n%s", c.argv, r.code, c.want, r.out)
		}
	}
}

func TestRunPipes(t *testing.T) {
	s := newSandbox(t, "user")
	cmd := exec.Command(bin.agentctl, "run", "-q", "--user", "65534", "--", "/usr/bin/tr", "a-z", "A-Z")
	cmd.Dir = s.ws
	cmd.Stdin = strings.NewReader("through the fence\n")
	out, err := cmd.Output()
	if err != nil || string(out) != "THROUGH THE FENCE\n" {
		t.Errorf("a pipe through the sandbox gave %q, %v", out, err)
	}
}

func TestRunSignalReachesWorkload(t *testing.T) {
	s := newSandbox(t, "root")
	cmd := exec.Command(bin.agentctl, "run", "-q", "--", "/bin/sh", "-c", "trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.05; done")
	cmd.Dir = s.ws
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(out)
	if line, _ := rd.ReadString('\n'); line != "ready\n" {
		t.Fatalf("workload said %q", line)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	rest, _ := io.ReadAll(rd)
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 42 || !strings.Contains(string(rest), "got-term") {
		t.Errorf("SIGTERM to agentctl: status %d (%v), output %q; want the workload's trap to run and exit 42", code, err, rest)
	}
}

func TestRunEnvironment(t *testing.T) {
	s := newSandbox(t, "root")
	r := s.run("/usr/bin/env")
	if strings.Contains(r.out, "TOP_SECRET_ENV") {
		t.Errorf("a variable outside the policy's list reached the workload:\n%s", r.out)
	}
	for _, want := range []string{"HOME=" + s.home, "PATH=", "TMPDIR=/"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("the workload's environment lacks %s:\n%s", want, r.out)
		}
	}
	// claude-code binds ANTHROPIC_API_KEY: the sandbox sees a placeholder.
	s.policy = "builtin:claude-code"
	secret := token("apikey")
	cmd := exec.Command(bin.agentctl, "run", "-q", "--policy", "builtin:claude-code", "--", "/usr/bin/env")
	cmd.Dir = s.ws
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + s.home, "ANTHROPIC_API_KEY=" + secret}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Contains(string(out), secret) {
		t.Errorf("the API key reached the sandbox:\n%s", out)
	}
	if !strings.Contains(string(out), "ANTHROPIC_API_KEY=paddock:cred:anthropic") {
		t.Errorf("the sandbox should see the credential's placeholder:\n%s", out)
	}
}

func TestRunRefusesBadInput(t *testing.T) {
	s := newSandbox(t, "root")
	bad := filepath.Join(s.base, "bad.hcl")
	s.write(bad, "policy \"bad\" {\n  mode = \"enforce\"\n}\nsyscalls {\n  allow = [\"no_such_syscall\"]\n}\n")
	s.policy = bad
	r := s.run("/bin/true")
	if r.code != 125 || !strings.Contains(r.out, "bad.hcl:5") {
		t.Errorf("a bad policy: status %d, want 125 and a file:line diagnostic:\n%s", r.code, r.out)
	}
	s.policy = "builtin:default"
	if r := s.exec(bin.agentctl, "run", "--bogus", "--", "/bin/true"); r.code != exitUsage {
		t.Errorf("an unknown flag: status %d, want %d", r.code, exitUsage)
	}
}

func TestRunExplain(t *testing.T) {
	s := newSandbox(t, "root")
	r := s.exec(bin.agentctl, "run", "--explain")
	for _, want := range []string{".env", "hidden", ".git/hooks", "read-only", "not masked", "network namespace", "3128"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("--explain does not mention %q:\n%s", want, r.out)
		}
	}
	if r.code != 0 {
		t.Errorf("--explain: status %d", r.code)
	}
}

// TestInteractiveShell drives a shell inside the sandbox through a terminal
// the test owns, as a person would.
func TestInteractiveShell(t *testing.T) {
	s := newSandbox(t, "root")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin.agentctl, "run", "-q", "--", "/bin/sh", "-i")
	cmd.Dir = s.ws
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + s.home, "TERM=dumb", "PS1=$ "}
	ptm, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 33, Cols: 101})
	if err != nil {
		t.Fatal(err)
	}
	defer ptm.Close()
	out := make(chan string, 64)
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := ptm.Read(b)
			if n > 0 {
				out <- string(b[:n])
			}
			if err != nil {
				close(out)
				return
			}
		}
	}()
	var seen strings.Builder
	expect := func(want string) {
		t.Helper()
		for !strings.Contains(seen.String(), want) {
			select {
			case chunk, ok := <-out:
				if !ok {
					t.Fatalf("the terminal closed before %q appeared:\n%s", want, seen.String())
				}
				seen.WriteString(chunk)
			case <-ctx.Done():
				t.Fatalf("%q never appeared:\n%s", want, seen.String())
			}
		}
	}
	type_ := func(line string) {
		if _, err := io.WriteString(ptm, line+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	type_("echo answer=$((6*7)); stty size; tty")
	expect("answer=42")
	expect("33 101")
	expect("/dev/pts/")
	type_("exit 7")
	err = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 7 {
		t.Errorf("the shell exited %d (%v), want 7:\n%s", code, err, seen.String())
	}
}
