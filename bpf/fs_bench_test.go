//go:build linux

package bpf

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/internal/kerneltest"
)

// benchRules are 22 rules shaped like the base policy's: credential
// directories and files by path, secrets by name anywhere, write-only
// shell files and git hooks.
func (e *fsEnv) benchRules() []FileRule {
	for _, p := range []string{"home/.ssh/", "home/.gnupg/", "home/.aws/", "home/.kube/", "home/.config/gh/", "home/.docker/"} {
		e.path(p)
	}
	e.path("home/.netrc", "x")
	e.path("home/.bashrc", "x")
	e.path("home/.profile", "x")
	var rules []FileRule
	n := uint32(0)
	add := func(r FileRule) {
		n++
		r.Rule = n
		rules = append(rules, r)
	}
	home := e.ino("home")
	for _, p := range []string{".ssh", ".gnupg", ".aws", ".kube", ".netrc", ".bashrc", ".profile"} {
		add(FileRule{Inodes: []Inode{e.ino("home/" + p)}, Tail: []string{p}, Anchor: AnchorParent, Dir: home, WriteOnly: p == ".bashrc" || p == ".profile"})
	}
	add(FileRule{Inodes: []Inode{e.ino("home/.config/gh")}, Tail: []string{"gh"}, Anchor: AnchorParent, Dir: e.ino("home/.config")})
	add(FileRule{Tail: []string{"config.json"}, Anchor: AnchorParent, Dir: e.ino("home/.docker")})
	add(FileRule{Tail: []string{".gcloud", "credentials.db"}, Anchor: AnchorParent, Dir: e.ino("home/.config")})
	for _, g := range []string{".npmrc", ".pypirc", ".env*", "*.pem", "*.key", "*-service-account.json"} {
		add(FileRule{Tail: []string{g}})
	}
	add(FileRule{Tail: []string{".git", "hooks"}, WriteOnly: true})
	add(FileRule{Tail: []string{".git", "config"}, WriteOnly: true})
	add(FileRule{Tail: []string{".claude", "settings.json"}, WriteOnly: true})
	add(FileRule{Tail: []string{".vscode"}, WriteOnly: true})
	add(FileRule{Tail: []string{"secret-*.txt"}, Anchor: AnchorBelow, Dir: e.ino("ws")})
	return rules
}

// BenchmarkFileRuleWalk times, in the kernel, the walk the filesystem hooks
// run for a sandboxed open of a file eight components deep: with the 22
// rules of benchRules, and with none. It runs without BPF-LSM, through
// fs_check_file.
func BenchmarkFileRuleWalk(b *testing.B) {
	e := newFSEnv(b)
	e.path("ws/src/pkg/module/file.go", "package module")
	rules := e.benchRules()
	f, err := os.OpenFile(filepath.Join(e.dir, "ws/src/pkg/module/file.go"), unix.O_PATH, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	for _, c := range []struct {
		name  string
		rules []FileRule
	}{{"rules=22", rules}, {"rules=0", nil}} {
		b.Run(c.name, func(b *testing.B) {
			if err := e.h.PutFileRules(e.cg, c.rules); err != nil && !strings.Contains(err.Error(), "not enforced") {
				b.Fatal(err)
			}
			const per = 10000
			var total float64
			for b.Loop() {
				q := hooksFsQuery{Owner: e.cg, Tgid: uint32(os.Getpid()), Fd: uint32(f.Fd()), Op: fsQOpen, Repeat: per}
				a, err := e.h.ask(q)
				if err != nil || a.Found == 0 || a.Ret != 0 {
					b.Fatalf("%+v %v", a.hooksFsAnswer, err)
				}
				total += float64(a.Ns) / per
			}
			b.ReportMetric(total/float64(b.N), "ns/walk")
		})
	}
}

// BenchmarkFileOpen times open+close of the same file by a process outside
// Paddock's cgroup subtree, by one in the subtree but in no sandbox, and
// by sandboxed ones with no file rules and with the 22 of benchRules. It
// needs the filesystem hooks attached (BPF-LSM); the baseline without any
// hook attached is "unhooked".
//
//	go test -run '^$' -bench BenchmarkFileOpen ./bpf/
func BenchmarkFileOpen(b *testing.B) {
	e := newLSMEnv(b)
	file := e.path("ws/src/pkg/module/file.go", "package module")
	rules := e.benchRules()
	bare := kerneltest.Child(b, e.root, "bare")
	bareID, err := CgroupID(bare)
	if err != nil {
		b.Fatal(err)
	}
	if err := e.h.PutFileRules(bareID, nil); err != nil {
		b.Fatal(err)
	}
	if err := e.h.PutFileRules(e.cg, rules); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, dir string }{
		{"outside", ""}, {"subtree-no-sandbox", e.stranger}, {"sandbox-rules=0", bare}, {"sandbox-rules=22", e.sbx},
	} {
		b.Run(c.name, func(b *testing.B) {
			var ns float64
			for b.Loop() {
				out := e.sh(c.dir, "openloop", "20000", file)
				v, err := strconv.ParseFloat(strings.TrimPrefix(out, "ok "), 64)
				if err != nil {
					b.Fatal(out)
				}
				ns += v
			}
			b.ReportMetric(ns/float64(b.N), "ns/open")
		})
	}
}
