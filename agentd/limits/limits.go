//go:build linux

// Package limits puts a sandbox's memory, pids and cpu limits in cgroup
// controllers: the cgroup2 ones where the unified hierarchy has them, the
// v1 hierarchies otherwise (hybrid hosts, where cgroup2 often carries no
// resource controller at all).
package limits

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/paddock-sh/paddock/internal/kernfs"
)

// Limits are a sandbox's resource limits; zero means none.
type Limits struct {
	MemoryBytes uint64
	Pids        uint32
	CPUMillis   uint32 // thousandths of one CPU
}

// Zero reports whether l sets nothing.
func (l Limits) Zero() bool { return l == Limits{} }

// Group is one sandbox's cgroups in the v1 hierarchies (for the v2 part,
// the limits are written into the sandbox's own cgroup2 directory).
type Group struct {
	dirs []string // v1 cgroup directories created, to add pids to and remove
}

const v1Root = "/sys/fs/cgroup"

// controller says where one controller lives on this host: "v2", "v1" or
// "" (absent).
func controller(name, cg2 string) string {
	b, err := os.ReadFile(filepath.Join(cg2, "cgroup.controllers"))
	if err == nil && slices.Contains(strings.Fields(string(b)), name) {
		return "v2"
	}
	if _, err := os.Stat(filepath.Join(v1Root, name, "cgroup.procs")); err == nil && cg2 != filepath.Join(v1Root, name) {
		return "v1"
	}
	return ""
}

// Apply creates the cgroups that carry l for the sandbox whose cgroup2
// directory is cg2dir (a child of a Paddock-owned directory named by
// parent). name names the sandbox's v1 directories. On error nothing is
// left behind. With l zero it does nothing.
func Apply(cg2dir, parent, name string, l Limits) (*Group, error) {
	g := &Group{}
	if l.Zero() {
		return g, nil
	}
	root, err := kernfs.Cgroup2Root()
	if err != nil {
		return nil, err
	}
	parentDir := filepath.Dir(cg2dir)
	type setting struct {
		ctrl, file, value string
	}
	var v1 []setting
	set := func(ctrl string, v2file, v2value string, v1s ...setting) error {
		switch controller(ctrl, root) {
		case "v2":
			// The controller must be enabled for the children of every
			// ancestor up to the sandbox.
			if err := enable(root, parentDir, ctrl); err != nil {
				return err
			}
			return write(filepath.Join(cg2dir, v2file), v2value)
		case "v1":
			v1 = append(v1, v1s...)
			return nil
		}
		return fmt.Errorf("limits: no %s controller on this host", ctrl)
	}
	if l.MemoryBytes > 0 {
		v := strconv.FormatUint(l.MemoryBytes, 10)
		if err := set("memory", "memory.max", v, setting{"memory", "memory.limit_in_bytes", v}); err != nil {
			return nil, err
		}
	}
	if l.Pids > 0 {
		v := strconv.FormatUint(uint64(l.Pids), 10)
		if err := set("pids", "pids.max", v, setting{"pids", "pids.max", v}); err != nil {
			return nil, err
		}
	}
	if l.CPUMillis > 0 {
		const period = 100000
		quota := uint64(l.CPUMillis) * period / 1000
		if err := set("cpu", "cpu.max", fmt.Sprintf("%d %d", quota, period),
			setting{"cpu", "cpu.cfs_period_us", strconv.Itoa(period)},
			setting{"cpu", "cpu.cfs_quota_us", strconv.FormatUint(quota, 10)}); err != nil {
			return nil, err
		}
	}
	for _, s := range v1 {
		dir := filepath.Join(v1Root, s.ctrl, parent, name)
		if !slices.Contains(g.dirs, dir) {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				g.Remove()
				return nil, fmt.Errorf("limits: %w", err)
			}
			g.dirs = append(g.dirs, dir)
		}
		if err := write(filepath.Join(dir, s.file), s.value); err != nil {
			g.Remove()
			return nil, err
		}
	}
	return g, nil
}

// Adopt finds the v1 directories an earlier Apply created for name.
func Adopt(parent, name string) *Group {
	g := &Group{}
	for _, ctrl := range []string{"memory", "pids", "cpu"} {
		dir := filepath.Join(v1Root, ctrl, parent, name)
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			g.dirs = append(g.dirs, dir)
		}
	}
	return g
}

// Add moves pid into the group's v1 cgroups. The launcher calls it before
// the workload runs (the shim waits for its spec), so no instruction of the
// workload runs unlimited.
func (g *Group) Add(pid int) error {
	for _, d := range g.dirs {
		if err := write(filepath.Join(d, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// Remove deletes the group's v1 directories, waiting briefly for exited
// processes to leave them.
func (g *Group) Remove() error {
	var errs []error
	for _, d := range g.dirs {
		errs = append(errs, kernfs.RemoveCgroup(d, 2*time.Second))
	}
	g.dirs = nil
	return errors.Join(errs...)
}

// enable turns ctrl on in cgroup.subtree_control from the cgroup2 root down
// to dir.
func enable(root, dir, ctrl string) error {
	rel, err := filepath.Rel(root, dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("limits: %s is not below %s", dir, root)
	}
	cur := root
	parts := []string{}
	if rel != "." {
		parts = strings.Split(rel, "/")
	}
	for i := 0; ; i++ {
		if err := write(filepath.Join(cur, "cgroup.subtree_control"), "+"+ctrl); err != nil {
			return err
		}
		if i == len(parts) {
			return nil
		}
		cur = filepath.Join(cur, parts[i])
	}
}

func write(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("limits: %w", err)
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("limits: writing %q to %s: %w", value, path, err)
	}
	return nil
}
