// Package policyedit edits policy and overlay sources in place: the
// entries it adds are written in canonical format, and comments and
// everything else in the file stay as they were. agentd uses it to record
// permanent approvals, policyc to fold an overlay into its policy. It is
// apart from package policy so that a launch, which only reads policies,
// does not carry an HCL writer.
package policyedit

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// NewOverlay is the text of an empty overlay for policy.
func NewOverlay(policy string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Destinations allowed permanently for policy %q, written by agentd when\n", policy)
	b.WriteString("# an approval request was answered \"allow permanently\". Deny rules of the\n")
	b.WriteString("# policy still win. Show it with policyc overlay show; fold it into the\n")
	b.WriteString("# policy with policyc overlay merge.\n")
	fmt.Fprintf(&b, "policy = %q\n\nnetwork {\n  allow = []\n}\n", policy)
	return b.Bytes()
}

// AppendAllow appends entries to the network.allow list of an overlay or
// a policy file's source, creating the block and the list when missing,
// and returns the result in canonical format. Comments and everything
// else in the file stay as they were. comment, when not empty, follows
// each new entry on its line. The list must be written as a literal list
// ([...]) to be extended.
func AppendAllow(filename string, src []byte, entries []string, comment string) ([]byte, error) {
	f, diags := hclwrite.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	body := f.Body()
	var nb *hclwrite.Block
	for _, b := range body.Blocks() {
		if b.Type() == "network" {
			nb = b
			break
		}
	}
	if nb == nil {
		if len(body.Blocks())+len(body.Attributes()) > 0 {
			body.AppendNewline()
		}
		nb = body.AppendNewBlock("network", nil)
	}
	tok := func(t hclsyntax.TokenType, s string) *hclwrite.Token {
		return &hclwrite.Token{Type: t, Bytes: []byte(s)}
	}
	var toks hclwrite.Tokens
	if a := nb.Body().GetAttribute("allow"); a != nil {
		toks = a.Expr().BuildTokens(nil)
	} else {
		toks = hclwrite.Tokens{tok(hclsyntax.TokenOBrack, "["), tok(hclsyntax.TokenCBrack, "]")}
	}
	significant := func(t *hclwrite.Token) bool {
		return t.Type != hclsyntax.TokenNewline && t.Type != hclsyntax.TokenComment
	}
	first, last := -1, -1
	for i, t := range toks {
		if significant(t) {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 || toks[first].Type != hclsyntax.TokenOBrack || toks[last].Type != hclsyntax.TokenCBrack {
		return nil, fmt.Errorf("%s: network.allow is not written as a list ([...]); add the entries by hand", filename)
	}
	// The last significant token before "]": an element needs a comma
	// after it.
	prev := last - 1
	for prev > first && !significant(toks[prev]) {
		prev--
	}
	var out hclwrite.Tokens
	out = append(out, toks[:prev+1]...)
	if prev != first && toks[prev].Type != hclsyntax.TokenComma {
		out = append(out, tok(hclsyntax.TokenComma, ","))
	}
	out = append(out, toks[prev+1:last]...)
	if n := len(out); out[n-1].Type != hclsyntax.TokenNewline && out[n-1].Type != hclsyntax.TokenComment {
		out = append(out, tok(hclsyntax.TokenNewline, "\n"))
	}
	comment = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, comment)
	for _, e := range entries {
		out = append(out, hclwrite.TokensForValue(cty.StringVal(e))...)
		out = append(out, tok(hclsyntax.TokenComma, ","))
		if comment != "" {
			out = append(out, tok(hclsyntax.TokenComment, "# "+comment+"\n"))
		} else {
			out = append(out, tok(hclsyntax.TokenNewline, "\n"))
		}
	}
	out = append(out, toks[last:]...)
	nb.Body().SetAttributeRaw("allow", out)
	res := hclwrite.Format(f.Bytes())
	if _, diags := hclparse.NewParser().ParseHCL(res, filename); diags.HasErrors() {
		return nil, errors.New(filename + ": appending to network.allow would break the file; left unchanged")
	}
	return res, nil
}
