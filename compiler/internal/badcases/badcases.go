// Package badcases reads the bad-policy corpus (compiler/policy/testdata/bad):
// one file per class of bad input, each ending in comments that say what
// must be reported:
//
//	# want: LINE:COL: a substring of the error message   (or "# want: message" with no position)
//	# hint: a substring of the hint                      (optional)
//	# var: NAME=VALUE                                    (optional, repeatable: policyc --var)
//
// The policy package checks the diagnostics; policyc's tests run the same
// files through the command and check its output and exit status.
package badcases

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Case is one bad policy and what it must produce.
type Case struct {
	Name      string
	Path      string
	Line, Col int // 0 when the error has no position
	Msg, Hint string
	Vars      map[string]string
}

// Dir is the corpus directory relative to the repository's compiler/.
const Dir = "policy/testdata/bad"

// Read loads every case in dir.
func Read(dir string) ([]Case, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.hcl"))
	if err != nil || len(paths) == 0 {
		return nil, fmt.Errorf("no bad-policy cases in %s (%v)", dir, err)
	}
	var out []Case
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		c := Case{Name: strings.TrimSuffix(filepath.Base(p), ".hcl"), Path: p, Vars: map[string]string{}}
		for _, line := range strings.Split(string(data), "\n") {
			switch {
			case strings.HasPrefix(line, "# want: "):
				c.Msg = strings.TrimPrefix(line, "# want: ")
				if pos, msg, ok := strings.Cut(c.Msg, ": "); ok {
					l, col, ok2 := strings.Cut(pos, ":")
					ln, err1 := strconv.Atoi(l)
					cn, err2 := strconv.Atoi(col)
					if ok2 && err1 == nil && err2 == nil {
						c.Line, c.Col, c.Msg = ln, cn, msg
					}
				}
			case strings.HasPrefix(line, "# hint: "):
				c.Hint = strings.TrimPrefix(line, "# hint: ")
			case strings.HasPrefix(line, "# var: "):
				k, v, _ := strings.Cut(strings.TrimPrefix(line, "# var: "), "=")
				c.Vars[k] = v
			}
		}
		if c.Msg == "" {
			return nil, fmt.Errorf("%s has no # want: line", p)
		}
		out = append(out, c)
	}
	return out, nil
}
