//go:build linux

package bpf

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// ErrNoBPFLSM is wrapped by the errors that say the filesystem hooks are
// not loaded or not attached: the kernel lacks BPF-LSM, or refuses the
// BPF trampolines LSM programs attach through.
var ErrNoBPFLSM = errors.New("bpf: BPF-LSM filesystem hooks unavailable")

// ErrNotEnforced is returned by PutFileRules when the rules were written
// but no filesystem hook is attached to enforce them. It wraps the reason.
var ErrNotEnforced = errors.New("bpf: file rules written but not enforced")

// FileEnforcement returns nil when the filesystem hooks are attached, and
// otherwise why not (an error wrapping ErrNoBPFLSM).
func (h *Hooks) FileEnforcement() error { return h.lsmErr }

// Limits of one sandbox's file rules, fixed by the C side (fs.h).
const (
	// MaxTail is the number of components a rule's Tail may have.
	MaxTail = 4
	// MaxAutomatonRules bounds the rules that need the in-kernel automaton:
	// tails of more than one component, glob components, and tails anchored
	// below a directory.
	MaxAutomatonRules = 64
	// MaxGlobs bounds the glob components of one sandbox's rules.
	MaxGlobs = 16
	// MaxGlobElems bounds the elements of one glob component (a literal
	// byte, '?', '*' or a class each).
	MaxGlobElems = 32
	// MaxClasses bounds the distinct [...] classes of one sandbox's rules.
	MaxClasses = 8
)

// Inode is the kernel's identity of a filesystem object: its superblock's
// device number (the kernel's dev_t, major<<20 | minor) and its inode
// number.
type Inode struct {
	Dev uint32
	Ino uint64
}

func (i Inode) String() string { return fmt.Sprintf("%d:%d/%d", i.Dev>>20, i.Dev&(1<<20-1), i.Ino) }

// Anchor says where a rule's tail must lie.
type Anchor uint8

// Anchors.
const (
	// AnchorAnywhere: the tail matches at any depth ("**/.env*").
	AnchorAnywhere Anchor = iota
	// AnchorParent: the tail's first component is an entry of Dir
	// ("/etc/ssh/ssh_host_*_key", or a literal path not yet created).
	AnchorParent
	// AnchorBelow: the tail's first component is anywhere below Dir
	// ("${workspace}/**/*.pem").
	AnchorBelow
)

// FileRule is one deny rule in the form the filesystem hooks match (see
// package agentd/fsdeny for the lowering from a bundle's deny patterns).
// An object is denied when it, or any directory above it, is one of
// Inodes or matches Tail where Anchor puts it.
type FileRule struct {
	// Rule is the caller's rule number, reported in events.
	Rule uint32
	// Source names the rule in error messages ("filesystem.deny[3] ...").
	Source string
	// WriteOnly refuses changes only: opening for writing, truncating,
	// creating, linking, renaming and removing. Reads are allowed.
	WriteOnly bool
	// Inodes are existing objects denied by identity, with their
	// subtrees: whatever name, hard link, bind mount or mount namespace
	// reaches them.
	Inodes []Inode
	// Tail is the last components of the rule's pattern, top-down, each in
	// pathglob syntax for one component (a literal name, or a glob with
	// '*', '?' and [...] classes, '\' escaping). Empty for a rule of
	// identities only.
	Tail []string
	// Anchor and Dir place the tail.
	Anchor Anchor
	Dir    Inode
}

func (r *FileRule) name() string {
	if r.Source != "" {
		return r.Source
	}
	return fmt.Sprintf("rule %d", r.Rule)
}

// Flags of fs_name_val and fs_inode_val.
const (
	fsDeny      = 1 << 0
	fsWriteOnly = 1 << 1
	fsPin       = 1 << 2
)

// Glob element kinds.
const (
	geLit   = 1
	geAny   = 2
	geStar  = 3
	geClass = 4
)

const (
	globFirst = 1 << 0
	globLast  = 1 << 1
)

const filterBits = 16 * 64

// The name and identity hashes of fs.h.
const (
	k1 = 0x9e3779b97f4a7c15
	k2 = 0xff51afd7ed558ccd
	k3 = 0xc4ceb9fe1a85ec53
)

