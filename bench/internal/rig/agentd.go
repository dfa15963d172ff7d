package rig

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/paddock-sh/paddock/internal/kernfs"
)

// GoBuild builds pkgs, directories of this module ("./agentd/cmd/agentd"),
// into dir, as make build does (grpc without x/net/trace, paddock-shim
// without cgo).
func GoBuild(dir string, pkgs ...string) error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return errors.New("run this from the Paddock checkout (go env GOMOD finds no go.mod)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, pkg := range pkgs {
		cmd := exec.Command("go", "build", "-tags", "grpcnotrace", "-o", dir+"/", pkg)
		cmd.Dir = filepath.Dir(mod)
		if strings.HasSuffix(pkg, "/paddock-shim") {
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // as make build ships it
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return nil
}

// Agentd is an agentd process a benchmark runs, with a state directory,
// bpffs pins, cgroup2 subtree and socket of its own.
type Agentd struct {
	Cmd        *exec.Cmd
	Conn       *grpc.ClientConn // to its socket
	Socket     string
	StateDir   string
	CgroupRoot string
	Log        string // its stdout and stderr
}

// StartAgentd starts the agentd binary bin with its directories under tmp
// and its cgroup subtree named paddock-bench-NAME-PID, plus args, and waits
// for its socket. Everything it makes, the process included, is pushed on
// undo. On an error after the start, the returned Agentd names the log.
func StartAgentd(undo *Undo, bin, tmp, name string, args ...string) (*Agentd, error) {
	cg2, err := kernfs.Cgroup2Root()
	if err != nil {
		return nil, err
	}
	mounted, err := kernfs.MountBPF("/sys/fs/bpf")
	if err != nil {
		return nil, err
	}
	if mounted {
		undo.Push(func() error { return unix.Unmount("/sys/fs/bpf", 0) })
	}
	pins, err := os.MkdirTemp("/sys/fs/bpf", "paddock-bench-"+name+"-")
	if err != nil {
		return nil, err
	}
	// Removing the pins detaches the hooks, once agentd is gone.
	undo.Push(func() error { return os.RemoveAll(pins) })
	// Pinned unix sockets' paths must fit a socket address: a short
	// directory.
	short, err := os.MkdirTemp("", "pdk")
	if err != nil {
		return nil, err
	}
	undo.Push(func() error { return os.RemoveAll(short) })
	a := &Agentd{
		Socket: filepath.Join(tmp, "run", "agentd.sock"), StateDir: filepath.Join(tmp, "state"),
		CgroupRoot: filepath.Join(cg2, fmt.Sprintf("paddock-bench-%s-%d", name, os.Getpid())),
		Log:        filepath.Join(tmp, "agentd.log"),
	}
	undo.Push(func() error { return kernfs.RemoveCgroup(a.CgroupRoot, 5*time.Second) })
	undo.Push(func() error { return kernfs.RemoveV1(filepath.Base(a.CgroupRoot), 5*time.Second) })
	logf, err := os.Create(a.Log)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	a.Cmd = exec.Command(bin, append([]string{"--state-dir", a.StateDir, "--socket", a.Socket, "--pin-dir", pins,
		"--unix-dir", filepath.Join(short, "u"), "--cgroup-root", a.CgroupRoot}, args...)...)
	a.Cmd.Stdout, a.Cmd.Stderr = logf, logf
	a.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := a.Cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { a.Cmd.Wait(); close(exited) }()
	undo.Push(func() error {
		a.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			a.Cmd.Process.Kill()
			<-exited
			return errors.New("agentd did not stop within 10s of SIGTERM; killed")
		}
		return nil
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			return a, fmt.Errorf("agentd exited at start (%v)", a.Cmd.ProcessState)
		default:
		}
		if _, err := os.Stat(a.Socket); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return a, errors.New("agentd made no socket within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if a.Conn, err = grpc.NewClient("unix://"+a.Socket, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		return a, err
	}
	undo.Push(a.Conn.Close)
	return a, nil
}

// TailOf is the last n bytes of the file at path, trimmed; "" when it
// cannot be read.
func TailOf(path string, n int64) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if int64(len(data)) > n {
		data = data[int64(len(data))-n:]
	}
	return strings.TrimSpace(string(data))
}
