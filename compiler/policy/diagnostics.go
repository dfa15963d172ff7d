package policy

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Diagnostic is one problem, flattened for printing and for JSON.
type Diagnostic struct {
	Severity string `json:"severity"` // "error" or "warning"
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	Col      int    `json:"col,omitempty"`
	EndLine  int    `json:"end_line,omitempty"`
	EndCol   int    `json:"end_col,omitempty"`
	Message  string `json:"message"`
	Hint     string `json:"hint,omitempty"`
}

// ownDiag marks diagnostics this package wrote: Summary is the message and
// Detail the hint. HCL's own diagnostics put an explanation in Detail.
type ownDiag struct{}

// Flatten converts HCL diagnostics to Diagnostics, errors first in source
// order, then warnings.
func Flatten(diags hcl.Diagnostics) []Diagnostic {
	var errs, warns []Diagnostic
	for _, d := range diags {
		out := Diagnostic{Severity: "error"}
		if d.Severity == hcl.DiagWarning {
			out.Severity = "warning"
		}
		if d.Subject != nil {
			out.File, out.Line, out.Col = d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column
			out.EndLine, out.EndCol = d.Subject.End.Line, d.Subject.End.Column
		}
		if _, ok := d.Extra.(ownDiag); ok {
			out.Message, out.Hint = d.Summary, d.Detail
		} else {
			out.Message, out.Hint = fromHCL(d.Summary, d.Detail)
		}
		if out.Severity == "error" {
			errs = append(errs, out)
		} else {
			warns = append(warns, out)
		}
	}
	bySource := func(a, b Diagnostic) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	}
	slices.SortStableFunc(errs, bySource)
	slices.SortStableFunc(warns, bySource)
	return append(errs, warns...)
}

// fromHCL turns HCL's "Summary" + "Detail. Did you mean X?" into a
// lower-case message and a hint.
func fromHCL(summary, detail string) (msg, hint string) {
	msg = lowerFirst(summary)
	if i := strings.Index(detail, "Did you mean"); i >= 0 {
		hint = lowerFirst(strings.TrimSpace(detail[i:]))
		detail = strings.TrimSpace(detail[:i])
	}
	if detail != "" {
		msg += ": " + lowerFirst(strings.TrimSuffix(detail, "."))
	}
	return msg, hint
}

func lowerFirst(s string) string {
	if s == "" || strings.HasPrefix(s, "HCL") {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// WriteText prints diagnostics the way compilers do:
//
//	policy.hcl:12:13: error: filesystem.deny[0] "~/.ssh" is a relative pattern
//	   12 |   deny = ["~/.ssh"]
//	      |           ^^^^^^^^
//	  hint: policies do not expand ~; write ${home}/.ssh
//
// files supplies the source lines; color adds ANSI colour (terminals only).
func WriteText(w io.Writer, ds []Diagnostic, files map[string]*hcl.File, color bool) {
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return "\x1b[" + code + "m" + s + "\x1b[0m"
	}
	for _, d := range ds {
		sev := paint("1;31", "error")
		if d.Severity == "warning" {
			sev = paint("1;33", "warning")
		}
		if d.File == "" {
			fmt.Fprintf(w, "%s: %s\n", sev, d.Message)
		} else {
			fmt.Fprintf(w, "%s: %s: %s\n", paint("1", fmt.Sprintf("%s:%d:%d", d.File, d.Line, d.Col)), sev, d.Message)
			if line, ok := sourceLine(files[d.File], d.Line); ok {
				width := 1
				if d.EndLine == d.Line && d.EndCol > d.Col {
					width = d.EndCol - d.Col
				}
				gutter := fmt.Sprintf("%5d | ", d.Line)
				fmt.Fprintf(w, "%s%s\n", gutter, expandTabs(line))
				pad := strings.Repeat(" ", len(expandTabs(prefixOf(line, d.Col-1))))
				fmt.Fprintf(w, "%s%s%s\n", strings.Repeat(" ", len(gutter)-2)+"| ", pad, paint("1;32", strings.Repeat("^", width)))
			}
		}
		if d.Hint != "" {
			fmt.Fprintf(w, "  %s %s\n", paint("1;36", "hint:"), d.Hint)
		}
	}
}

func sourceLine(f *hcl.File, n int) (string, bool) {
	if f == nil || n < 1 {
		return "", false
	}
	lines := bytes.Split(f.Bytes, []byte("\n"))
	if n > len(lines) {
		return "", false
	}
	return strings.TrimRight(string(lines[n-1]), "\r"), true
}

// prefixOf returns the first cols columns of line; HCL counts columns in
// characters, so the caret lines up under multi-byte text too.
func prefixOf(line string, cols int) string {
	i := 0
	for n := range line {
		if i == cols {
			return line[:n]
		}
		i++
	}
	return line
}

func expandTabs(s string) string { return strings.ReplaceAll(s, "\t", "    ") }
