// Package kerneltest holds the fixtures of tests that need the real
// kernel as root: cgroups and bpffs directories that clean up after
// themselves.
package kerneltest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/paddock-sh/paddock/internal/kernfs"
)

// Privileged skips the test when not root, except under CI=true, where
// privileged tests must run: there it fails.
func Privileged(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true: this test needs root and must not skip")
		}
		t.Skip("needs root")
	}
}

// Cgroup creates a cgroup below the cgroup2 root (name may hold several
// levels) and removes it at cleanup, with the directories of that name
// a daemon under test made in the v1 hierarchies of a hybrid host (its
// resource limits' parents), once they are empty.
func Cgroup(t testing.TB, name string) string {
	t.Helper()
	root, err := kernfs.Cgroup2Root()
	if err != nil {
		t.Fatal(err)
	}
	dir := Child(t, root, name)
	t.Cleanup(func() { kernfs.RemoveV1(name, 0) })
	return dir
}

// Child creates the cgroup parent/name and removes it at cleanup.
func Child(t testing.TB, parent, name string) string {
	t.Helper()
	dir := filepath.Join(parent, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := kernfs.RemoveCgroup(dir, 2*time.Second); err != nil {
			t.Error(err)
		}
	})
	return dir
}

// UniqueName is a cgroup name no other test process uses.
func UniqueName(prefix string) string { return fmt.Sprintf("%s-%d", prefix, os.Getpid()) }

// PinDir returns a fresh directory on bpffs (mounting one at /sys/fs/bpf
// when none is), removed at cleanup.
func PinDir(t testing.TB) string {
	t.Helper()
	if _, err := kernfs.MountBPF("/sys/fs/bpf"); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/sys/fs/bpf", "paddock-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
