//go:build linux

// Package fsdeny lowers a bundle's filesystem deny rules, resolved for one
// launch, to the rules the BPF-LSM hooks match (bpf.FileRule): the one
// place where patterns become identities and anchored name tails.
//
// A pattern is split at its double star, if any:
//
//	/home/u/.ssh               identity of /home/u/.ssh (when it exists), and
//	                           the name ".ssh" in the directory /home/u (by
//	                           identity), so a .ssh created later is denied too
//	/home/u/.config/gcloud     (no .config yet) the tail .config/gcloud in /home/u
//	/etc/ssh/ssh_host_*_key    the glob ssh_host_*_key in /etc/ssh
//	**/.env*                   the glob .env* anywhere
//	**/.git/hooks              the tail .git/hooks anywhere
//	${workspace}/**/*.pem      the glob *.pem anywhere below the workspace
//
// What the hooks cannot express is reported, rule by rule, never dropped:
// more than one double star ("/a/**/b/**/c"), a wildcard before the double
// star ("/home/*/**/x"), a tail of more than bpf.MaxTail components, a
// directory before a double star that does not exist (nothing can be
// anchored to it), a path on overlayfs (whose inode numbers are not the
// kernel's), and rules beyond what one sandbox's maps hold. The launcher
// covers those with the Landlock complement expansion, or fails the launch.
package fsdeny

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/paddock-sh/paddock/bpf"
	"github.com/paddock-sh/paddock/compiler/bundle"
)

// Unsupported is a deny rule the hooks cannot enforce, and why.
type Unsupported struct {
	Index   int // in the deny list given to Lower
	Rule    bundle.Rule
	Pattern string
	Reason  string
}

func (u Unsupported) String() string {
	return fmt.Sprintf("%s: %q cannot be enforced by the BPF-LSM hooks: %s", u.Rule, u.Pattern, u.Reason)
}

// UnsupportedError lists the deny rules Lower could not lower.
type UnsupportedError struct {
	Rules []Unsupported
}

func (e *UnsupportedError) Error() string {
	msgs := make([]string, len(e.Rules))
	for i, u := range e.Rules {
		msgs[i] = u.String()
	}
	return "fsdeny: " + strings.Join(msgs, "; ")
}

// Limits bound the search for hard links inside denied directories.
type Limits struct {
	// MaxEntries is the number of directory entries examined in all.
	MaxEntries int
	// MaxDepth is the number of levels searched below a denied directory.
	MaxDepth int
}

// DefaultLimits keep lowering fast for credential directories, which are
// small; a search cut short is reported in Lowered.Notes.
var DefaultLimits = Limits{MaxEntries: 20000, MaxDepth: 16}

// Lowered is what Lower produces.
type Lowered struct {
	// Rules are what the hooks enforce, in the order of the deny list.
	Rules []bpf.FileRule
	// Notes say what is covered only in part (a cut search for hard
	// links), for the launch report.
	Notes []string
}

// Lower lowers deny, numbering deny[i] number(i) for events. It returns
// the rules it could lower and, when some could not be, an
// *UnsupportedError naming each of them: a caller without a fallback
// treats it as fatal, one with the Landlock complement covers those rules
// with it.
func Lower(deny []bundle.ResolvedDeny, number func(i int) uint32, lim Limits) (*Lowered, error) {
	out := &Lowered{}
	var bad []Unsupported
	budget := lim.MaxEntries
	for i, d := range deny {
		pat := d.Pattern.String()
		r, notes, err := lowerOne(pat, &budget, lim.MaxDepth)
		if err == nil {
			r.Rule = number(i)
			r.Source = fmt.Sprintf("%s %q", d.Rule, pat)
			r.WriteOnly = d.WriteOnly
			// What one sandbox's maps hold is checked with the rules
			// so far, so an overflow names the rule that caused it.
			if verr := bpf.ValidateFileRules(append(out.Rules, r)); verr != nil {
				err = verr
			}
		}
		if err != nil {
			bad = append(bad, Unsupported{Index: i, Rule: d.Rule, Pattern: pat, Reason: err.Error()})
			continue
		}
		out.Rules = append(out.Rules, r)
		for _, n := range notes {
			out.Notes = append(out.Notes, fmt.Sprintf("%s: %s", d.Rule, n))
		}
	}
	if bad != nil {
		return out, &UnsupportedError{Rules: bad}
	}
	return out, nil
}

// Check reports whether a pattern's shape can be lowered at all, whatever
// exists on disk: for policyc, before any path is resolved.
func Check(pattern string) error {
	comps, err := components(pattern)
	if err != nil {
		return err
	}
	_, _, err = split(comps)
	return err
}

