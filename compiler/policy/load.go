package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"

	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/compiler/syscalls"
	"github.com/paddock-sh/paddock/policies"
	"github.com/paddock-sh/paddock/policies/compiled"
)

// Result is what loading a policy produced: the policy (nil if it could not
// be loaded at all), every diagnostic, and the parsed files that diagnostics
// point into.
type Result struct {
	Policy *Policy
	Diags  hcl.Diagnostics
	Files  map[string]*hcl.File
}

// Load reads the policy at path and everything it extends. vars are the
// values of the policy's variables (policyc --var NAME=VALUE).
func Load(path string, vars map[string]string) *Result {
	data, err := readSource(path)
	if err != nil {
		return &Result{Diags: hcl.Diagnostics{{Severity: hcl.DiagError, Summary: err.Error()}}}
	}
	return LoadSource(path, data, vars)
}

// LoadBuiltin loads builtin:name.
func LoadBuiltin(name string, vars map[string]string) *Result {
	data, err := policies.Read(name)
	if err != nil {
		return &Result{Diags: hcl.Diagnostics{{Severity: hcl.DiagError, Summary: err.Error()}}}
	}
	return LoadSource(policies.Prefix+name, data, vars)
}

// LoadSource loads a policy from memory. display names it in messages; a
// name starting with builtin: resolves relative extends among the builtins.
func LoadSource(display string, data []byte, vars map[string]string) *Result {
	return loadSource(&loader{parser: hclparse.NewParser(), seen: map[string]bool{}}, display, data, vars)
}

// LoadDetached loads a policy received from elsewhere (agentd compiling
// what a client sent): it may extend builtin policies only, so the reader
// never opens a file the sender names.
func LoadDetached(display string, data []byte, vars map[string]string) *Result {
	return loadSource(&loader{parser: hclparse.NewParser(), seen: map[string]bool{}, detached: true}, display, data, vars)
}

func loadSource(l *loader, display string, data []byte, vars map[string]string) *Result {
	root := &node{display: display, name: filepath.Base(display), data: data}
	if strings.HasPrefix(display, policies.Prefix) {
		root.name = display
	} else {
		l.rootDir = filepath.Dir(display)
	}
	l.visit(root, nil)
	res := &Result{Diags: l.diags, Files: l.parser.Files()}
	if l.diags.HasErrors() {
		return res
	}
	ctx, diags := l.evalContext(vars)
	res.Diags = append(res.Diags, diags...)
	if diags.HasErrors() {
		return res
	}
	p := &Policy{}
	for _, n := range l.order {
		d := &decoder{ctx: ctx}
		frag := d.file(n)
		res.Diags = append(res.Diags, d.diags...)
		p.merge(frag)
		p.Sources = append(p.Sources, Source{Name: n.name, Display: n.display, Data: n.data})
	}
	// Validate even after decoding errors, so one run reports every problem.
	res.Diags = append(res.Diags, validate(p)...)
	if !res.Diags.HasErrors() {
		res.Policy = p
	}
	return res
}

type loader struct {
	parser  *hclparse.Parser
	rootDir string
	// detached: the source came from elsewhere; it may extend builtins only.
	detached bool
	seen     map[string]bool // display names already loaded
	stack    []string        // display names being loaded, for cycles
	order    []*node         // parents before children
	vars     []*variable
	diags    hcl.Diagnostics
}

type node struct {
	display string // how messages name the file
	name    string // how the bundle names it
	data    []byte
	file    *hcl.File
	content *hcl.BodyContent
}

// visit parses n, loads what it extends, then appends n to the order.
func (l *loader) visit(n *node, from *hcl.Range) {
	if l.seen[n.display] {
		return // reached twice through different parents: load once
	}
	for _, s := range l.stack {
		if s == n.display {
			l.diags = append(l.diags, errAt(*from, "", "extends cycle: %s extends itself through %s", n.display, strings.Join(append(l.stack, n.display), " -> ")))
			return
		}
	}
	l.stack = append(l.stack, n.display)
	defer func() { l.stack = l.stack[:len(l.stack)-1] }()

	var diags hcl.Diagnostics
	if strings.HasSuffix(n.display, ".json") {
		n.file, diags = l.parser.ParseJSON(n.data, n.display)
	} else {
		n.file, diags = l.parser.ParseHCL(n.data, n.display)
	}
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return
	}
	n.content, diags = n.file.Body.Content(rootSchema)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return
	}
	l.diags = append(l.diags, uniqueBlocks(n.content)...)
	pol := n.content.Blocks.OfType("policy")
	if len(pol) == 0 {
		l.diags = append(l.diags, errAt(hcl.Range{Filename: n.display, Start: hcl.InitialPos, End: hcl.InitialPos}, `start the file with policy "NAME" { ... }`, "missing policy block"))
		return
	}
	for _, e := range l.extends(pol[0]) {
		parent, err := l.resolve(n, e.Value)
		if err != nil {
			l.diags = append(l.diags, errAt(e.Range, "", "%v", err))
			continue
		}
		l.visit(parent, &e.Range)
	}
	for _, b := range n.content.Blocks.OfType("variable") {
		l.declare(b)
	}
	l.seen[n.display] = true
	l.order = append(l.order, n)
}

