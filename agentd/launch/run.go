package launch

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/paddock-sh/paddock/agentd/shim"
)

// Run starts the workload and waits for it. It returns the workload's exit
// status (128+N for a signal N, as shells report it). The temporary
// directory is removed afterwards.
func (l *Launch) Run() (int, error) {
	defer l.Close()
	o := l.opts

	// On a terminal the workload gets a fresh pty that the launcher relays:
	// it never holds a descriptor of the user's terminal, so it cannot type
	// into it (TIOCSTI) or read what the user types elsewhere.
	var ptm, pts *os.File
	stdio := []*os.File{o.Stdin, o.Stdout, o.Stderr}
	if isTerminal(o.Stdin) || isTerminal(o.Stdout) || isTerminal(o.Stderr) {
		var err error
		if ptm, pts, err = pty.Open(); err != nil {
			return shim.ExitSetup, fmt.Errorf("opening a pty: %w", err)
		}
		defer ptm.Close()
		for i, f := range stdio {
			if isTerminal(f) {
				stdio[i] = pts
			}
		}
		for _, f := range []*os.File{o.Stdin, o.Stdout, o.Stderr} {
			if isTerminal(f) {
				if ws, err := pty.GetsizeFull(f); err == nil {
					_ = pty.Setsize(ptm, ws)
					break
				}
			}
		}
	}

	specR, specW, err := os.Pipe()
	if err != nil {
		return shim.ExitSetup, err
	}
	cmd := &exec.Cmd{
		Path:       l.shim,
		Args:       []string{shim.Arg0},
		Env:        []string{},
		Stdin:      stdio[0],
		Stdout:     stdio[1],
		Stderr:     stdio[2],
		ExtraFiles: []*os.File{specR}, // descriptor 3 = shim.SpecFD
		SysProcAttr: &syscall.SysProcAttr{
			Setsid:    true,
			Pdeathsig: syscall.SIGKILL,
		},
	}
	if pts != nil {
		cmd.SysProcAttr.Setctty = true
		cmd.SysProcAttr.Ctty = ctty(stdio, pts)
	}
	if l.MountNS {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWNS
	}
	var netConn *os.File
	if l.NetNS {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWNET
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return shim.ExitSetup, err
		}
		netConn = os.NewFile(uintptr(fds[0]), "net")
		child := os.NewFile(uintptr(fds[1]), "net-shim")
		defer netConn.Close()
		defer child.Close()
		cmd.ExtraFiles = append(cmd.ExtraFiles, child) // descriptor 4 = shim.NetFD
	}
	if l.UserNS {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
		uid, gid := os.Geteuid(), os.Getegid()
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}}
		cmd.SysProcAttr.GidMappingsEnableSetgroups = false
		// The shim keeps, through its own exec, just what it needs to
		// mount in the namespace it owns and to empty its bounding set;
		// it drops both before the workload runs.
		cmd.SysProcAttr.AmbientCaps = []uintptr{unix.CAP_SYS_ADMIN, unix.CAP_SETPCAP, unix.CAP_NET_ADMIN}
	}

	// Signals sent to the launcher go to the workload's process group; the
	// launcher outlives them and reports the workload's status. Notify
	// hands each signal to a thread the runtime starts for it and waits for
	// that thread each time (~0.5 ms here), so it runs beside the shim's
	// start and the sandbox's creation. A signal that comes before it is
	// done kills the launcher as it would during planning, and the shim
	// with it (Pdeathsig), before the workload has run.
	sigs := make(chan os.Signal, 16)
	notified := make(chan struct{})
	go func() {
		signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH, unix.SIGCONT)
		close(notified)
	}()
	defer func() { <-notified; signal.Stop(sigs) }()

	err = cmd.Start()
	specR.Close()
	if err != nil {
		specW.Close()
		if l.UserNS && (errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EINVAL)) {
			return shim.ExitSetup, &Error{Layer: "namespaces", Err: fmt.Errorf("the sandbox's own network and mount namespaces need a user namespace when agentctl is not root, and the kernel refused one (%v); run as root, or with agentd", err)}
		}
		return shim.ExitSetup, fmt.Errorf("starting the sandbox: %w", err)
	}
	if pts != nil {
		pts.Close()
	}
	if netConn != nil {
		cmd.ExtraFiles[1].Close() // the shim's end: EOF here once the shim is gone
	}
	if d := o.Daemon; d != nil {
		// The shim waits for its spec; until agentd has made the sandbox
		// with the shim in it, it gets none.
		var sb *Sandbox
		err := errors.New("launch: no way to ask agentd for the sandbox (Daemon.Create is nil)")
		if d.Create != nil {
			sb, err = d.Create(cmd.Process.Pid)
		}
		if err == nil {
			err = l.Join(sb)
		}
		if err != nil {
			specW.Close()
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return shim.ExitSetup, fmt.Errorf("agentd sandbox: %w", err)
		}
	}
	if o.Ready != nil {
		o.Ready(l)
	}
	// The workload starts only once the launcher relays its signals.
	<-notified
	err = json.NewEncoder(specW).Encode(&l.spec)
	specW.Close()
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return shim.ExitSetup, fmt.Errorf("sending the launch spec: %w", err)
	}
	if netConn != nil {
		eg, err := l.startEgress(netConn)
		if err != nil {
			// The shim failed before its network was ready and says why
			// on stderr; report its status.
			_ = cmd.Process.Kill()
			werr := cmd.Wait()
			if code, _ := exitStatus(cmd, werr); code != 128+int(unix.SIGKILL) {
				return code, nil
			}
			return shim.ExitSetup, fmt.Errorf("the sandbox's network: %w", err)
		}
		defer eg.close()
	}

	var relayDone chan struct{}
	if ptm != nil {
		restore := func() {}
		if isTerminal(o.Stdin) {
			if old, err := term.MakeRaw(int(o.Stdin.Fd())); err == nil {
				restore = func() { _ = term.Restore(int(o.Stdin.Fd()), old) }
			}
			go func() { _, _ = io.Copy(ptm, o.Stdin) }()
		}
		defer restore()
		out := o.Stdout
		if !isTerminal(out) {
			out = o.Stderr
		}
		relayDone = make(chan struct{})
		go func() { _, _ = io.Copy(out, ptm); close(relayDone) }()
	}

	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	pgid := cmd.Process.Pid
	for {
		select {
		case s := <-sigs:
			if s == unix.SIGWINCH {
				if ptm != nil {
					for _, f := range []*os.File{o.Stdin, o.Stdout, o.Stderr} {
						if ws, err := pty.GetsizeFull(f); err == nil {
							_ = pty.Setsize(ptm, ws)
							break
						}
					}
				}
				continue
			}
			_ = unix.Kill(-pgid, s.(syscall.Signal))
		case err := <-waited:
			if relayDone != nil {
				// Drain what the workload wrote last; a background process
				// still holding the pty must not keep the launcher alive.
				select {
				case <-relayDone:
				case <-time.After(200 * time.Millisecond):
				}
			}
			return exitStatus(cmd, err)
		}
	}
}

func exitStatus(cmd *exec.Cmd, err error) (int, error) {
	st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok {
		return shim.ExitSetup, err
	}
	switch {
	case st.Exited():
		return st.ExitStatus(), nil
	case st.Signaled():
		return 128 + int(st.Signal()), nil
	}
	return shim.ExitSetup, err
}

// ctty is the child's descriptor number of its controlling terminal.
func ctty(stdio []*os.File, pts *os.File) int {
	for i, f := range stdio {
		if f == pts {
			return i
		}
	}
	return 0
}

func isTerminal(f *os.File) bool { return f != nil && term.IsTerminal(int(f.Fd())) }
