//go:build linux

// Package unixpin pins the unix sockets a policy lists. A listed path is a
// string; what it leads to can change after the sandbox starts (the
// workload renames the socket away and plants a symlink to docker.sock in
// its place). Pin resolves each listed path once, as root but following
// only symlinks no unprivileged user can have planted, and bind-mounts
// the socket it finds onto a file in a root-owned directory. The cgroup
// hooks then rewrite connections to the listed path to that mount: the
// string is matched, the pinned inode is reached.
//
// A socket that does not exist when the sandbox is created cannot be
// pinned, and stays unreachable for the sandbox's life.
package unixpin

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// MaxTarget bounds the length of a mount's path: the hooks carry it in a
// 64-byte field, NUL included.
const MaxTarget = 63

// Dir is a root-owned directory holding the mounts, one subdirectory per
// sandbox.
type Dir struct{ root string }

// Open makes root (mode 0755, owned by root, no symlink in the last
// component) if needed and returns it. Sandboxes must be able to search
// it; nobody but root may write it.
func Open(root string) (*Dir, error) {
	if !filepath.IsAbs(root) || filepath.Clean(root) != root {
		return nil, fmt.Errorf("unixpin: %q is not an absolute, clean path", root)
	}
	if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
		return nil, fmt.Errorf("unixpin: %w", err)
	}
	if err := unix.Mkdir(root, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("unixpin: %s: %w", root, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(root, &st); err != nil {
		return nil, fmt.Errorf("unixpin: %s: %w", root, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Uid != 0 {
		return nil, fmt.Errorf("unixpin: %s is not a directory owned by root", root)
	}
	if err := unix.Chmod(root, 0o755); err != nil {
		return nil, fmt.Errorf("unixpin: %s: %w", root, err)
	}
	// The longest name Pin makes: root/<16 hex digits>/<12 hex digits>.
	if len(root)+1+16+1+12 > MaxTarget {
		return nil, fmt.Errorf("unixpin: %s is too long: mounts below it would not fit a socket address rewrite (%d bytes)", root, MaxTarget)
	}
	return &Dir{root: root}, nil
}

// Root is the directory's path.
func (d *Dir) Root() string { return d.root }

func (d *Dir) set(id uint64) string { return filepath.Join(d.root, strconv.FormatUint(id, 16)) }

// target names the mount of path: a hash, so a daemon that restarts finds
// the same mount for the same listed path.
func (d *Dir) target(id uint64, path string) string {
	sum := sha256.Sum256([]byte(path))
	return filepath.Join(d.set(id), hex.EncodeToString(sum[:6]))
}

// Pin pins every path of paths for the sandbox id (its cgroup id). It
// returns the mount each pinned path is to be sent to, and for each path
// it could not pin, why (the socket is missing, is not a socket, or is
// reached through a symlink an unprivileged user could have made). A path
// pinned by an earlier Pin of the same sandbox keeps its mount: a
// restarted daemon must not resolve the path again, after the workload
// may have changed it.
func (d *Dir) Pin(id uint64, paths []string) (pinned map[string]string, refused map[string]error, err error) {
	dir := d.set(id)
	if err := unix.Mkdir(dir, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, nil, fmt.Errorf("unixpin: %s: %w", dir, err)
	}
	pinned, refused = map[string]string{}, map[string]error{}
	for _, p := range paths {
		t := d.target(id, p)
		if isMount(t) {
			pinned[p] = t
			continue
		}
		if err := pin(p, t); err != nil {
			refused[p] = err
			continue
		}
		pinned[p] = t
	}
	return pinned, refused, nil
}

// Unpin removes the sandbox's mounts.
func (d *Dir) Unpin(id uint64) error {
	dir := d.set(id)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("unixpin: %w", err)
	}
	var errs []error
	for _, e := range ents {
		t := filepath.Join(dir, e.Name())
		if err := unix.Unmount(t, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("unixpin: unmounting %s: %w", t, err))
			continue
		}
		if err := os.Remove(t); err != nil {
			errs = append(errs, fmt.Errorf("unixpin: %w", err))
		}
	}
	if len(errs) == 0 {
		if err := os.Remove(dir); err != nil {
			errs = append(errs, fmt.Errorf("unixpin: %w", err))
		}
	}
	return errors.Join(errs...)
}

// pin bind-mounts the socket at path onto target.
func pin(path, target string) error {
	fd, err := Resolve(path)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	tree, err := unix.OpenTree(fd, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("cloning the mount of %s: %w", path, err)
	}
	defer unix.Close(tree)
	// The mount point: an empty file only root can make here.
	f, err := unix.Open(target, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if errors.Is(err, unix.EEXIST) {
		// Left by a Pin that failed half-way, or an Unpin that could not
		// unmount: isMount said it holds no mount.
		if err := os.Remove(target); err != nil {
			return fmt.Errorf("%s: %w", target, err)
		}
		f, err = unix.Open(target, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", target, err)
	}
	unix.Close(f)
	if err := unix.MoveMount(tree, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		os.Remove(target)
		return fmt.Errorf("mounting %s on %s: %w", path, target, err)
	}
	return nil
}

// isMount reports whether target is the root of a mount.
func isMount(target string) bool {
	var sx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, target, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_TYPE, &sx); err != nil {
		return false
	}
	return sx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 && sx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0
}

// ErrUntrustedLink is returned for a path that goes through a symlink an
// unprivileged user could have made or replaced.
var ErrUntrustedLink = errors.New("goes through a symlink that is not root's in a directory only root can change; list the socket's real path")

// Resolve opens (O_PATH) the unix socket path names, one component at a
// time, never following a symlink unless root owns it and it sits in a
// directory where no one else can replace it (owned by root and not
// writable by group or others, or sticky). Directories on the way need no
// such trust: without a symlink, no rename can make a path lead to a
// socket the workload could not already name.
func Resolve(path string) (int, error) {
	if !filepath.IsAbs(path) || filepath.Clean(path) != path || strings.IndexByte(path, 0) >= 0 {
		return -1, fmt.Errorf("%q is not an absolute, clean path", path)
	}
	dir, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer func() { unix.Close(dir) }()
	comps := strings.Split(path[1:], "/")
	links := 0
	for len(comps) > 0 {
		c := comps[0]
		comps = comps[1:]
		if c == "" || c == "." {
			continue
		}
		fd, err := unix.Openat(dir, c, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, fmt.Errorf("%s: %w", path, err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("%s: %w", path, err)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			unix.Close(dir)
			dir = fd
		case unix.S_IFLNK:
			links++
			trusted := st.Uid == 0 && trustedParent(dir)
			var target string
			if trusted && links <= 40 {
				target, err = readlink(fd)
			}
			unix.Close(fd)
			switch {
			case !trusted:
				return -1, fmt.Errorf("%s %w", path, ErrUntrustedLink)
			case links > 40:
				return -1, fmt.Errorf("%s: %w", path, unix.ELOOP)
			case err != nil:
				return -1, fmt.Errorf("%s: %w", path, err)
			}
			if strings.HasPrefix(target, "/") {
				root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
				if err != nil {
					return -1, err
				}
				unix.Close(dir)
				dir = root
			}
			comps = append(strings.Split(strings.TrimPrefix(target, "/"), "/"), comps...)
		default:
			if len(comps) > 0 {
				unix.Close(fd)
				return -1, fmt.Errorf("%s: %w", path, unix.ENOTDIR)
			}
			if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
				unix.Close(fd)
				return -1, fmt.Errorf("%s is not a unix socket", path)
			}
			return fd, nil
		}
	}
	return -1, fmt.Errorf("%s is a directory, not a unix socket", path)
}

// trustedParent: a directory where only root can replace an entry root
// owns.
func trustedParent(dir int) bool {
	var st unix.Stat_t
	if unix.Fstat(dir, &st) != nil {
		return false
	}
	return st.Uid == 0 && (st.Mode&0o022 == 0 || st.Mode&unix.S_ISVTX != 0)
}

func readlink(fd int) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(fd, "", buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}