// extends reads the extends list, which must be literal strings: it decides
// which files exist before any variable does.
func (l *loader) extends(b *hcl.Block) []Entry {
	attrs, diags := b.Body.JustAttributes()
	_ = diags // the decoder reports unknown attributes later, with the full schema
	a, ok := attrs["extends"]
	if !ok {
		return nil
	}
	d := &decoder{}
	out := d.strings(a, "policy.extends")
	l.diags = append(l.diags, d.diags...)
	return out
}

func (l *loader) resolve(from *node, ref string) (*node, error) {
	if name, ok := strings.CutPrefix(ref, policies.Prefix); ok {
		data, err := policies.Read(name)
		if err != nil {
			return nil, err
		}
		return &node{display: ref, name: ref, data: data}, nil
	}
	if strings.HasPrefix(from.display, policies.Prefix) {
		return nil, fmt.Errorf("builtin policies extend only builtin:NAME, not %q", ref)
	}
	if l.detached {
		return nil, fmt.Errorf("extends %q: a policy sent to agentd may extend only builtin:NAME; build it with policyc and send the bundle", ref)
	}
	if filepath.IsAbs(ref) || ref == "" {
		return nil, fmt.Errorf("extends %q: give a path relative to this file, or builtin:NAME", ref)
	}
	display := filepath.Join(filepath.Dir(from.display), ref)
	data, err := readSource(display)
	if err != nil {
		return nil, fmt.Errorf("extends %q: %v", ref, err)
	}
	name, err := filepath.Rel(l.rootDir, display)
	if err != nil {
		name = display
	}
	return &node{display: display, name: filepath.ToSlash(name), data: data}, nil
}

// MaxSourceSize bounds a policy file; no policy is anywhere near it.
const MaxSourceSize = 1 << 20

// readSource reads a policy file. Only regular files are read, checked on
// the open descriptor, so a policy that extends /dev/zero, a FIFO or a
// terminal fails at once instead of hanging or exhausting memory.
func readSource(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Size() > MaxSourceSize {
		return nil, fmt.Errorf("%s is %d bytes; a policy file is at most %d", path, fi.Size(), MaxSourceSize)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxSourceSize+1))
	if err == nil && len(data) > MaxSourceSize {
		err = fmt.Errorf("%s grew past %d bytes while being read", path, MaxSourceSize)
	}
	return data, err
}

// uniqueBlocks reports blocks that may appear once but appear again.
func uniqueBlocks(c *hcl.BodyContent) hcl.Diagnostics {
	var diags hcl.Diagnostics
	first := map[string]*hcl.Block{}
	labelled := map[string]*hcl.Block{}
	for _, b := range c.Blocks {
		if len(b.Labels) > 0 && b.Type != "policy" {
			key := b.Type + " " + b.Labels[0]
			if prev, ok := labelled[key]; ok {
				diags = append(diags, errAt(b.LabelRanges[0], "", "duplicate %s %q; the first is at %s", b.Type, b.Labels[0], where(prev.DefRange)))
			}
			labelled[key] = b
			continue
		}
		if prev, ok := first[b.Type]; ok {
			diags = append(diags, errAt(b.DefRange, "merge the two blocks into one", "duplicate %s block; the first is at %s", b.Type, where(prev.DefRange)))
		}
		first[b.Type] = b
	}
	return diags
}

// variable is a variable block: a value the policy author leaves to whoever
// builds the bundle (policyc --var), with a default.
type variable struct {
	name        string
	def         cty.Value
	description string
	rng         hcl.Range
}

func (l *loader) declare(b *hcl.Block) {
	content, diags := b.Body.Content(variableSchema)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return
	}
	v := &variable{name: b.Labels[0], def: cty.StringVal(""), rng: b.LabelRanges[0]}
	if !hclIdent(v.name) {
		l.diags = append(l.diags, errAt(v.rng, "use letters, digits and underscores", "variable name %q is not an identifier", v.name))
		return
	}
	for _, prev := range l.vars {
		if prev.name == v.name {
			l.diags = append(l.diags, errAt(v.rng, "", "variable %q is declared twice; the first is at %s", v.name, where(prev.rng)))
			return
		}
	}
	if a, ok := content.Attributes["default"]; ok {
		val, diags := a.Expr.Value(nil)
		l.diags = append(l.diags, diags...)
		if !diags.HasErrors() {
			switch {
			case val.Type() == cty.String:
			case val.Type().IsTupleType() || val.Type().IsListType():
				for it := val.ElementIterator(); it.Next(); {
					if _, e := it.Element(); e.Type() != cty.String {
						l.diags = append(l.diags, errAt(a.Expr.Range(), "", "a variable's default is a string or a list of strings"))
						return
					}
				}
			default:
				l.diags = append(l.diags, errAt(a.Expr.Range(), "", "a variable's default is a string or a list of strings"))
				return
			}
			v.def = val
		}
	}
	if a, ok := content.Attributes["description"]; ok {
		val, diags := a.Expr.Value(nil)
		l.diags = append(l.diags, diags...)
		if !diags.HasErrors() && val.Type() == cty.String {
			v.description = val.AsString()
		}
	}
	l.vars = append(l.vars, v)
}

