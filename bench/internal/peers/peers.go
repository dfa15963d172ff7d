// Package peers builds and describes the tools the benchmarks compare
// Paddock with: a Docker-default-like seccomp allowlist (our own libseccomp
// program, csrc/docker_like.c), bubblewrap and firejail.
package peers

import (
	_ "embed"
	"os/exec"

	"github.com/paddock-sh/paddock/bench/internal/rig"
)

//go:embed csrc/docker_like.c
var dockerLikeC []byte

// BuildDockerLike compiles csrc/docker_like.c into dir with libseccomp. The
// program exports its filter (`docker_like -o FILE`) or installs it and
// runs a command (`docker_like -- CMD...`). It fails where libseccomp's
// headers are missing (make deps installs libseccomp-dev).
func BuildDockerLike(dir string) (prog, compiler string, err error) {
	return rig.CompileC(dir, "docker_like", dockerLikeC, "-lseccomp")
}

// Firejail is firejail's command line for its default profile
// (/etc/firejail/default.profile: its seccomp filters, caps.drop all,
// nonewprivs, a socket protocol filter, namespaces) with argv, or nil
// where firejail is not installed. Plain `firejail` as root picks
// server.profile instead, which hides /tmp.
func Firejail(argv ...string) []string {
	path, err := exec.LookPath("firejail")
	if err != nil {
		return nil
	}
	return append([]string{path, "--quiet", "--profile=default"}, argv...)
}