func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= k3
	h ^= h >> 33
	return h
}

// nameHash is fs.h's hash of a component name.
func nameHash(name string) uint64 {
	h := uint64(k1) ^ uint64(len(name))
	var w [8]byte
	for i := 0; i < len(name); i += 8 {
		clear(w[:])
		copy(w[:], name[i:min(i+8, len(name))])
		h = (h ^ binary.LittleEndian.Uint64(w[:])) * k2
		h ^= h >> 29
	}
	return mix(h)
}

func keyHash(dev uint32, ino uint64) uint64 {
	return mix((ino ^ uint64(dev)<<32 ^ k1) * k2)
}

func setFilter(f *[16]uint64, h uint64) { f[(h>>6)&15] |= 1 << (h & 63) }

// component is one parsed tail component.
type component struct {
	lit   string // literal name, when glob is nil
	glob  []globElem
	class [][32]byte
}

type globElem struct {
	kind uint8
	val  byte
	set  [32]byte // kind geClass
}

// parseComponent parses one component in pathglob syntax. Patterns reach
// here already validated by pathglob.Parse; the errors are for callers
// who build FileRules by hand.
func parseComponent(c string) (component, error) {
	if c == "" || c == "**" || strings.Contains(c, "/") {
		return component{}, fmt.Errorf("component %q is not one name or glob", c)
	}
	var elems []globElem
	wild := false
	for i := 0; i < len(c); i++ {
		switch c[i] {
		case '\\':
			if i+1 == len(c) {
				return component{}, fmt.Errorf("component %q ends with an escape", c)
			}
			i++
			elems = append(elems, globElem{kind: geLit, val: c[i]})
		case '?':
			elems = append(elems, globElem{kind: geAny})
			wild = true
		case '*':
			if n := len(elems); n > 0 && elems[n-1].kind == geStar {
				continue // "**" inside a name is rejected by pathglob; as a glob it is one star
			}
			elems = append(elems, globElem{kind: geStar})
			wild = true
		case '[':
			set, n, err := parseClass(c[i:])
			if err != nil {
				return component{}, fmt.Errorf("component %q: %w", c, err)
			}
			elems = append(elems, globElem{kind: geClass, set: set})
			wild = true
			i += n - 1
		default:
			elems = append(elems, globElem{kind: geLit, val: c[i]})
		}
	}
	if !wild {
		b := make([]byte, len(elems))
		for i, e := range elems {
			b[i] = e.val
		}
		name := string(b)
		if name == "." || name == ".." || len(name) > 255 {
			return component{}, fmt.Errorf("component %q is no file name", c)
		}
		return component{lit: name}, nil
	}
	return component{glob: elems}, nil
}

func parseClass(s string) ([32]byte, int, error) {
	var set [32]byte
	i := 1
	negate := false
	if i < len(s) && s[i] == '!' {
		negate = true
		i++
	}
	next := func() (byte, error) {
		if i >= len(s) {
			return 0, errors.New("unterminated class")
		}
		b := s[i]
		if b == '\\' {
			i++
			if i >= len(s) {
				return 0, errors.New("unterminated class")
			}
			b = s[i]
		}
		i++
		return b, nil
	}
	empty := true
	for {
		if i >= len(s) {
			return set, 0, errors.New("unterminated class")
		}
		if s[i] == ']' {
			i++
			break
		}
		lo, err := next()
		if err != nil {
			return set, 0, err
		}
		hi := lo
		if i+1 < len(s) && s[i] == '-' && s[i+1] != ']' {
			i++
			if hi, err = next(); err != nil {
				return set, 0, err
			}
			if hi < lo {
				return set, 0, errors.New("reversed range in a class")
			}
		}
		for c := int(lo); c <= int(hi); c++ {
			set[c>>3] |= 1 << (c & 7)
		}
		empty = false
	}
	if empty {
		return set, 0, errors.New("empty class")
	}
	if negate {
		for j := range set {
			set[j] = ^set[j]
		}
	}
	return set, i, nil
}

