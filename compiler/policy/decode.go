package policy

import (
	"fmt"
	"math/big"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// decoder turns one file's blocks into a Policy fragment.
type decoder struct {
	ctx   *hcl.EvalContext
	diags hcl.Diagnostics
}

func (d *decoder) file(n *node) *Policy {
	p := &Policy{}
	for _, b := range n.content.Blocks {
		switch b.Type {
		case "policy":
			p.Name, p.NameRange = b.Labels[0], b.LabelRanges[0]
			a := d.attrs(b, policySchema)
			p.Description = d.str(a["description"], "policy.description")
			p.Mode = d.str(a["mode"], "policy.mode")
			p.BestEffort = d.strings(a["best_effort"], "policy.best_effort")
			// extends was read by the loader.
		case "filesystem":
			a := d.attrs(b, filesystemSchema)
			p.Read = d.strings(a["read"], "filesystem.read")
			p.Write = d.strings(a["write"], "filesystem.write")
			p.Deny = d.strings(a["deny"], "filesystem.deny")
			p.DenyWrite = d.strings(a["deny_write"], "filesystem.deny_write")
		case "network":
			a := d.attrs(b, networkSchema)
			p.Allow = d.strings(a["allow"], "network.allow")
			p.DenyHosts = d.strings(a["deny"], "network.deny")
			p.UnixSockets = d.strings(a["unix_sockets"], "network.unix_sockets")
			p.Listen = d.str(a["listen"], "network.listen")
			p.OnUnknown = d.str(a["on_unknown"], "network.on_unknown")
			p.AskTimeout = d.str(a["ask_timeout"], "network.ask_timeout")
		case "credential":
			name := b.Labels[0]
			f := "credential." + name + "."
			a := d.attrs(b, credentialSchema)
			p.Credentials = append(p.Credentials, &Credential{
				Name: name, Range: b.LabelRanges[0],
				Hosts: d.strings(a["hosts"], f+"hosts"), Paths: d.strings(a["paths"], f+"paths"),
				Methods: d.strings(a["methods"], f+"methods"),
				Env:     d.str(a["env"], f+"env"), Header: d.str(a["header"], f+"header"),
				Format: d.str(a["format"], f+"format"), Source: d.str(a["source"], f+"source"),
				StripResponseHeaders: d.strings(a["strip_response_headers"], f+"strip_response_headers"),
				BaseURLEnv:           d.str(a["base_url_env"], f+"base_url_env"),
			})
		case "syscalls":
			content, diags := b.Body.Content(syscallsSchema)
			d.diags = append(d.diags, diags...)
			a := content.Attributes
			p.SyscallAllow = d.strings(a["allow"], "syscalls.allow")
			p.SyscallDeny = d.strings(a["deny"], "syscalls.deny")
			p.Errno = d.str(a["errno"], "syscalls.errno")
			for _, rb := range content.Blocks {
				f := fmt.Sprintf("syscalls.restrict[%q].", rb.Labels[0])
				ra := d.attrs(rb, restrictSchema)
				p.Restrictions = append(p.Restrictions, &Restriction{
					Syscall: rb.Labels[0], Range: rb.LabelRanges[0], BlockRange: rb.DefRange,
					Arg: d.str(ra["arg"], f+"arg"), Mask: d.strings(ra["mask"], f+"mask"),
					In: d.strings(ra["in"], f+"in"), NotIn: d.strings(ra["not_in"], f+"not_in"),
					Errno: d.str(ra["errno"], f+"errno"),
				})
			}
		case "process":
			a := d.attrs(b, processSchema)
			p.User = d.str(a["user"], "process.user")
			p.Capabilities = d.strings(a["capabilities"], "process.capabilities")
			for _, kv := range d.object(a["limits"], "process.limits", limitKeys) {
				if v := d.str1(kv.value, "process.limits."+kv.key); v != nil {
					p.Limits = append(p.Limits, Limit{Key: kv.key, Value: *v})
				}
			}
			for _, kv := range d.object(a["env"], "process.env", envKeys) {
				switch kv.key {
				case "pass":
					p.EnvPass = append(p.EnvPass, d.list(kv.value, "process.env.pass")...)
				case "set":
					for _, s := range d.object(&hcl.Attribute{Name: "set", Expr: kv.value, Range: kv.value.Range()}, "process.env.set", nil) {
						if v := d.str1(s.value, "process.env.set."+s.key); v != nil {
							p.EnvSet = append(p.EnvSet, EnvSet{Name: s.key, Value: *v})
						}
					}
				}
			}
		}
	}
	return p
}

func (d *decoder) attrs(b *hcl.Block, schema *hcl.BodySchema) hcl.Attributes {
	content, diags := b.Body.Content(schema)
	d.diags = append(d.diags, diags...)
	if content == nil {
		return hcl.Attributes{}
	}
	return content.Attributes
}

// str evaluates an optional single-string attribute.
func (d *decoder) str(a *hcl.Attribute, field string) *Entry {
	if a == nil {
		return nil
	}
	return d.str1(a.Expr, field)
}

func (d *decoder) str1(expr hcl.Expression, field string) *Entry {
	v, diags := expr.Value(d.ctx)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return nil
	}
	s, ok := d.toString(v, expr.Range(), field)
	if !ok {
		return nil
	}
	return &Entry{Value: s, Range: expr.Range(), Field: field}
}

