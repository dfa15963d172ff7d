// Package kernfs finds and manages the kernel's own filesystems that
// Paddock works in: the cgroup2 hierarchy and bpffs.
package kernfs

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Cgroup2Root finds the cgroup2 mount: /sys/fs/cgroup on a unified host,
// /sys/fs/cgroup/unified on a hybrid one.
func Cgroup2Root() (string, error) {
	for _, dir := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st unix.Statfs_t
		if unix.Statfs(dir, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return dir, nil
		}
	}
	return "", errors.New("no cgroup2 hierarchy mounted")
}

// RemoveCgroup removes the cgroup dir, waiting up to wait for the
// processes that ran in it to be gone (an exited process leaves its
// cgroup a little after it is reaped).
func RemoveCgroup(dir string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := os.Remove(dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s could not be removed: %w", dir, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// MountBPF mounts a bpf filesystem at dir unless one is there already,
// and reports whether it mounted one: not every distribution mounts bpffs
// at boot.
func MountBPF(dir string) (bool, error) {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) == nil && st.Type == unix.BPF_FS_MAGIC {
		return false, nil
	}
	if err := unix.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
		return false, fmt.Errorf("mounting bpffs at %s: %w", dir, err)
	}
	return true, nil
}

// RemoveV1 removes the cgroups named name (a path relative to each
// hierarchy's root) in every cgroup v1 hierarchy under /sys/fs/cgroup, as
// RemoveCgroup does: on a hybrid host agentd keeps the parents of its
// sandboxes' resource limits there.
func RemoveV1(name string, wait time.Duration) error {
	ents, _ := os.ReadDir("/sys/fs/cgroup")
	var errs []error
	for _, e := range ents {
		h := "/sys/fs/cgroup/" + e.Name()
		// Only v1 hierarchies have a tasks file at their root.
		if _, err := os.Stat(h + "/tasks"); err != nil {
			continue
		}
		if err := RemoveCgroup(h+"/"+name, wait); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
