package eventlog

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// dir is the log directory, held open so that every file is reached by a
// single name relative to it, never through a symlink.
type dir struct {
	f    *os.File
	rc   syscall.RawConn
	path string // for messages
}

// openDir creates path (0700) if it is missing and opens it. It refuses a
// symlink, a directory owned by another user, and one that others may
// write to: whoever can write there can plant or swap segments.
func openDir(path string) (*dir, error) {
	if path == "" {
		return nil, errors.New("eventlog: empty directory path")
	}
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(path, 0o700); err != nil {
			return nil, fmt.Errorf("eventlog: %w", err)
		}
	}
	fd, err := openRetry(func() (int, error) {
		return unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return nil, fmt.Errorf("eventlog: %s is a symlink or not a directory", path)
		}
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if err := checkOwner(&st, unix.S_IFDIR); err != nil {
		f.Close()
		return nil, fmt.Errorf("eventlog: directory %s %w", path, err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("eventlog: %w", err)
	}
	return &dir{f: f, rc: rc, path: path}, nil
}

// checkOwner requires the given file type, the caller's effective uid as
// owner, and no write permission for group or others.
func checkOwner(st *unix.Stat_t, typ uint32) error {
	switch {
	case st.Mode&unix.S_IFMT != typ:
		return errors.New("is not of the expected file type")
	case st.Uid != uint32(os.Geteuid()):
		return fmt.Errorf("is owned by uid %d, not %d", st.Uid, os.Geteuid())
	case st.Mode&0o022 != 0:
		return fmt.Errorf("is writable by group or others (mode %#o)", st.Mode&0o7777)
	}
	return nil
}

func openRetry(open func() (int, error)) (int, error) {
	for {
		fd, err := open()
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// control runs fn with the directory's descriptor, which cannot be closed
// (and its number reused) while fn runs.
func (d *dir) control(fn func(dfd int)) error {
	if err := d.rc.Control(func(dfd uintptr) { fn(int(dfd)) }); err != nil {
		return ErrClosed
	}
	return nil
}

// open opens a regular file in the directory without following a symlink.
// O_NONBLOCK keeps a planted FIFO from hanging the open.
func (d *dir) open(name string, flags int, perm uint32) (*os.File, error) {
	var fd int
	var err error
	if cerr := d.control(func(dfd int) {
		fd, err = openRetry(func() (int, error) {
			return unix.Openat(dfd, name, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, perm)
		})
	}); cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fstat", Path: name, Err: err}
	}
	if err := checkOwner(&st, unix.S_IFREG); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("eventlog: segment %s %w", name, err)
	}
	// A regular file: plain blocking I/O from here.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fcntl", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// stat describes a directory entry without following a symlink.
func (d *dir) stat(name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	var err error
	if cerr := d.control(func(dfd int) {
		err = unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	}); cerr != nil {
		return st, cerr
	}
	if err != nil {
		return st, &os.PathError{Op: "stat", Path: name, Err: err}
	}
	return st, nil
}

func (d *dir) remove(name string) error {
	var err error
	if cerr := d.control(func(dfd int) { err = unix.Unlinkat(dfd, name, 0) }); cerr != nil {
		return cerr
	}
	if err != nil {
		return &os.PathError{Op: "unlink", Path: name, Err: err}
	}
	return nil
}

func (d *dir) sync() error {
	var err error
	if cerr := d.control(func(dfd int) { err = unix.Fsync(dfd) }); cerr != nil {
		return cerr
	}
	return err
}

// names lists the directory through a fresh open of ".", which has its own
// read offset.
func (d *dir) names() ([]string, error) {
	var fd int
	var err error
	if cerr := d.control(func(dfd int) {
		fd, err = openRetry(func() (int, error) {
			return unix.Openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		})
	}); cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: d.path, Err: err}
	}
	f := os.NewFile(uintptr(fd), d.path)
	defer f.Close()
	return f.Readdirnames(-1)
}

func (d *dir) close() error { return d.f.Close() }

// segName is the file name of the segment whose first record has seq.
func segName(first uint64) string { return fmt.Sprintf("%020d.log", first) }

// parseSegName returns the first seq of a segment file name.
func parseSegName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, ".log")
	if !ok || len(digits) != 20 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || n == 0 {
		return 0, false
	}
	return n, true
}
