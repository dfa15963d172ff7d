package seccomp

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Action is a seccomp return value: SECCOMP_RET_* in the high 16 bits and its
// data (an errno, for instance) in the low 16.
type Action uint32

// The actions a Paddock filter uses.
const (
	KillProcess Action = unix.SECCOMP_RET_KILL_PROCESS
	Allow       Action = unix.SECCOMP_RET_ALLOW
	Log         Action = unix.SECCOMP_RET_LOG // allowed and logged: audit mode

	retErrno  = unix.SECCOMP_RET_ERRNO
	retAction = unix.SECCOMP_RET_ACTION_FULL
	retData   = unix.SECCOMP_RET_DATA
)

// Errno is the action that fails a syscall with errno e.
func Errno(e unix.Errno) Action { return Action(retErrno | uint32(e)&retData) }

// IsErrno reports whether a fails the call, and with which errno.
func (a Action) IsErrno() (unix.Errno, bool) {
	if uint32(a)&retAction != retErrno {
		return 0, false
	}
	return unix.Errno(uint32(a) & retData), true
}

func (a Action) String() string {
	if e, ok := a.IsErrno(); ok {
		if name := unix.ErrnoName(e); name != "" {
			return "errno " + name
		}
		return fmt.Sprintf("errno %d", e)
	}
	switch a {
	case KillProcess:
		return "kill-process"
	case Allow:
		return "allow"
	case Log:
		return "log"
	}
	return fmt.Sprintf("action %#x", uint32(a))
}

// Blocks reports whether the action stops the call from running.
func (a Action) Blocks() bool { return a != Allow && a != Log }