func hclIdent(s string) bool {
	for i, c := range s {
		if c != '_' && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return s != ""
}

// evalContext gives expressions the path variables (left as ${...}
// templates the launcher resolves for the workload's user), env(), concat()
// and var.NAME.
func (l *loader) evalContext(given map[string]string) (*hcl.EvalContext, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	vals := map[string]cty.Value{}
	for _, v := range l.vars {
		vals[v.name] = v.def
	}
	names := make([]string, 0, len(given))
	for name := range given {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		def, ok := vals[name]
		if !ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("--var %s: the policy declares no variable %q", name, name)})
			continue
		}
		raw := given[name]
		if def.Type() == cty.String {
			vals[name] = cty.StringVal(raw)
			continue
		}
		var items []cty.Value
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, cty.StringVal(s))
			}
		}
		if len(items) == 0 {
			vals[name] = cty.ListValEmpty(cty.String)
		} else {
			vals[name] = cty.TupleVal(items)
		}
	}
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(vals)},
		Functions: functions,
	}
	for _, name := range []string{"workspace", "home", "tmp", "user"} {
		ctx.Variables[name] = cty.StringVal("${" + name + "}")
	}
	return ctx, diags
}

// Open loads what a user names as a policy: builtin:NAME, a policy source
// (.hcl or .json), or a compiled bundle (.bundle), and returns its bundle.
// data is the bundle's encoding when it came with one (a .bundle file, or a
// builtin compiled at build time), nil when the bundle was compiled now:
// bundle.Encode gives it then. For a source, res carries the diagnostics
// (also when err is nil, for warnings); a source with errors returns
// ErrInvalid and res to print.
func Open(arg string, vars map[string]string) (b *bundle.Bundle, data []byte, res *Result, err error) {
	if strings.HasSuffix(arg, ".bundle") {
		data, err := os.ReadFile(arg)
		if err != nil {
			return nil, nil, nil, err
		}
		b, err := bundle.Decode(data, arg)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return b, data, nil, nil
	}
	if name, ok := strings.CutPrefix(arg, policies.Prefix); ok {
		if len(vars) == 0 {
			if b, data := precompiled(name); b != nil {
				return b, data, nil, nil
			}
		}
		res = LoadBuiltin(name, vars)
	} else {
		if _, err := os.Stat(arg); err != nil {
			return nil, nil, nil, err
		}
		res = Load(arg, vars)
	}
	if res.Diags.HasErrors() || res.Policy == nil {
		return nil, nil, res, ErrInvalid
	}
	b, err = Compile(res.Policy)
	if err != nil {
		return nil, nil, res, fmt.Errorf("%w: %s: %w", ErrInvalid, arg, err)
	}
	return b, nil, res, nil
}

// ErrInvalid marks a policy or bundle that was read but is not valid.
var ErrInvalid = errors.New("invalid policy")

// precompiled returns the build-time bundle of builtin:name and its
// encoding if it was compiled, by this compiler, from exactly the sources
// embedded now.
func precompiled(name string) (*bundle.Bundle, []byte) {
	b, data := compiled.Bundle(name)
	if b == nil || b.Metadata.Compiler != CompilerVersion || b.Metadata.Catalogue != syscalls.CatalogueVersion {
		return nil, nil
	}
	all := newSourceHash()
	for _, src := range b.Metadata.Sources {
		n, ok := strings.CutPrefix(src.Name, policies.Prefix)
		if !ok {
			return nil, nil
		}
		source, err := policies.Read(n)
		if err != nil {
			return nil, nil
		}
		all.add(src.Name, source)
	}
	if all.sum() != b.Metadata.SourceSHA256 {
		return nil, nil
	}
	return b, data
}

// sourceHash is Metadata.SourceSHA256: every source's name, length and
// content, in load order.
type sourceHash struct{ h hash.Hash }

func newSourceHash() sourceHash { return sourceHash{sha256.New()} }

func (s sourceHash) add(name string, data []byte) {
	fmt.Fprintf(s.h, "%s\x00%d\x00", name, len(data))
	s.h.Write(data)
}

func (s sourceHash) sum() string { return hex.EncodeToString(s.h.Sum(nil)) }

// VarFlags collects --var NAME=VALUE flags into the vars Open takes.
type VarFlags map[string]string

func (v VarFlags) String() string { return "" }

// Set adds one NAME=VALUE.
func (v VarFlags) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("want NAME=VALUE, got %q", s)
	}
	v[name] = value
	return nil
}
