//go:build linux

package limits

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/internal/kerneltest"
)

// TestPidsAndMemory: a shell in a sandbox limited to 8 tasks cannot start
// 20 background sleeps, and the memory limit is what the kernel reports.
func TestPidsAndMemory(t *testing.T) {
	kerneltest.Privileged(t)
	parent := kerneltest.UniqueName("paddock-limits-test")
	root := kerneltest.Cgroup(t, parent)
	sbx := kerneltest.Child(t, root, "sbx")
	g, err := Apply(sbx, parent, "sbx", Limits{Pids: 8, MemoryBytes: 64 << 20, CPUMillis: 500})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Remove(); err != nil {
			t.Error(err)
		}
		for _, ctrl := range []string{"memory", "pids", "cpu"} {
			os.Remove(filepath.Join(v1Root, ctrl, parent))
		}
	})

	fd, err := unix.Open(sbx, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	// The shell waits on stdin until it has been added to the v1 groups,
	// as the shim waits for its spec.
	cmd := exec.Command("/bin/sh", "-c", `read go; n=0; for i in $(seq 20); do sleep 1 & if [ $? = 0 ]; then n=$((n+1)); fi; done; echo started; cat /proc/self/cgroup; kill $(jobs -p) 2>/dev/null; wait`)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := g.Add(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	in.Write([]byte("go\n"))
	in.Close()
	cmd.Wait()
	if !strings.Contains(out.String(), "fork") && !strings.Contains(out.String(), "Resource temporarily unavailable") {
		t.Fatalf("20 background processes started under pids.max 8:\n%s", out.String())
	}
	for _, d := range g.dirs {
		if strings.Contains(d, "/memory/") {
			b, _ := os.ReadFile(filepath.Join(d, "memory.limit_in_bytes"))
			if v, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); v != 64<<20 {
				t.Fatalf("memory.limit_in_bytes = %q", b)
			}
		}
	}
}
