package fence

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/agentd/landlock"
)

// Apply makes the plan's mounts. The caller must be alone in a mount
// namespace of its own and able to mount in it (root, or the owner of a new
// user namespace). Every target is resolved beneath its grant root without
// following symlinks, after the mounts above it are in place.
func (p *Plan) Apply() error {
	if len(p.Mounts) == 0 {
		return nil
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making the mount namespace private: %w", err)
	}
	empty, err := emptySource()
	if err != nil {
		return err
	}
	defer unix.Close(empty)
	roots := map[string]int{}
	defer func() {
		for _, fd := range roots {
			unix.Close(fd)
		}
	}()
	for _, m := range p.Mounts {
		rootfd, ok := roots[m.Root]
		if !ok {
			if rootfd, err = OpenNoFollow(m.Root); err != nil {
				return fmt.Errorf("%s: opening grant root %s: %w", m.Rule, m.Root, err)
			}
			roots[m.Root] = rootfd
		}
		if err := mountOne(m, rootfd, empty); err != nil {
			return err
		}
	}
	return nil
}

func mountOne(m Mount, rootfd, empty int) error {
	target, err := OpenBeneath(rootfd, m.Root, m.Path)
	if errors.Is(err, unix.ENOENT) {
		return nil // gone since the plan was made: nothing left to protect
	}
	if err != nil {
		return fmt.Errorf("%s: %s: %w", m.Kind, m.Path, err)
	}
	defer unix.Close(target)
	var st unix.Stat_t
	if err := unix.Fstat(target, &st); err != nil {
		return fmt.Errorf("%s: %w", m.Path, err)
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	var from int
	switch m.Kind {
	case Hide:
		name := "f"
		if isDir {
			name = "d"
		}
		from, err = unix.OpenTree(empty, name, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	case ReadOnly, Pin:
		from, err = unix.OpenTree(target, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH|unix.AT_RECURSIVE)
		if err == nil && m.Kind == ReadOnly {
			err = unix.MountSetattr(from, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY})
			if err != nil {
				unix.Close(from)
			}
		}
	default:
		return fmt.Errorf("unknown mount kind %q", m.Kind)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", m.Kind, m.Path, err)
	}
	defer unix.Close(from)
	if err := unix.MoveMount(from, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("%s %s: move_mount: %w", m.Kind, m.Path, err)
	}
	return nil
}

// emptySource builds a tiny read-only tmpfs holding an empty file "f" and
// an empty directory "d", both mode 0: what a hidden entry shows instead.
// Without capabilities nobody can open either, and nothing can be written.
func emptySource() (int, error) {
	fs, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen(tmpfs): %w", err)
	}
	defer unix.Close(fs)
	for _, kv := range [][2]string{{"size", "4k"}, {"nr_inodes", "8"}, {"mode", "700"}} {
		if err := unix.FsconfigSetString(fs, kv[0], kv[1]); err != nil {
			return -1, fmt.Errorf("tmpfs %s=%s: %w", kv[0], kv[1], err)
		}
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, fmt.Errorf("tmpfs: %w", err)
	}
	mnt, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsmount(tmpfs): %w", err)
	}
	if err := unix.Mkdirat(mnt, "d", 0); err != nil {
		unix.Close(mnt)
		return -1, fmt.Errorf("empty directory: %w", err)
	}
	f, err := unix.Openat(mnt, "f", unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(mnt)
		return -1, fmt.Errorf("empty file: %w", err)
	}
	unix.Close(f)
	if err := unix.MountSetattr(mnt, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
		unix.Close(mnt)
		return -1, fmt.Errorf("read-only tmpfs: %w", err)
	}
	return mnt, nil
}

// Landlock adds a rule for every grant root, opened again here (in the
// workload's mount namespace) without following symlinks. A root that has
// vanished since the plan was made is left out: fewer grants, never more.
func (p *Plan) Landlock(rs *landlock.Ruleset) error {
	for _, g := range p.Grants {
		fd, err := OpenNoFollow(g.Path)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: opening %s: %w", g.Rule, g.Path, err)
		}
		var st unix.Stat_t
		if err = unix.Fstat(fd, &st); err == nil {
			err = rs.AllowPath(fd, uint64(g.Access), st.Mode&unix.S_IFMT == unix.S_IFDIR)
		}
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", g.Rule, g.Path, err)
		}
	}
	return nil
}
