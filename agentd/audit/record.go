package audit

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/elastic/go-seccomp-bpf/arch"
)

// Record types this package decodes (linux/audit.h).
const (
	TypeSyscall        = 1300 // AUDIT_SYSCALL: the syscall context of an event
	TypeEOE            = 1320 // AUDIT_EOE: end of a multi-record event
	TypeSeccomp        = 1326 // AUDIT_SECCOMP
	TypeLandlockAccess = 1423 // AUDIT_LANDLOCK_ACCESS
	TypeLandlockDomain = 1424 // AUDIT_LANDLOCK_DOMAIN
)

// Unset is the value the kernel prints for an unset login uid or session
// (auid=4294967295 ses=4294967295).
const Unset = ^uint32(0)

// Record is a decoded record: *Seccomp, *LandlockAccess, *LandlockDomain or
// *Gap from Reader.Read; ParseRecord also returns *Context and *EndOfEvent,
// which Read folds into the records they belong to.
type Record interface {
	// Event returns the record's audit stamp.
	Event() Stamp
}

// Stamp is the audit(SECONDS.MILLIS:SERIAL) prefix every record carries.
// Records of one event share it; the serial counts every record the kernel
// emits since boot, whatever its type.
type Stamp struct {
	Time   time.Time
	Serial uint64
}

// Event returns s.
func (s Stamp) Event() Stamp { return s }

// Task is the process a record names.
type Task struct {
	PID  uint32
	PPID uint32 // only in the AUDIT_SYSCALL context
	UID  uint32
	GID  uint32
	EUID uint32 // only in the AUDIT_SYSCALL context
	// AUID and Session are the login uid and session; Unset when never set.
	AUID    uint32
	Session uint32
	Comm    string
	Exe     string
}

// Arch is an AUDIT_ARCH_* value, as in seccomp_data.arch.
type Arch uint32

// String names the architecture ("x86_64", "i386", "aarch64", ...) or
// prints its value in hex.
func (a Arch) String() string {
	if info := archInfo(a); info != nil {
		return info.Name
	}
	return fmt.Sprintf("%#x", uint32(a))
}

// Syscall is a system call number as the kernel saw it and its name in the
// architecture's table ("" when the table does not know it).
type Syscall struct {
	Number int
	Name   string
}

// String returns the name, or the number when the name is unknown.
func (s Syscall) String() string {
	if s.Name != "" {
		return s.Name
	}
	return fmt.Sprint(s.Number)
}

const x32Bit = 0x40000000

func archInfo(a Arch) *arch.Info {
	switch a {
	case Arch(arch.X86_64.ID):
		return arch.X86_64
	case Arch(arch.I386.ID):
		return arch.I386
	case Arch(arch.AARCH64.ID):
		return arch.AARCH64
	case Arch(arch.ARM.ID):
		return arch.ARM
	}
	return nil
}

func syscallOf(a Arch, nr int) Syscall {
	info := archInfo(a)
	if info == nil {
		return Syscall{Number: nr}
	}
	if info == arch.X86_64 && nr >= x32Bit {
		return Syscall{Number: nr, Name: arch.X32.SyscallNumbers[nr&^x32Bit]}
	}
	return Syscall{Number: nr, Name: info.SyscallNumbers[nr]}
}

// Seccomp actions, named as in /proc/sys/kernel/seccomp/actions_avail.
const (
	ActionKillProcess = "kill_process"
	ActionKillThread  = "kill_thread"
	ActionTrap        = "trap"
	ActionErrno       = "errno"
	ActionUserNotif   = "user_notif"
	ActionTrace       = "trace"
	ActionLog         = "log"
	ActionAllow       = "allow"
)

// SeccompAction names a filter return value by its action bits
// (SECCOMP_RET_ACTION_FULL); "unknown" for anything else.
func SeccompAction(code uint32) string {
	switch code & 0xffff0000 {
	case 0x80000000:
		return ActionKillProcess
	case 0x00000000:
		return ActionKillThread
	case 0x00030000:
		return ActionTrap
	case 0x00050000:
		return ActionErrno
	case 0x7fc00000:
		return ActionUserNotif
	case 0x7ff00000:
		return ActionTrace
	case 0x7ffc0000:
		return ActionLog
	case 0x7fff0000:
		return ActionAllow
	}
	return "unknown"
}

