// Package fence turns a bundle's filesystem section into the concrete fence
// of one launch: the grant roots Landlock gets (opened without following
// symlinks) and the existing entries inside those roots that deny rules
// match.
//
// Landlock can only allow: a rule on a directory grants its whole subtree,
// so a deny inside a granted tree (a .env in the workspace, .git/hooks) needs
// another mechanism. Without the daemon's BPF-LSM, the launcher starts the
// workload in its own mount namespace and mounts over every matching entry
// found at launch: an empty, unreadable, read-only file or directory for a
// full deny, a read-only view of the entry itself for a write deny, and the
// entry's parents pinned in place (a mount point cannot be renamed or
// removed) so the entry cannot be swapped out from above. This keeps the
// rest of the tree fully usable, which Landlock grants carved around each
// denied entry would not: a directory holding a denied entry could then no
// longer hold new files, which breaks git in every repository.
//
// What no launch-time mechanism covers, a denied name created after launch
// inside a writable tree, is listed in Plan.Uncovered.
package fence

import (
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Plan is the filesystem fence of one launch.
type Plan struct {
	Grants     []Grant   `json:"grants"`
	Skipped    []Skipped `json:"skipped"`
	Mounts     []Mount   `json:"mounts"`
	Uncovered  []string  `json:"uncovered"`  // one sentence each, for stderr and --explain
	Unsearched []string  `json:"unsearched"` // name patterns not searched in read-only system trees
	Entries    int       `json:"entries"`    // directory entries examined
}

// Grant is a grant root that exists and was opened without following a
// symlink.
type Grant struct {
	Path   string   `json:"path"`
	Access uint64   `json:"access"` // Landlock filesystem rights
	Rights []string `json:"rights"` // the same, named
	Dir    bool     `json:"dir"`
	Rule   string   `json:"rule"`
	// Note says why Access is narrower than the policy's grant.
	Note string `json:"note,omitempty"`
}

// Skipped is a grant the launch does not apply, and why.
type Skipped struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
	Rule   string `json:"rule"`
}

// Mount kinds.
const (
	Hide     = "hide"     // a full deny: an empty, unreadable, read-only entry covers it
	ReadOnly = "readonly" // a write deny: a read-only view of the entry itself
	Pin      = "pin"      // a parent of a read-only entry, mounted on itself so it cannot be renamed
)

// Mount is one mount the launch makes in the workload's mount namespace.
type Mount struct {
	Kind string `json:"kind"`
	Path string `json:"path"`
	Root string `json:"root"` // the grant root Path lies in; Path is resolved beneath it
	Dir  bool   `json:"dir"`
	Rule string `json:"rule,omitempty"`
}

// OpenNoFollow opens path with O_PATH, refusing a symbolic link in any
// component, so a grant always lands on the tree it names.
func OpenNoFollow(path string) (int, error) {
	if !filepath.IsAbs(path) {
		return -1, fmt.Errorf("%q is not absolute", path)
	}
	return unix.Openat2(unix.AT_FDCWD, path, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
}

// OpenBeneath opens path, which must lie under root (an O_PATH descriptor
// of the directory rootPath), without following symlinks or leaving root.
func OpenBeneath(rootfd int, rootPath, path string) (int, error) {
	rel, err := filepath.Rel(rootPath, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return -1, fmt.Errorf("%s is not under %s", path, rootPath)
	}
	return unix.Openat2(rootfd, rel, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
}