// matchGlob is the C matcher (fs_glob_step) in Go, for tests.
func matchGlob(elems []globElem, name string) bool {
	ei, ni := 0, 0
	se, sn := -1, 0
	for ei < len(elems) || ni < len(name) {
		if ei < len(elems) {
			e := elems[ei]
			if e.kind == geStar {
				ei++
				se, sn = ei, ni
				continue
			}
			if ni < len(name) {
				c := name[ni]
				if (e.kind == geLit && c == e.val) || e.kind == geAny || (e.kind == geClass && e.set[c>>3]>>(c&7)&1 == 1) {
					ei++
					ni++
					continue
				}
			}
		}
		if se < 0 || sn >= len(name) {
			return false
		}
		sn++
		ei, ni = se, sn
	}
	return true
}

// compiled is one sandbox's rules as map entries.
type compiled struct {
	policy hooksFsPolicy
	names  map[hooksFsNameKey]*hooksFsNameVal
	inodes map[hooksFsInodeKey]*hooksFsInodeVal
}

func compileRules(cg uint64, gen uint32, rules []FileRule) (*compiled, error) {
	c := &compiled{names: map[hooksFsNameKey]*hooksFsNameVal{}, inodes: map[hooksFsInodeKey]*hooksFsInodeVal{}}
	p := &c.policy
	p.Gen = gen
	var classes [][32]byte
	bits := 0
	inode := func(i Inode) *hooksFsInodeVal {
		k := hooksFsInodeKey{Cgroup: cg, Ino: i.Ino, Dev: i.Dev, Gen: gen}
		v := c.inodes[k]
		if v == nil {
			v = &hooksFsInodeVal{}
			c.inodes[k] = v
			setFilter(&p.KeyFilter, keyHash(i.Dev, i.Ino))
		}
		return v
	}
	name := func(parent Inode, h uint64) *hooksFsNameVal {
		k := hooksFsNameKey{Cgroup: cg, ParentIno: parent.Ino, ParentDev: parent.Dev, Gen: gen, Hash: h}
		v := c.names[k]
		if v == nil {
			v = &hooksFsNameVal{}
			c.names[k] = v
			setFilter(&p.NameFilter, h)
		}
		return v
	}
	// deny merges a rule into an entry that denies by itself: a rule
	// denying every access wins over a write-only one.
	deny := func(rule uint32, writeOnly bool, r *uint32, flags *uint32) {
		switch {
		case *flags&fsDeny == 0:
			*r = rule
			*flags |= fsDeny
			if writeOnly {
				*flags |= fsWriteOnly
			}
		case *flags&fsWriteOnly != 0 && !writeOnly:
			*r = rule
			*flags &^= fsWriteOnly
		}
	}
	for i := range rules {
		r := &rules[i]
		for _, in := range r.Inodes {
			v := inode(in)
			deny(r.Rule, r.WriteOnly, &v.Rule, &v.Flags)
		}
		if len(r.Tail) == 0 {
			if len(r.Inodes) == 0 {
				return nil, fmt.Errorf("bpf: %s: neither identities nor names to match", r.name())
			}
			continue
		}
		if len(r.Tail) > MaxTail {
			return nil, fmt.Errorf("bpf: %s: %d components after the anchor; the hooks match at most %d", r.name(), len(r.Tail), MaxTail)
		}
		comps := make([]component, len(r.Tail))
		glob := false
		for j, t := range r.Tail {
			cp, err := parseComponent(t)
			if err != nil {
				return nil, fmt.Errorf("bpf: %s: %w", r.name(), err)
			}
			comps[j] = cp
			glob = glob || cp.glob != nil
		}
		switch r.Anchor {
		case AnchorAnywhere, AnchorParent, AnchorBelow:
		default:
			return nil, fmt.Errorf("bpf: %s: unknown anchor %d", r.name(), r.Anchor)
		}
		if len(comps) == 1 && !glob && r.Anchor != AnchorBelow {
			// One literal name, anywhere or in one directory: an entry
			// that denies by itself.
			var parent Inode
			if r.Anchor == AnchorParent {
				parent = r.Dir
				// The directory the name is looked for in must stay
				// where it is, or the sandbox could move it away and
				// create the name in a new one.
				if v := inode(r.Dir); v.Flags&fsPin == 0 {
					v.Flags |= fsPin
					v.PinRule = r.Rule
				}
			}
			v := name(parent, nameHash(comps[0].lit))
			deny(r.Rule, r.WriteOnly, &v.Rule, &v.Flags)
			continue
		}
		if bits == MaxAutomatonRules {
			return nil, fmt.Errorf("bpf: %s: more than %d rules with globs, several components or a directory to lie below", r.name(), MaxAutomatonRules)
		}
		bit := uint64(1) << bits
		p.Rule[bits] = r.Rule
		p.LenMask[len(comps)-1] |= bit
		if r.WriteOnly {
			p.WriteMask |= bit
		}
		switch r.Anchor {
		case AnchorAnywhere:
			p.RootMask |= bit
		case AnchorParent:
			p.ParentMask |= bit
			inode(r.Dir).ParentBits |= bit
		case AnchorBelow:
			p.BelowMask |= bit
			inode(r.Dir).BelowBits |= bit
		}
		for j, cp := range comps {
			stage := len(comps) - 1 - j // 0 is the last component
			if cp.glob == nil {
				name(Inode{}, nameHash(cp.lit)).Bits[stage] |= bit
				continue
			}
			if int(p.Nglobs) == MaxGlobs {
				return nil, fmt.Errorf("bpf: %s: more than %d glob components", r.name(), MaxGlobs)
			}
			if len(cp.glob) > MaxGlobElems {
				return nil, fmt.Errorf("bpf: %s: glob %q has %d elements; the hooks match at most %d", r.name(), r.Tail[j], len(cp.glob), MaxGlobElems)
			}
			g := &p.Globs[p.Nglobs]
			p.Nglobs++
			g.Stage = uint8(stage)
			g.Bit = uint8(bits)
			g.N = uint8(len(cp.glob))
			for e, el := range cp.glob {
				g.Kind[e] = el.kind
				g.Val[e] = el.val
				if el.kind != geStar {
					g.Minlen++
				}
				if el.kind == geClass {
					ci := slices.Index(classes, el.set)
					if ci < 0 {
						if len(classes) == MaxClasses {
							return nil, fmt.Errorf("bpf: %s: more than %d distinct [...] classes", r.name(), MaxClasses)
						}
						classes = append(classes, el.set)
						ci = len(classes) - 1
					}
					g.Val[e] = uint8(ci)
				}
			}
			if first := cp.glob[0]; first.kind == geLit {
				g.Flags |= globFirst
				g.First = first.val
			}
			if last := cp.glob[len(cp.glob)-1]; last.kind == geLit {
				g.Flags |= globLast
				g.Last = last.val
			}
		}
		bits++
	}
	for i, cl := range classes {
		p.Classes[i] = cl
	}
	for i := range int(p.Nglobs) {
		g := &p.Globs[i]
		for b := range 256 {
			if g.Flags&globFirst == 0 || g.First == byte(b) {
				p.GlobFirst[b] |= 1 << i
			}
			if g.Flags&globLast == 0 || g.Last == byte(b) {
				p.GlobLast[b] |= 1 << i
			}
		}
	}
	return c, nil
}

