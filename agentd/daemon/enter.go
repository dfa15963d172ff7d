//go:build linux

package daemon

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
	"github.com/paddock-sh/paddock/agentd/peer"
)

// How `agentctl run` gets its workload into a sandbox without being root:
// it forks the shim, which waits for its launch spec having run nothing of
// the workload; the daemon moves that child into the sandbox's cgroup
// (Enter); agentctl then sends the spec, and the shim checks its own
// cgroup before it applies Landlock and seccomp and execs. The workload
// stays agentctl's child (terminal, signals, exit status work as without
// the daemon), and an ephemeral sandbox goes when agentctl does.

// Creator is the process an ephemeral sandbox belongs to: its pid and its
// start time, so a recycled pid is never taken for it.
type Creator struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"` // /proc/PID/stat field 22, clock ticks since boot
}

// procStart reads a process's start time.
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// comm may hold spaces and parentheses: fields count from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, errors.New("malformed stat")
	}
	return strconv.ParseUint(f[19], 10, 64) // field 22; f[0] is field 3
}

// procStatus is what Enter checks of the child.
type procStatus struct {
	ppid int
	uids [4]uint32 // real, effective, saved, filesystem
}

func readStatus(pid int) (procStatus, error) {
	var st procStatus
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	defer f.Close()
	seen := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		switch k {
		case "PPid":
			if len(fs) == 1 {
				st.ppid, err = strconv.Atoi(fs[0])
				seen++
			}
		case "Uid":
			if len(fs) == 4 {
				for i := range fs {
					n, e := strconv.ParseUint(fs[i], 10, 32)
					if e != nil {
						err = e
					}
					st.uids[i] = uint32(n)
				}
				seen++
			}
		}
	}
	if err == nil && seen != 2 {
		err = errors.New("malformed status")
	}
	return st, err
}

func (svc *sandboxService) Enter(ctx context.Context, req *apiv1.EnterRequest) (*apiv1.Sandbox, error) {
	cr, _ := peer.FromContext(ctx)
	r, err := svc.visible(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	if err := svc.start(cr, r, int(req.GetPid())); err != nil {
		return nil, err
	}
	return svc.s.proto(r), nil
}

// start moves pid, the caller's child that has run nothing of the workload
// yet, into r: the sandbox's first process (Enter, or Create with a pid).
// The error is the call's status.
func (svc *sandboxService) start(cr peer.Cred, r *record, pid int) error {
	if r.Attached {
		return status.Errorf(codes.FailedPrecondition, "%s was made by Attach: it holds a running tree, nothing enters it", r.ID)
	}
	if r.Owner != cr.UID {
		return status.Errorf(codes.PermissionDenied, "%s belongs to uid %d; only its owner starts its workload", r.ID, r.Owner)
	}
	// The pidfd holds the process: while it is alive, what /proc/PID says
	// is about it, not about a process that recycled its pid.
	pfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return status.Errorf(codes.NotFound, "no process %d", pid)
	}
	defer unix.Close(pfd)
	st, err := readStatus(pid)
	if err != nil {
		return status.Errorf(codes.NotFound, "process %d: %v", pid, err)
	}
	if st.ppid != int(cr.PID) {
		return status.Errorf(codes.PermissionDenied, "process %d is not a child of the caller (pid %d)", pid, cr.PID)
	}
	for _, u := range st.uids {
		if u != cr.UID {
			return status.Errorf(codes.PermissionDenied, "process %d does not run as the caller's uid %d", pid, cr.UID)
		}
	}
	cg, err := peer.CgroupOf(pid)
	if err != nil {
		return status.Errorf(codes.NotFound, "process %d: %v", pid, err)
	}
	if cg != cr.Cgroup {
		return status.Errorf(codes.FailedPrecondition, "process %d is not in its parent's cgroup", pid)
	}
	svc.s.enterMu.Lock()
	defer svc.s.enterMu.Unlock()
	if svc.s.get(r.ID) != r {
		return status.Errorf(codes.NotFound, "no sandbox %q", r.ID)
	}
	if len(r.pids()) > 0 {
		return status.Errorf(codes.FailedPrecondition, "%s already runs a workload", r.ID)
	}
	if err := unix.PidfdSendSignal(pfd, 0, nil, 0); err != nil {
		return status.Errorf(codes.NotFound, "process %d is gone", pid)
	}
	if err := os.WriteFile(filepath.Join(r.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		return status.Errorf(codes.Internal, "moving process %d into %s: %v", pid, r.ID, err)
	}
	if r.group != nil {
		if err := r.group.Add(pid); err != nil {
			// Limits the sandbox was promised and cannot hold: the
			// workload must not start.
			unix.PidfdSendSignal(pfd, unix.SIGKILL, nil, 0)
			return status.Errorf(codes.Internal, "resource limits for process %d: %v", pid, err)
		}
	}
	svc.s.d.lifecycle(r, "started", fmt.Sprintf("process %d, child of uid %d's pid %d", pid, cr.UID, cr.PID))
	return nil
}

// watchCreator destroys an ephemeral sandbox once its creator has exited,
// or at once if it is already gone (a daemon restarting finds it so).
func (s *sandboxes) watchCreator(r *record) {
	c := r.Creator
	pfd, err := unix.PidfdOpen(c.PID, unix.PIDFD_NONBLOCK)
	if err == nil {
		if start, err2 := procStart(c.PID); err2 != nil || start != c.Start {
			unix.Close(pfd)
			err = errors.New("recycled pid")
		}
	}
	if err != nil {
		s.expire(r)
		return
	}
	// A non-blocking pidfd is pollable: the runtime's poller wakes the
	// goroutine when the process exits, with no thread parked per sandbox.
	f := os.NewFile(uintptr(pfd), "pidfd")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return
	}
	s.watchMu.Lock()
	s.watchers[r.ID] = f
	s.watchMu.Unlock()
	go func() {
		waited := false
		err := rc.Read(func(uintptr) bool {
			if !waited {
				waited = true
				return false
			}
			return true
		})
		s.watchMu.Lock()
		delete(s.watchers, r.ID)
		s.watchMu.Unlock()
		f.Close()
		if err != nil {
			return // closed: the daemon is stopping, the sandbox stays
		}
		s.expire(r)
	}()
}

func (s *sandboxes) expire(r *record) {
	if s.get(r.ID) != r {
		return // destroyed already
	}
	err := s.destroy(r)
	detail := fmt.Sprintf("its creator (pid %d) exited", r.Creator.PID)
	if err != nil {
		detail += "; " + err.Error()
		s.d.logger.Error("destroying an ephemeral sandbox", "sandbox", r.ID, "err", err)
	}
	s.d.lifecycle(r, "destroyed", detail)
}

// stopWatching releases the creator watches without destroying anything.
func (s *sandboxes) stopWatching() {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	for _, f := range s.watchers {
		f.Close()
	}
}
