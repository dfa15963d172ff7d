// Package landlock applies a Landlock ruleset to the calling thread. It is a
// thin typed layer over the kernel interface: the caller decides which rights
// to handle and which file hierarchies (opened by the caller, never by path
// here) get which rights.
//
// Landlock domains belong to a thread and its future children, so a caller
// that means to execve must lock its goroutine to its thread (see
// runtime.LockOSThread) before Restrict and keep it locked through the exec.
package landlock

import (
	"fmt"

	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// ABI returns the Landlock ABI version of the running kernel, or 0 when
// Landlock is not built in or not enabled at boot.
func ABI() int {
	v, err := ll.LandlockGetABIVersion()
	if err != nil {
		return 0
	}
	return v
}

// Filesystem rights by the ABI that introduced them.
const (
	fsV1 = ll.AccessFSExecute | ll.AccessFSWriteFile | ll.AccessFSReadFile | ll.AccessFSReadDir |
		ll.AccessFSRemoveDir | ll.AccessFSRemoveFile | ll.AccessFSMakeChar | ll.AccessFSMakeDir |
		ll.AccessFSMakeReg | ll.AccessFSMakeSock | ll.AccessFSMakeFifo | ll.AccessFSMakeBlock | ll.AccessFSMakeSym
	fsV2 = fsV1 | ll.AccessFSRefer
	fsV3 = fsV2 | ll.AccessFSTruncate
	fsV5 = fsV3 | ll.AccessFSIoctlDev
)

// FileRights are the rights that mean something on a file (not a directory);
// the kernel refuses a rule on a file that names any other.
const FileRights = ll.AccessFSExecute | ll.AccessFSWriteFile | ll.AccessFSReadFile | ll.AccessFSTruncate | ll.AccessFSIoctlDev

// Network rights and scopes.
const (
	NetBindTCP    = ll.AccessNetBindTCP
	NetConnectTCP = ll.AccessNetConnectTCP
	NetTCP        = NetBindTCP | NetConnectTCP
	ScopeAll      = ll.ScopeAbstractUnixSocket | ll.ScopeSignal
)

// Supported is what an ABI version can handle.
type Supported struct {
	FS     uint64
	Net    uint64
	Scoped uint64
	// Logging reports the RESTRICT_SELF_LOG_* flags (ABI 7).
	Logging bool
}

// SupportedBy lists the rights, scopes and flags of an ABI version.
func SupportedBy(abi int) Supported {
	var s Supported
	switch {
	case abi >= 5:
		s.FS = fsV5
	case abi >= 3:
		s.FS = fsV3
	case abi >= 2:
		s.FS = fsV2
	case abi >= 1:
		s.FS = fsV1
	}
	if abi >= 4 {
		s.Net = NetTCP
	}
	if abi >= 6 {
		s.Scoped = ScopeAll
	}
	s.Logging = abi >= 7
	return s
}

// Ruleset is a Landlock ruleset being built. Close it when done, whether or
// not it was enforced.
type Ruleset struct {
	fd      int
	handled Supported
}

// New creates a ruleset handling the given rights and scopes. Everything
// handled and not granted by a rule is denied once the ruleset is enforced.
func New(handled Supported) (*Ruleset, error) {
	attr := ll.RulesetAttr{HandledAccessFS: handled.FS, HandledAccessNet: handled.Net, Scoped: handled.Scoped}
	fd, err := ll.LandlockCreateRuleset(&attr, 0)
	if err != nil {
		return nil, fmt.Errorf("landlock_create_ruleset: %w", err)
	}
	return &Ruleset{fd: fd, handled: handled}, nil
}

// AllowPath grants access to the file or hierarchy that fd (an O_PATH
// descriptor) refers to. Rights the ruleset does not handle are dropped; on
// a file, rights that only mean something on directories are dropped too.
func (r *Ruleset) AllowPath(fd int, access uint64, isDir bool) error {
	access &= r.handled.FS
	if !isDir {
		access &= FileRights
	}
	if access == 0 {
		return nil
	}
	attr := ll.PathBeneathAttr{AllowedAccess: access, ParentFd: fd}
	if err := ll.LandlockAddPathBeneathRule(r.fd, &attr, 0); err != nil {
		return fmt.Errorf("landlock_add_rule: %w", err)
	}
	return nil
}

// AllowPort grants TCP rights (bind, connect) on one port.
func (r *Ruleset) AllowPort(port uint16, access uint64) error {
	access &= r.handled.Net
	if access == 0 {
		return nil
	}
	attr := ll.NetPortAttr{AllowedAccess: access, Port: uint64(port)}
	if err := ll.LandlockAddNetPortRule(r.fd, &attr, 0); err != nil {
		return fmt.Errorf("landlock_add_rule(port %d): %w", port, err)
	}
	return nil
}

// Restrict enforces the ruleset on the calling thread. The thread must have
// no_new_privs set (or CAP_SYS_ADMIN). With audit set on an ABI that has
// logging flags, denials by the programs this thread execs are logged too.
func (r *Ruleset) Restrict(audit bool) error {
	var flags uint32
	if audit && r.handled.Logging {
		flags |= ll.FlagRestrictSelfLogNewExecOn
	}
	_, _, errno := unix.RawSyscall(unix.SYS_LANDLOCK_RESTRICT_SELF, uintptr(r.fd), uintptr(flags), 0)
	if errno != 0 {
		return fmt.Errorf("landlock_restrict_self: %w", errno)
	}
	return nil
}

// Close releases the ruleset's descriptor.
func (r *Ruleset) Close() error {
	if r.fd < 0 {
		return nil
	}
	err := unix.Close(r.fd)
	r.fd = -1
	return err
}