// ValidateFileRules reports whether rules fit what the hooks hold for one
// sandbox (components, globs, classes, automaton rules), naming the first
// rule that does not.
func ValidateFileRules(rules []FileRule) error {
	_, err := compileRules(0, 1, rules)
	return err
}

// PutFileRules installs the file rules of the sandbox whose cgroup id is
// cg (they apply to its descendant cgroups too), or replaces them. The new
// rules' entries are written first, under a new generation, then the
// sandbox's policy entry, which switches to them in one update; then the
// previous generation's entries are removed. On error nothing of the new
// rules stays and the old ones keep applying.
//
// When no filesystem hook is attached the rules are still written (and
// CheckFile answers from them), and the error wraps ErrNotEnforced.
func (h *Hooks) PutFileRules(cg uint64, rules []FileRule) error {
	h.fsMu.Lock()
	defer h.fsMu.Unlock()
	m := &h.objs.hooksMaps
	var old hooksFsPolicy
	gen := uint32(1)
	if err := m.FsPolicies.Lookup(cg, &old); err == nil {
		gen = old.Gen + 1
		if gen == 0 {
			gen = 1
		}
	}
	c, err := compileRules(cg, gen, rules)
	if err != nil {
		return err
	}
	var names []hooksFsNameKey
	var inodes []hooksFsInodeKey
	undo := func() {
		for _, k := range names {
			m.FsNames.Delete(&k)
		}
		for _, k := range inodes {
			m.FsInodes.Delete(&k)
		}
	}
	for k, v := range c.names {
		if err := m.FsNames.Put(&k, v); err != nil {
			undo()
			return fmt.Errorf("bpf: writing file rules: %w", err)
		}
		names = append(names, k)
	}
	for k, v := range c.inodes {
		if err := m.FsInodes.Put(&k, v); err != nil {
			undo()
			return fmt.Errorf("bpf: writing file rules: %w", err)
		}
		inodes = append(inodes, k)
	}
	if err := m.FsPolicies.Put(cg, &c.policy); err != nil {
		undo()
		return fmt.Errorf("bpf: writing file rules: %w", err)
	}
	h.ownMu.Lock()
	own := h.ownedOf(cg)
	own.names = append(own.names, names...)
	own.inodes = append(own.inodes, inodes...)
	h.ownMu.Unlock()
	h.deleteFileEntries(cg, gen)
	if h.lsmErr != nil {
		return fmt.Errorf("%w: %w", ErrNotEnforced, h.lsmErr)
	}
	return nil
}

