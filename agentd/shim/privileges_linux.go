package shim

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// dropPrivileges takes every capability out of all five sets except keep,
// and switches to creds when given. Order matters: the bounding set can only
// shrink while CAP_SETPCAP is held, so it goes first; the user switch then
// clears the permitted and effective sets (unless capabilities are kept);
// capset and the ambient set finish.
func dropPrivileges(creds *Creds, keep []int) error {
	last := lastCap()
	kept := map[int]bool{}
	var mask [2]uint32
	for _, c := range keep {
		if c < 0 || c > last {
			return fmt.Errorf("capability %d is not known to this kernel", c)
		}
		kept[c] = true
		mask[c/32] |= 1 << (c % 32)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clearing ambient capabilities: %w", err)
	}
	for c := 0; c <= last; c++ {
		if kept[c] {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != unix.EPERM {
			return fmt.Errorf("dropping capability %d from the bounding set: %w", c, err)
		}
		// EPERM: no CAP_SETPCAP, so the caller is unprivileged; its bounding
		// set cannot be used to gain anything once no_new_privs is set.
	}
	if creds != nil {
		if len(keep) > 0 {
			if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
				return fmt.Errorf("keeping capabilities across the user switch: %w", err)
			}
		}
		// The syscall package applies these to every thread of the process.
		if err := syscall.Setgroups(creds.Groups); err != nil {
			return fmt.Errorf("setting supplementary groups: %w", err)
		}
		if err := syscall.Setresgid(creds.GID, creds.GID, creds.GID); err != nil {
			return fmt.Errorf("switching to gid %d: %w", creds.GID, err)
		}
		if err := syscall.Setresuid(creds.UID, creds.UID, creds.UID); err != nil {
			return fmt.Errorf("switching to uid %d: %w", creds.UID, err)
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: mask[0], Permitted: mask[0], Inheritable: mask[0]},
		{Effective: mask[1], Permitted: mask[1], Inheritable: mask[1]},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	for _, c := range keep {
		// Ambient capabilities survive execve of a program without file
		// capabilities, which is how a non-root workload keeps one.
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0); err != nil {
			return fmt.Errorf("raising ambient capability %d: %w", c, err)
		}
	}
	if creds != nil && len(keep) > 0 {
		_ = unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0)
	}
	return nil
}

func lastCap() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return n
		}
	}
	return 40
}
