// Package rig holds what the benchmarks under bench/ set up alike: a stack
// of undo steps run in reverse order, and C programs compiled at run time.
package rig

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Undo is a stack of cleanup steps.
type Undo []func() error

// Push adds a step; the last pushed runs first.
func (u *Undo) Push(f func() error) { *u = append(*u, f) }

// Run runs every step in reverse order, empties the stack, and reports
// what failed.
func (u *Undo) Run() error {
	var errs []error
	for i := len(*u) - 1; i >= 0; i-- {
		if err := (*u)[i](); err != nil {
			errs = append(errs, err)
		}
	}
	*u = nil
	return errors.Join(errs...)
}

// CompileC writes src to dir/name.c and builds dir/name with the first C
// compiler found (cc, gcc, clang) at -O2, linked with libs ("-lseccomp").
// It returns the program's path and the compiler, described for a report.
func CompileC(dir, name string, src []byte, libs ...string) (prog, compiler string, err error) {
	file := filepath.Join(dir, name+".c")
	if err := os.WriteFile(file, src, 0o644); err != nil {
		return "", "", err
	}
	for _, cc := range []string{"cc", "gcc", "clang"} {
		path, err := exec.LookPath(cc)
		if err != nil {
			continue
		}
		prog = filepath.Join(dir, name)
		args := append([]string{"-O2", "-Wall", "-o", prog, file}, libs...)
		if out, err := exec.Command(path, args...).CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("%s -O2 %s.c: %v\n%s", cc, name, err, out)
		}
		v, _ := exec.Command(path, "--version").Output()
		first, _, _ := strings.Cut(string(v), "\n")
		return prog, cc + " -O2 (" + strings.TrimSpace(first) + ")", nil
	}
	return "", "", errors.New("no C compiler (cc, gcc or clang) found; make deps installs clang")
}