// strings evaluates an optional list-of-strings attribute. A literal list
// keeps each element's own range, so a message can point at the one entry.
func (d *decoder) strings(a *hcl.Attribute, field string) []Entry {
	if a == nil {
		return nil
	}
	return d.list(a.Expr, field)
}

func (d *decoder) list(expr hcl.Expression, field string) []Entry {
	if elems, diags := hcl.ExprList(expr); !diags.HasErrors() {
		var out []Entry
		for i, e := range elems {
			if v := d.str1(e, fmt.Sprintf("%s[%d]", field, i)); v != nil {
				out = append(out, *v)
			}
		}
		return out
	}
	v, diags := expr.Value(d.ctx)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return nil
	}
	if v.IsNull() || !(v.Type().IsListType() || v.Type().IsTupleType() || v.Type().IsSetType()) {
		d.diags = append(d.diags, errAt(expr.Range(), `write a list, e.g. ["a", "b"]`, "%s must be a list of strings", field))
		return nil
	}
	var out []Entry
	i := 0
	for it := v.ElementIterator(); it.Next(); i++ {
		_, ev := it.Element()
		f := fmt.Sprintf("%s[%d]", field, i)
		if s, ok := d.toString(ev, expr.Range(), f); ok {
			out = append(out, Entry{Value: s, Range: expr.Range(), Field: f})
		}
	}
	return out
}

// toString accepts strings, and whole non-negative numbers as their decimal
// text (syscall argument values are often numbers).
func (d *decoder) toString(v cty.Value, r hcl.Range, field string) (string, bool) {
	if v.IsNull() || !v.IsKnown() {
		d.diags = append(d.diags, errAt(r, "", "%s has no value", field))
		return "", false
	}
	if v.Type() == cty.Number {
		bf := v.AsBigFloat()
		if i, acc := bf.Int(nil); acc == big.Exact && i.Sign() >= 0 && i.IsUint64() {
			return i.String(), true
		}
		d.diags = append(d.diags, errAt(r, "", "%s: %s is not a whole non-negative number", field, bf.Text('g', -1)))
		return "", false
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil || v.Type() != cty.String {
		d.diags = append(d.diags, errAt(r, "", "%s must be a string, not %s", field, v.Type().FriendlyName()))
		return "", false
	}
	return s.AsString(), true
}

type keyValue struct {
	key   string
	rng   hcl.Range
	value hcl.Expression
}

// object reads an object attribute's keys; with keys set, any other key is
// an error with a suggestion.
func (d *decoder) object(a *hcl.Attribute, field string, keys []string) []keyValue {
	if a == nil {
		return nil
	}
	pairs, diags := hcl.ExprMap(a.Expr)
	if diags.HasErrors() {
		d.diags = append(d.diags, errAt(a.Expr.Range(), "write an object, e.g. { key = value }", "%s must be an object", field))
		return nil
	}
	var out []keyValue
	seen := map[string]hcl.Range{}
	for _, kv := range pairs {
		key := hcl.ExprAsKeyword(kv.Key)
		if key == "" {
			v, diags := kv.Key.Value(nil)
			if diags.HasErrors() || v.Type() != cty.String {
				d.diags = append(d.diags, errAt(kv.Key.Range(), "", "%s: keys must be names", field))
				continue
			}
			key = v.AsString()
		}
		if keys != nil && !contains(keys, key) {
			d.diags = append(d.diags, errAt(kv.Key.Range(), hintFor(key, keys), "%s has no key %q", field, key))
			continue
		}
		if prev, ok := seen[key]; ok {
			d.diags = append(d.diags, errAt(kv.Key.Range(), "", "%s: key %q appears twice; the first is at %s", field, key, where(prev)))
			continue
		}
		seen[key] = kv.Key.Range()
		out = append(out, keyValue{key: key, rng: kv.Key.Range(), value: kv.Value})
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
