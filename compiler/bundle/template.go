package bundle

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Vars are the values path templates are resolved with at launch, for the
// user the workload runs as.
type Vars struct {
	Workspace string // the directory the agent works in
	Home      string // the workload user's home, from the password database
	Tmp       string // the sandbox's private temporary directory
	User      string // the workload user's name
	// Env looks up ${env:NAME}; nil means no environment.
	Env func(name string) (string, bool)
}

// TemplateVars are the variable names a template may use, besides env:NAME.
var TemplateVars = []string{"workspace", "home", "tmp", "user"}

// CheckTemplate validates the ${...} references of a path template.
func CheckTemplate(t string) error {
	_, err := expand(t, func(name string) (string, error) { return "/x", nil })
	return err
}

// Expand resolves a template to an absolute, clean path. With glob set, the
// substituted values are escaped so a home directory named "a*b" stays a
// literal in a deny pattern.
func Expand(t string, v Vars, glob bool) (string, error) {
	out, err := expand(t, func(name string) (string, error) {
		val, err := v.value(name)
		if err == nil && glob {
			val = escapeGlob(val)
		}
		return val, err
	})
	if err != nil {
		return "", fmt.Errorf("%q: %w", t, err)
	}
	if strings.HasPrefix(out, "**/") {
		return out, nil
	}
	if !strings.HasPrefix(out, "/") {
		return "", fmt.Errorf("%q resolves to %q, which is not an absolute path", t, out)
	}
	if !glob {
		out = filepath.Clean(out)
	}
	return out, nil
}

// ExpandValue resolves the variables of an environment value, which unlike
// a path template may resolve to any text.
func ExpandValue(t string, v Vars) (string, error) {
	out, err := expand(t, v.value)
	if err != nil {
		return "", fmt.Errorf("%q: %w", t, err)
	}
	return out, nil
}

// value is the value of one template variable.
func (v Vars) value(name string) (string, error) {
	var val string
	switch {
	case name == "workspace":
		val = v.Workspace
	case name == "home":
		val = v.Home
	case name == "tmp":
		val = v.Tmp
	case name == "user":
		val = v.User
	case strings.HasPrefix(name, "env:"):
		if v.Env == nil {
			return "", fmt.Errorf("${%s} is not set", name)
		}
		s, ok := v.Env(strings.TrimPrefix(name, "env:"))
		if !ok {
			return "", fmt.Errorf("${%s} is not set", name)
		}
		val = s
	}
	if val == "" {
		return "", fmt.Errorf("${%s} has no value", name)
	}
	if strings.ContainsRune(val, 0) {
		return "", fmt.Errorf("${%s} contains a NUL byte", name)
	}
	return val, nil
}

func expand(t string, value func(name string) (string, error)) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(t, "${")
		if i < 0 {
			b.WriteString(t)
			return b.String(), nil
		}
		b.WriteString(t[:i])
		end := strings.IndexByte(t[i:], '}')
		if end < 0 {
			return "", errors.New("unterminated ${")
		}
		name := t[i+2 : i+end]
		if !validVar(name) {
			return "", fmt.Errorf("unknown variable ${%s} (known: ${workspace}, ${home}, ${tmp}, ${user}, env(\"NAME\"))", name)
		}
		v, err := value(name)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
		t = t[i+end+1:]
	}
}

func validVar(name string) bool {
	for _, v := range TemplateVars {
		if name == v {
			return true
		}
	}
	env, ok := strings.CutPrefix(name, "env:")
	return ok && validEnvName(env)
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if c != '_' && (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func escapeGlob(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch c {
		case '*', '?', '[', ']', '\\', '$':
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// IsGlob reports whether a template has glob syntax outside its variables.
func IsGlob(t string) bool {
	s, _ := expand(t, func(string) (string, error) { return "", nil })
	return strings.ContainsAny(s, "*?[")
}
