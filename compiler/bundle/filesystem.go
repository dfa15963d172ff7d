package bundle

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"

	"github.com/paddock-sh/paddock/compiler/pathglob"
)

// Filesystem is the filesystem section: Landlock grants (an allowlist of
// trees and the rights on each) and deny rules that win over any grant.
type Filesystem struct {
	Grants []Grant `json:"grants"`
	Deny   []Deny  `json:"deny"`
}

// Grant gives rights on a path template and everything below it.
type Grant struct {
	Path   string `json:"path"`
	Access Access `json:"access"`
	Rule   Rule   `json:"rule"`
}

// Deny refuses a path pattern (and everything below a match), for every
// access or, with WriteOnly, for changes only. Deny rules win over grants.
type Deny struct {
	Pattern   string `json:"pattern"`
	WriteOnly bool   `json:"write_only"`
	Rule      Rule   `json:"rule"`
}

// Access is a set of Landlock filesystem rights, with the kernel's bit values.
type Access uint64

// The rights, named as the bundle writes them.
var accessNames = []struct {
	bit  Access
	name string
}{
	{ll.AccessFSExecute, "execute"},
	{ll.AccessFSWriteFile, "write_file"},
	{ll.AccessFSReadFile, "read_file"},
	{ll.AccessFSReadDir, "read_dir"},
	{ll.AccessFSRemoveDir, "remove_dir"},
	{ll.AccessFSRemoveFile, "remove_file"},
	{ll.AccessFSMakeChar, "make_char"},
	{ll.AccessFSMakeDir, "make_dir"},
	{ll.AccessFSMakeReg, "make_reg"},
	{ll.AccessFSMakeSock, "make_sock"},
	{ll.AccessFSMakeFifo, "make_fifo"},
	{ll.AccessFSMakeBlock, "make_block"},
	{ll.AccessFSMakeSym, "make_sym"},
	{ll.AccessFSRefer, "refer"},
	{ll.AccessFSTruncate, "truncate"},
	{ll.AccessFSIoctlDev, "ioctl_dev"},
}

// What the policy's lists grant. Write includes read: a tree you may change
// is a tree you may read. Neither ever grants device creation (make_char,
// make_block); ioctl_dev only matters for device files, such as a terminal
// listed under write.
const (
	ReadAccess  Access = ll.AccessFSExecute | ll.AccessFSReadFile | ll.AccessFSReadDir
	WriteAccess Access = ReadAccess | ll.AccessFSWriteFile | ll.AccessFSRemoveDir | ll.AccessFSRemoveFile |
		ll.AccessFSMakeDir | ll.AccessFSMakeReg | ll.AccessFSMakeSock | ll.AccessFSMakeFifo | ll.AccessFSMakeSym |
		ll.AccessFSRefer | ll.AccessFSTruncate | ll.AccessFSIoctlDev
	// Changes is every right that alters the tree or a file's content.
	Changes Access = WriteAccess &^ ReadAccess
)