func lowerOne(pattern string, budget *int, maxDepth int) (bpf.FileRule, []string, error) {
	var r bpf.FileRule
	comps, err := components(pattern)
	if err != nil {
		return r, nil, err
	}
	prefix, tail, err := split(comps)
	if err != nil {
		return r, nil, err
	}
	if tail != nil {
		// root/**/tail: below root, or anywhere.
		r.Tail = tail
		if len(prefix) == 0 {
			r.Anchor = bpf.AnchorAnywhere
			return r, nil, nil
		}
		dir := join(prefix)
		in, err := bpf.InodeOf(dir)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return r, nil, fmt.Errorf("%s does not exist, so nothing below it can be anchored to it", dir)
			}
			return r, nil, err
		}
		r.Anchor, r.Dir = bpf.AnchorBelow, in
		return r, nil, nil
	}
	// No double star: a literal prefix, then at most MaxTail components
	// hung from the deepest directory that exists.
	lit := len(comps)
	for i, c := range comps {
		if !literal(c) {
			lit = i
			break
		}
	}
	var notes []string
	if lit == len(comps) {
		path := join(comps)
		if in, err := bpf.InodeOf(path); err == nil {
			r.Inodes = append(r.Inodes, in)
			links, note := hardLinks(path, budget, maxDepth)
			r.Inodes = append(r.Inodes, links...)
			if note != "" {
				notes = append(notes, note)
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return r, nil, err
		}
	}
	// The deepest existing directory among the literal prefix's ancestors
	// (and the prefix itself when a glob follows it).
	top := lit
	if lit == len(comps) {
		top = lit - 1
	}
	for ; top >= 0; top-- {
		in, err := bpf.InodeOf(join(comps[:top]))
		if err == nil {
			r.Anchor, r.Dir = bpf.AnchorParent, in
			break
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return r, nil, err
		}
	}
	if top < 0 {
		return r, nil, errors.New("no directory on its path exists")
	}
	r.Tail = comps[top:]
	if len(r.Tail) > bpf.MaxTail {
		return r, nil, fmt.Errorf("%d components below %s, the deepest existing directory on its path; the hooks match at most %d",
			len(r.Tail), join(comps[:top]), bpf.MaxTail)
	}
	return r, notes, nil
}

// components splits a resolved pattern into its components, "**" first
// for a pattern matching at any depth; a trailing "**" (which denies the
// same as the directory before it) and repeated ones are dropped.
func components(pattern string) ([]string, error) {
	var body string
	switch {
	case strings.HasPrefix(pattern, "**/"):
		body = pattern
	case strings.HasPrefix(pattern, "/"):
		body = pattern[1:]
	default:
		return nil, fmt.Errorf("%q is neither absolute nor starts with **/", pattern)
	}
	var comps []string
	for c := range strings.SplitSeq(body, "/") {
		if c == "" {
			return nil, fmt.Errorf("%q has an empty component", pattern)
		}
		if c == "**" && len(comps) > 0 && comps[len(comps)-1] == "**" {
			continue
		}
		comps = append(comps, c)
	}
	for len(comps) > 0 && comps[len(comps)-1] == "**" {
		comps = comps[:len(comps)-1]
	}
	if len(comps) == 0 {
		return nil, fmt.Errorf("%q matches everything", pattern)
	}
	return comps, nil
}

// split checks the shape: at most one "**", preceded by literal
// components only, followed by at most MaxTail components. It returns the
// components before the "**" and those after it (tail is nil without one).
func split(comps []string) (prefix, tail []string, err error) {
	star := -1
	for i, c := range comps {
		if c != "**" {
			continue
		}
		if star >= 0 {
			return nil, nil, errors.New("more than one ** (the hooks anchor a tail once)")
		}
		star = i
	}
	if star < 0 {
		lit := len(comps)
		for i, c := range comps {
			if !literal(c) {
				lit = i
				break
			}
		}
		if n := len(comps) - lit; n > bpf.MaxTail {
			return nil, nil, fmt.Errorf("%d components from the first wildcard on; the hooks match at most %d", n, bpf.MaxTail)
		}
		return comps, nil, nil
	}
	for _, c := range comps[:star] {
		if !literal(c) {
			return nil, nil, fmt.Errorf("a wildcard (%q) before ** (the hooks anchor below one directory)", c)
		}
	}
	tail = comps[star+1:]
	if len(tail) > bpf.MaxTail {
		return nil, nil, fmt.Errorf("%d components after **; the hooks match at most %d", len(tail), bpf.MaxTail)
	}
	return comps[:star], tail, nil
}

// literal reports whether a component has no unescaped wildcard.
func literal(c string) bool {
	for i := 0; i < len(c); i++ {
		switch c[i] {
		case '\\':
			i++
		case '*', '?', '[':
			return false
		}
	}
	return true
}

func unescape(c string) string {
	if !strings.Contains(c, `\`) {
		return c
	}
	var b strings.Builder
	for i := 0; i < len(c); i++ {
		if c[i] == '\\' && i+1 < len(c) {
			i++
		}
		b.WriteByte(c[i])
	}
	return b.String()
}

// join makes the path of literal components.
func join(comps []string) string {
	parts := make([]string, len(comps))
	for i, c := range comps {
		parts[i] = unescape(c)
	}
	return "/" + strings.Join(parts, "/")
}

// hardLinks returns the identities of the files below dir that have more
// than one name: a hard link made before the rules, somewhere no rule
// names, would otherwise reach their content. Files with one name need no
// entry, since the hooks refuse linking a denied file. Symbolic links are
// not followed.
func hardLinks(dir string, budget *int, maxDepth int) ([]bpf.Inode, string) {
	st, err := os.Lstat(dir)
	if err != nil || !st.IsDir() {
		if err == nil && st.Mode().IsRegular() {
			return nil, "" // the file itself is denied by identity
		}
		return nil, ""
	}
	var out []bpf.Inode
	cut := ""
	base := strings.Count(dir, "/")
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if *budget <= 0 {
			cut = fmt.Sprintf("hard links below %s were searched only in part (entry limit)", dir)
			return filepath.SkipAll
		}
		*budget--
		if e.IsDir() {
			if strings.Count(p, "/")-base >= maxDepth {
				cut = fmt.Sprintf("hard links below %s were searched only %d levels deep", dir, maxDepth)
				return filepath.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return nil
		}
		if sys, ok := info.Sys().(*syscall.Stat_t); ok && sys.Nlink > 1 {
			if in, err := bpf.InodeOf(p); err == nil {
				out = append(out, in)
			}
		}
		return nil
	})
	return out, cut
}