// Seccomp is an AUDIT_SECCOMP record: a seccomp filter returned an action
// the kernel logs (kill_* always; errno, trap, trace and user_notif only for
// filters loaded with SECCOMP_FILTER_FLAG_LOG; log always), subject to
// /proc/sys/kernel/seccomp/actions_logged. It stands alone: the kernel
// sends no AUDIT_SYSCALL context with it.
type Seccomp struct {
	Stamp
	Task
	Arch    Arch
	Syscall Syscall
	// Compat is set for a compat-ABI call (i386 through int 0x80 on x86_64).
	Compat bool
	IP     uint64
	// Signal is the signal the action sends (SIGSYS for kill_*), or 0.
	Signal int
	// Code is the filter's return value with the data bits cleared: the
	// kernel logs SECCOMP_RET_ERRNO|EPERM as 0x50000, so the errno a filter
	// chose is not in the record.
	Code   uint32
	Action string
}

// LandlockAccess is an AUDIT_LANDLOCK_ACCESS record: Landlock denied an
// access. The kernel logs it only while audit is enabled, and only for
// domains whose flags ask for it (see the package documentation).
type LandlockAccess struct {
	Stamp
	// Domain is the id of the youngest domain that denied the access.
	Domain uint64
	// Blockers are the missing rights, as the kernel names them:
	// fs.read_file, fs.make_reg, net.connect_tcp, scope.signal, ...
	Blockers []string

	// The object, as far as the record's kind carries it.
	//
	// Path is path=: for fs.* blockers, the file, or for creating and
	// removing blockers (make_*, remove_*, refer) the directory in which
	// the change was denied, as the denying process sees it (its root
	// and mounts); for scope.abstract_unix_socket, the socket's name with
	// its leading NUL.
	Path     string
	Name     string // name=, when the kernel names a dentry without a path
	Dev      string
	Ino      uint64
	IoctlCmd uint32 // ioctlcmd= for fs.ioctl_dev
	// Addr and Port are daddr= and dest= (net.connect_tcp); LocalAddr and
	// LocalPort are saddr= and src= (net.bind_tcp).
	Addr      netip.Addr
	Port      uint16
	LocalAddr netip.Addr
	LocalPort uint16
	// TargetPID and TargetComm are opid= and ocomm= (scope.signal): the
	// process the denied signal was for.
	TargetPID  uint32
	TargetComm string
	// Extra holds the fields of the record this type has no field for,
	// decoded; nil when there are none.
	Extra map[string]string

	// Context tells whether the event's AUDIT_SYSCALL record arrived: only
	// then are Task, Arch, Syscall and Exit set. The kernel sends it only
	// for processes that have an audit context (see the package
	// documentation); without it the denying process is known only
	// through the domain.
	Context bool
	Task
	Arch    Arch
	Syscall Syscall
	Exit    int64
}

// Landlock domain statuses.
const (
	DomainAllocated   = "allocated"
	DomainDeallocated = "deallocated"
)

// LandlockDomain is an AUDIT_LANDLOCK_DOMAIN record. The kernel sends the
// allocated one with the first logged denial of a domain, naming the
// process that created the domain (landlock_restrict_self), and the
// deallocated one when the domain is freed, with the number of denials
// (logged or not) it made; a domain that never logged a denial gets
// neither.
type LandlockDomain struct {
	Stamp
	ID     uint64
	Status string
	Mode   string // "enforcing" (allocated only)
	// Creator is the process that created the domain (allocated only;
	// PID, UID, Exe and Comm).
	Creator Task
	Denials uint64 // deallocated only
}

// Context is an AUDIT_SYSCALL record: the syscall during which an event's
// other records were logged.
type Context struct {
	Stamp
	Task
	Arch    Arch
	Syscall Syscall
	Success bool
	Exit    int64
}

// EndOfEvent is an AUDIT_EOE record: the last record of an event that had
// a syscall context.
type EndOfEvent struct {
	Stamp
}

// Gap causes.
const (
	// GapOverrun: the socket's receive buffer overflowed (ENOBUFS) and the
	// kernel dropped records for it; Count is 0 (the kernel does not say
	// how many).
	GapOverrun = "overrun"
	// GapMissing: serial numbers between First and Last never arrived.
	GapMissing = "missing"
)

// Gap is a loss Reader.Read reports in place: records that should have
// arrived before the next one did not. Records of any type share the serial
// counter, so a missing count is an upper bound of the denials lost.
type Gap struct {
	Stamp // Time: when the loss was noticed; Serial: 0
	Cause string
	Count uint64
	// First and Last are the missing serials (GapMissing only).
	First, Last uint64
}
