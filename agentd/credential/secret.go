// Package credential keeps the secrets a policy's credential blocks name
// out of the sandbox (decision D10 of DESIGN.md): it reads them for the
// daemon, decides which requests a secret is injected into, scrubs it
// from what comes back, and holds the local CA that lets the proxy
// terminate HTTPS to the bound hosts, and only to them.
package credential

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/compiler/bundle"
)

// maxSecret bounds a secret file; a token is far smaller.
const maxSecret = 16 << 10

// Owner is who a sandbox belongs to, as the kernel reported the caller
// that created it.
type Owner struct {
	UID uint32
}

// Load reads the secret of c for a sandbox of owner.
//
// A file is opened without following any symlink, and must be a regular
// file owned by the sandbox's owner (or by root) that no one else may
// read or write: the daemon reads as root, so a path a user names must not
// lend them root's files. Root-owned files and the daemon's environment
// are root's secrets: only root's sandboxes may bind them to hosts, or any
// user could send them anywhere.
func Load(c bundle.Credential, owner Owner) ([]byte, error) {
	scheme, rest, _ := strings.Cut(c.Source, ":")
	var secret []byte
	switch scheme {
	case "env":
		if owner.UID != 0 {
			return nil, fmt.Errorf("credential %s: source %s is the daemon's environment, which only root's sandboxes may use", c.Name, c.Source)
		}
		v, ok := os.LookupEnv(rest)
		if !ok || v == "" {
			return nil, fmt.Errorf("credential %s: the daemon's environment has no %s", c.Name, rest)
		}
		secret = []byte(v)
	case "file":
		b, err := readFile(rest, owner)
		if err != nil {
			return nil, fmt.Errorf("credential %s: %w", c.Name, err)
		}
		secret = b
	default:
		return nil, fmt.Errorf("credential %s: source %q is not file:/path or env:NAME", c.Name, c.Source)
	}
	secret = bytes.TrimRight(secret, "\r\n")
	if len(secret) < 8 {
		return nil, fmt.Errorf("credential %s: the secret from %s is shorter than 8 bytes; refusing a value that would match ordinary text", c.Name, c.Source)
	}
	for _, ch := range secret {
		if ch < 0x20 || ch == 0x7f {
			return nil, fmt.Errorf("credential %s: the secret from %s holds a control character, which no header may carry", c.Name, c.Source)
		}
	}
	if bytes.Contains(secret, []byte(bundle.PlaceholderFor(""))) {
		return nil, fmt.Errorf("credential %s: the secret from %s is itself a placeholder", c.Name, c.Source)
	}
	return secret, nil
}

func readFile(path string, owner Owner) ([]byte, error) {
	fd, err := unix.Openat2(unix.AT_FDCWD, path, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOCTTY | unix.O_NONBLOCK,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, fmt.Errorf("%s: a component of the path is a symlink; name the file itself", path)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return nil, fmt.Errorf("%s is not a regular file", path)
	case st.Uid != owner.UID && st.Uid != 0:
		return nil, fmt.Errorf("%s belongs to uid %d, not to the sandbox's owner (uid %d)", path, st.Uid, owner.UID)
	case st.Uid == 0 && owner.UID != 0:
		return nil, fmt.Errorf("%s belongs to root; only root's sandboxes may use root's secrets", path)
	case st.Mode&0o077 != 0:
		return nil, fmt.Errorf("%s has mode %04o; a secret file must be readable by its owner only (chmod 600)", path, st.Mode&0o7777)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecret+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > maxSecret {
		return nil, fmt.Errorf("%s is larger than %d bytes; that is not a token", path, maxSecret)
	}
	return b, nil
}