// Names lists the rights in a stable order.
func (a Access) Names() []string {
	var out []string
	for _, n := range accessNames {
		if a&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

func (a Access) String() string { return strings.Join(a.Names(), ",") }

func (a Access) MarshalJSON() ([]byte, error) {
	names := a.Names()
	if names == nil {
		names = []string{}
	}
	return json.Marshal(names)
}

func (a *Access) UnmarshalJSON(data []byte) error {
	var names []string
	if err := json.Unmarshal(data, &names); err != nil {
		return err
	}
	*a = 0
	for _, name := range names {
		i := slices.IndexFunc(accessNames, func(n struct {
			bit  Access
			name string
		}) bool {
			return n.name == name
		})
		if i < 0 {
			return fmt.Errorf("unknown filesystem right %q", name)
		}
		*a |= accessNames[i].bit
	}
	return nil
}

func (f *Filesystem) validate() error {
	for i, g := range f.Grants {
		if err := CheckTemplate(g.Path); err != nil {
			return fmt.Errorf("grants[%d]: %w", i, err)
		}
		if IsGlob(g.Path) {
			return fmt.Errorf("grants[%d]: %q is a pattern; grants are paths", i, g.Path)
		}
		if g.Access == 0 || g.Access&^WriteAccess != 0 {
			return fmt.Errorf("grants[%d]: rights %q are not a read or write grant", i, g.Access)
		}
	}
	for i, d := range f.Deny {
		if err := CheckTemplate(d.Pattern); err != nil {
			return fmt.Errorf("deny[%d]: %w", i, err)
		}
		if _, err := pathglob.Parse(SampleExpand(d.Pattern)); err != nil {
			return fmt.Errorf("deny[%d]: %w", i, err)
		}
	}
	return nil
}

// SampleExpand substitutes stand-in values (/__home__ for ${home}) so a
// template's path or pattern syntax can be checked before real values exist.
func SampleExpand(t string) string {
	s, _ := expand(t, func(name string) (string, error) { return "/__" + strings.ReplaceAll(name, ":", "_") + "__", nil })
	return s
}

// UnsampleText puts the variables back into a message about a sampled path.
func UnsampleText(msg string) string {
	for _, v := range TemplateVars {
		msg = strings.ReplaceAll(msg, "/__"+v+"__", "${"+v+"}")
	}
	return msg
}

// ResolvedFS is a filesystem section with every template resolved.
type ResolvedFS struct {
	Grants []ResolvedGrant
	Deny   []ResolvedDeny
}

// ResolvedGrant is a grant on a real path.
type ResolvedGrant struct {
	Path   string
	Access Access
	Rule   Rule
}

// ResolvedDeny is a deny rule with its pattern parsed.
type ResolvedDeny struct {
	Pattern   *pathglob.Pattern
	WriteOnly bool
	Rule      Rule
}

// Resolve turns templates into paths for one launch.
func (f *Filesystem) Resolve(v Vars) (*ResolvedFS, error) {
	r := &ResolvedFS{}
	for _, g := range f.Grants {
		p, err := Expand(g.Path, v, false)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", g.Rule, err)
		}
		if p == "/" && g.Access&Changes != 0 {
			return nil, fmt.Errorf("%s: %q resolves to / and would make the whole filesystem writable", g.Rule, g.Path)
		}
		r.Grants = append(r.Grants, ResolvedGrant{Path: p, Access: g.Access, Rule: g.Rule})
	}
	for _, d := range f.Deny {
		p, err := Expand(d.Pattern, v, true)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.Rule, err)
		}
		pat, err := pathglob.Parse(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.Rule, err)
		}
		r.Deny = append(r.Deny, ResolvedDeny{Pattern: pat, WriteOnly: d.WriteOnly, Rule: d.Rule})
	}
	return r, nil
}

// Verdicts of a decision.
const (
	VerdictAllow    = "allow"
	VerdictDeny     = "deny"
	VerdictRedirect = "redirect"
	VerdictAsk      = "ask"
)

// Decision is the outcome of one question put to a bundle.
type Decision struct {
	Verdict string
	Rule    *Rule  // the rule that decided; nil when nothing matched
	Reason  string // one sentence a person or an agent can act on
}

// Decide answers whether path may be read (write false) or changed (write
// true). Deny rules are checked first and win; then the grants covering the
// path must hold the needed right.
func (r *ResolvedFS) Decide(path string, write bool) Decision {
	path = filepath.Clean(path)
	for _, d := range r.Deny {
		if d.WriteOnly && !write {
			continue
		}
		if d.Pattern.Match(path) {
			what := "any access to"
			if d.WriteOnly {
				what = "changing"
			}
			return Decision{Verdict: VerdictDeny, Rule: &d.Rule, Reason: fmt.Sprintf("%s %s is denied by %q", what, path, d.Rule.Text)}
		}
	}
	need := Access(ll.AccessFSReadFile | ll.AccessFSReadDir)
	verb := "reading"
	if write {
		need, verb = ll.AccessFSWriteFile|ll.AccessFSMakeReg, "writing"
	}
	var best *ResolvedGrant
	for i, g := range r.Grants {
		if g.Access&need == 0 || !within(path, g.Path) {
			continue
		}
		if best == nil || len(g.Path) > len(best.Path) {
			best = &r.Grants[i]
		}
	}
	if best == nil {
		return Decision{Verdict: VerdictDeny, Reason: fmt.Sprintf("no grant allows %s %s", verb, path)}
	}
	return Decision{Verdict: VerdictAllow, Rule: &best.Rule, Reason: fmt.Sprintf("%s is under %s, granted %s", path, best.Path, best.Access)}
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	if dir == "/" {
		return true
	}
	return path == dir || strings.HasPrefix(path, dir+"/")
}
