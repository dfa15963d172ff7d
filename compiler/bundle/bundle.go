// Package bundle is the compiled form of a Paddock policy: the one file that
// policyc writes and the launcher, the daemon and the proxy read.
//
// A bundle is canonical JSON (same policy in, same bytes out) carrying the
// seccomp programs, the filesystem grants and deny rules, the network policy,
// the credential bindings, the process settings and the metadata. Every rule
// keeps the place in the policy source it came from, so a decision made from
// the bundle (by policyc explain, the launcher or the proxy) can name the
// line that made it.
//
// Paths are templates: ${workspace}, ${home}, ${tmp}, ${user} and
// ${env:NAME} are resolved at launch for the workload's user (Resolve), never
// at compile time on the build host.
//
// Decode refuses anything it does not fully understand: an unknown field, a
// version it does not speak, a checksum that does not match, a rule that does
// not parse, a program the kernel would reject. Nothing is half-applied
// from a broken bundle because nothing is returned from one.
package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Format and Version identify the file format. Version changes whenever a
// reader of the previous version would misread a new file.
const (
	Format  = "paddock-bundle"
	Version = 1
)

// Bundle is a compiled policy.
type Bundle struct {
	Format   string `json:"format"`
	Version  int    `json:"version"`
	Checksum string `json:"checksum"` // "sha256:" + hex over the encoding with this field empty

	Metadata    Metadata     `json:"metadata"`
	Filesystem  Filesystem   `json:"filesystem"`
	Network     Network      `json:"network"`
	Credentials []Credential `json:"credentials"`
	Syscalls    Syscalls     `json:"syscalls"`
	Process     Process      `json:"process"`
}

// Metadata says what the bundle was compiled from and what it needs.
type Metadata struct {
	Policy      string   `json:"policy"`
	Description string   `json:"description"`
	Mode        string   `json:"mode"` // "enforce" or "audit"
	Sources     []Source `json:"sources"`
	// SourceSHA256 covers every source in load order (name and content), so
	// two bundles from the same sources share it.
	SourceSHA256 string `json:"source_sha256"`
	Compiler     string `json:"compiler"`
	Catalogue    string `json:"syscall_catalogue"`
	// Requires lists the kernel features enforcement needs (see Features).
	Requires []string `json:"requires"`
	// BestEffort lists the layers the policy lets run degraded when the
	// kernel lacks them; every other missing layer fails the launch.
	BestEffort []string `json:"best_effort"`
}

// Source is one policy file that went into the bundle.
type Source struct {
	Name   string `json:"name"` // relative to the main policy's directory, or builtin:NAME
	SHA256 string `json:"sha256"`
}

// Rule is where a decision comes from: a place in a policy source.
type Rule struct {
	File  string `json:"file"`
	Line  int    `json:"line"`
	Col   int    `json:"col"`
	Field string `json:"field"` // e.g. "filesystem.deny[2]"
	Text  string `json:"text"`  // the entry as written, after variables
}

func (r Rule) String() string {
	if r.File == "" {
		return r.Field
	}
	return fmt.Sprintf("%s (%s:%d)", r.Field, r.File, r.Line)
}

// ParseRule reads back what String wrote: the field, and the file and
// line when there are. Text that is not in that form is all field.
func ParseRule(s string) Rule {
	field, loc, ok := strings.Cut(s, " (")
	if !ok || !strings.HasSuffix(loc, ")") {
		return Rule{Field: s}
	}
	loc = strings.TrimSuffix(loc, ")")
	i := strings.LastIndexByte(loc, ':')
	if i <= 0 {
		return Rule{Field: s}
	}
	line, err := strconv.Atoi(loc[i+1:])
	if err != nil || line < 0 {
		return Rule{Field: s}
	}
	return Rule{Field: field, File: loc[:i], Line: line}
}

// Modes.
const (
	ModeEnforce = "enforce"
	ModeAudit   = "audit"
)

// Encode returns the canonical bytes of b and records their checksum in b.
func Encode(b *Bundle) ([]byte, error) {
	b.Format, b.Version = Format, Version
	if err := b.Validate(); err != nil {
		return nil, err
	}
	sum, err := b.sum()
	if err != nil {
		return nil, err
	}
	b.Checksum = sum
	return marshal(b)
}

func (b *Bundle) sum() (string, error) {
	c := *b
	c.Checksum = ""
	data, err := marshal(&c)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(h[:]), nil
}

func marshal(b *Bundle) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(b); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Decode parses and fully checks a bundle; name is used in messages.
func Decode(data []byte, name string) (*Bundle, error) {
	var probe struct {
		Format  string `json:"format"`
		Version int    `json:"version"`
	}
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&probe); err != nil {
		return nil, fmt.Errorf("%s: not a Paddock bundle: %w", name, err)
	}
	if probe.Format != Format {
		return nil, fmt.Errorf("%s: not a Paddock bundle (format %q, want %q)", name, probe.Format, Format)
	}
	if probe.Version != Version {
		return nil, fmt.Errorf("%s: bundle version %d, this build reads version %d; recompile the policy with this policyc", name, probe.Version, Version)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var b Bundle
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: trailing data after the bundle", name)
	}
	sum, err := b.sum()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if sum != b.Checksum {
		return nil, fmt.Errorf("%s: checksum mismatch (file says %s, content is %s): the bundle was altered or damaged", name, b.Checksum, sum)
	}
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &b, nil
}

// Validate checks every section; the error names the field.
func (b *Bundle) Validate() error {
	if b.Metadata.Policy == "" {
		return fmt.Errorf("metadata.policy: empty")
	}
	if b.Metadata.Mode != ModeEnforce && b.Metadata.Mode != ModeAudit {
		return fmt.Errorf("metadata.mode: %q is not enforce or audit", b.Metadata.Mode)
	}
	for _, layer := range b.Metadata.BestEffort {
		if !IsLayer(layer) {
			return fmt.Errorf("metadata.best_effort: unknown layer %q", layer)
		}
	}
	if err := b.Filesystem.validate(); err != nil {
		return fmt.Errorf("filesystem.%w", err)
	}
	if err := b.Network.validate(); err != nil {
		return fmt.Errorf("network.%w", err)
	}
	for i, c := range b.Credentials {
		if err := c.validate(); err != nil {
			return fmt.Errorf("credentials[%d] (%s): %w", i, c.Name, err)
		}
	}
	if err := b.Syscalls.validate(); err != nil {
		return fmt.Errorf("syscalls.%w", err)
	}
	if err := b.Process.validate(); err != nil {
		return fmt.Errorf("process.%w", err)
	}
	return nil
}

// Layers a policy may mark best_effort.
var Layers = []string{"landlock", "landlock-network", "landlock-scopes", "seccomp", "bpf-lsm", "cgroup-bpf", "limits"}

// IsLayer reports whether name is one of Layers.
func IsLayer(name string) bool {
	for _, l := range Layers {
		if l == name {
			return true
		}
	}
	return false
}
