package policy

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/compiler/hostpattern"
)

// An overlay is what agentd writes when someone answers an approval
// request (on_unknown = "ask") with "allow permanently": destinations
// allowed on top of one policy, for the later sandboxes of that policy.
// It names its policy and holds one network block with an allow list,
// nothing else: an overlay only ever adds destinations, and it cannot
// lift a deny rule (those are checked first).
//
//	policy = "claude-code"
//
//	network {
//	  allow = [
//	    "api.example.com:443", # apr-0123abcd, uid 1000, 2025-06-01T10:00:00Z
//	  ]
//	}
//
// policyc overlay show prints one, policyc overlay merge folds one into
// the policy source; package policyedit writes them.

// Overlay is a loaded overlay.
type Overlay struct {
	Policy      string
	PolicyRange hcl.Range
	Allow       []Entry // fields network.allow[i]
}

// OverlayResult is what loading an overlay produced, like Result.
type OverlayResult struct {
	Overlay *Overlay
	Diags   hcl.Diagnostics
	Files   map[string]*hcl.File
}

var (
	overlaySchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "policy", Required: true}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "network"}},
	}
	overlayNetworkSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "allow"}}}
)

// ValidName reports whether name is a valid policy name (and so safe as a
// file name).
func ValidName(name string) bool { return policyName().MatchString(name) }

// LoadOverlay reads an overlay from memory; display names it in messages.
// Every problem is reported as file:line:col with the field it concerns.
// Overlays take no variables and no functions: their entries are literal.
func LoadOverlay(display string, data []byte) *OverlayResult {
	p := hclparse.NewParser()
	f, diags := p.ParseHCL(data, display)
	res := &OverlayResult{Diags: diags, Files: p.Files()}
	if diags.HasErrors() {
		return res
	}
	content, diags := f.Body.Content(overlaySchema)
	res.Diags = append(res.Diags, diags...)
	if content == nil {
		return res
	}
	o := &Overlay{}
	d := &decoder{}
	if e := d.str(content.Attributes["policy"], "policy"); e != nil {
		o.Policy, o.PolicyRange = e.Value, e.Range
		if !ValidName(e.Value) {
			d.diags = append(d.diags, errAt(e.Range, "use lower-case letters, digits, '-' and '_', starting with a letter", "policy: %q is not a valid policy name", e.Value))
		}
	}
	nets := content.Blocks.OfType("network")
	for _, b := range nets[min(1, len(nets)):] {
		d.diags = append(d.diags, errAt(b.DefRange, "keep one network block", "network is defined twice; the first is at %s", where(nets[0].DefRange)))
	}
	if len(nets) > 0 {
		o.Allow = d.strings(d.attrs(nets[0], overlayNetworkSchema)["allow"], "network.allow")
	}
	res.Diags = append(res.Diags, d.diags...)
	v := &validator{}
	seen := map[string]Entry{}
	for _, e := range o.Allow {
		pat, ok := v.host(e)
		if !ok {
			continue
		}
		if prev, dup := seen[pat.String()]; dup {
			v.add(warnAt(e.Range, "remove one of them", "%s %q allows what %s already allows", e.Field, e.Value, where(prev.Range)))
		}
		seen[pat.String()] = e
	}
	res.Diags = append(res.Diags, v.diags...)
	if !res.Diags.HasErrors() {
		res.Overlay = o
	}
	return res
}

// HostRules lowers the overlay's entries to the bundle's rules, each
// naming file (where the overlay lives) and its line as its source.
func (o *Overlay) HostRules(file string) []bundle.HostRule {
	var out []bundle.HostRule
	seen := map[string]bool{}
	for _, e := range o.Allow {
		pat, err := hostpattern.ParsePattern(e.Value)
		if err != nil || seen[pat.String()] {
			continue
		}
		seen[pat.String()] = true
		out = append(out, bundle.HostRule{Pattern: pat.String(), Rule: bundle.Rule{
			File: file, Line: e.Range.Start.Line, Col: e.Range.Start.Column, Field: e.Field, Text: e.Value}})
	}
	return out
}

// Allows reports whether an entry of the overlay is exactly pattern (in
// canonical form).
func (o *Overlay) Allows(pattern string) bool {
	for _, e := range o.Allow {
		if pat, err := hostpattern.ParsePattern(e.Value); err == nil && pat.String() == pattern {
			return true
		}
	}
	return false
}