// DeleteFileRules removes the file rules of the sandbox whose cgroup id is
// cg: its processes are no longer refused anything by them.
func (h *Hooks) DeleteFileRules(cg uint64) error {
	h.fsMu.Lock()
	defer h.fsMu.Unlock()
	if err := h.objs.FsPolicies.Delete(cg); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("bpf: deleting file rules: %w", err)
	}
	h.deleteFileEntries(cg, 0)
	return nil
}

// deleteFileEntries removes cg's name and identity entries of every
// generation but keep; the caller holds h.fsMu.
func (h *Hooks) deleteFileEntries(cg uint64, keep uint32) {
	m := &h.objs.hooksMaps
	h.ownMu.Lock()
	defer h.ownMu.Unlock()
	own := h.ownedOf(cg)
	own.names = slices.DeleteFunc(own.names, func(k hooksFsNameKey) bool {
		if k.Gen == keep {
			return false
		}
		m.FsNames.Delete(&k)
		return true
	})
	own.inodes = slices.DeleteFunc(own.inodes, func(k hooksFsInodeKey) bool {
		if k.Gen == keep {
			return false
		}
		m.FsInodes.Delete(&k)
		return true
	})
}

// InodeOf returns the kernel's identity of the object path names,
// following symbolic links. The device is the one the kernel keeps in the
// object's superblock, read from the mount table, which on btrfs differs
// from what stat reports. On overlayfs the inode numbers stat reports are
// not the kernel's, so there InodeOf refuses.
func InodeOf(path string) (Inode, error) {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_STATX_SYNC_AS_STAT, unix.STATX_INO|unix.STATX_MNT_ID, &stx); err != nil {
		return Inode{}, &os.PathError{Op: "statx", Path: path, Err: err}
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil {
		return Inode{}, &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	if fs.Type == unix.OVERLAYFS_SUPER_MAGIC {
		return Inode{}, fmt.Errorf("bpf: %s is on overlayfs, whose inode numbers are not the kernel's own; it cannot be denied by identity", path)
	}
	dev, err := mountDev(stx.Mnt_id)
	if err != nil {
		// No mount id (older kernel): stat's device.
		dev = uint32(stx.Dev_major)<<20 | stx.Dev_minor
	}
	return Inode{Dev: dev, Ino: stx.Ino}, nil
}

// mountDev returns the superblock device of mount id from
// /proc/self/mountinfo (its third field).
func mountDev(id uint64) (uint32, error) {
	if id == 0 {
		return 0, errors.New("no mount id")
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	want := strconv.FormatUint(id, 10) + " "
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, want) {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 3 {
			break
		}
		maj, min, ok := strings.Cut(fields[2], ":")
		if !ok {
			break
		}
		ma, err1 := strconv.ParseUint(maj, 10, 32)
		mi, err2 := strconv.ParseUint(min, 10, 32)
		if err1 != nil || err2 != nil {
			break
		}
		return uint32(ma)<<20 | uint32(mi), nil
	}
	return 0, fmt.Errorf("mount %d not in /proc/self/mountinfo", id)
}

// Verdict is CheckFile's answer.
type Verdict struct {
	Denied bool
	Rule   uint32
	Reason Reason
	Path   string // as the hooks see it (the mount tree, not a chroot)
}

// CheckFile asks the kernel whether the rules of sandbox cg would refuse
// opening f (for writing when write is set), running the same matcher the
// filesystem hooks run, through an iterator over this process's files. It
// works without BPF-LSM. f may be opened with O_PATH, which has no side
// effects on fifos and devices.
func (h *Hooks) CheckFile(cg uint64, f *os.File, write bool) (Verdict, error) {
	q := hooksFsQuery{Owner: cg, Tgid: uint32(os.Getpid()), Fd: uint32(f.Fd()), Op: fsQOpen}
	if write {
		q.Write = 1
	}
	a, err := h.ask(q)
	if err != nil {
		return Verdict{}, err
	}
	if a.Found == 0 {
		return Verdict{}, fmt.Errorf("bpf: cgroup %d has no file rules", cg)
	}
	return a.verdict(), nil
}

// Operations of fs_check_file (enum fs_q_op).
const (
	fsQOpen = iota
	fsQRename
	fsQLink
	fsQUnlink
	fsQRmdir
)

// answer is fs_check_file's reply.
type answer struct {
	hooksFsAnswer
	path string
}

func (a *answer) verdict() Verdict {
	v := Verdict{Denied: a.Ret != 0, Path: a.path}
	if v.Denied {
		v.Rule = a.Rule
		v.Reason = Reason(a.Reason)
	}
	return v
}

// ask puts one question to the fs_check_file iterator, read by this
// process.
func (h *Hooks) ask(q hooksFsQuery) (answer, error) {
	rd, done, err := h.askReader(q)
	if err != nil {
		return answer{}, err
	}
	defer done()
	out, err := io.ReadAll(rd)
	if err != nil {
		return answer{}, fmt.Errorf("bpf: reading the fs_check_file iterator: %w", err)
	}
	return parseAnswer(out)
}

// askReader writes the question and returns the iterator's output, to be
// read by whichever process should run it (with q.Scope, the reader's own
// sandbox applies), and a function to call when done.
func (h *Hooks) askReader(q hooksFsQuery) (*os.File, func(), error) {
	if h.checkErr != nil {
		return nil, nil, h.checkErr
	}
	h.checkMu.Lock()
	if err := h.objs.FsQueries.Put(uint32(0), &q); err != nil {
		h.checkMu.Unlock()
		return nil, nil, fmt.Errorf("bpf: %w", err)
	}
	it, err := link.AttachIter(link.IterOptions{Program: h.objs.FsCheckFile})
	if err != nil {
		h.checkMu.Unlock()
		return nil, nil, fmt.Errorf("bpf: attaching the fs_check_file iterator: %w", err)
	}
	rc, err := it.Open()
	if err != nil {
		it.Close()
		h.checkMu.Unlock()
		return nil, nil, fmt.Errorf("bpf: %w", err)
	}
	rd, ok := rc.(*os.File)
	if !ok {
		rc.Close()
		it.Close()
		h.checkMu.Unlock()
		return nil, nil, errors.New("bpf: the iterator's reader is no file")
	}
	return rd, func() {
		rd.Close()
		it.Close()
		h.checkMu.Unlock()
	}, nil
}

func parseAnswer(out []byte) (answer, error) {
	var a answer
	n := int(unsafe.Sizeof(a.hooksFsAnswer))
	if len(out) < n {
		return a, errors.New("bpf: the fs_check_file iterator did not see the descriptor")
	}
	if err := binary.Read(bytes.NewReader(out[:n]), binary.NativeEndian, &a.hooksFsAnswer); err != nil {
		return a, err
	}
	a.path = fsPath(out[n:min(len(out), n+int(a.PathLen))], a.Truncated != 0)
	return a, nil
}

// fsPath is the path of an fs event or answer, marked when it lost its
// start.
func fsPath(b []byte, truncated bool) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if truncated {
		return "…" + string(b)
	}
	return string(b)
}
