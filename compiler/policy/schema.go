package policy

import (
	"fmt"
	"regexp"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// The language's blocks and attributes. HCL reports anything else as an
// error with a did-you-mean.
var (
	rootSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
		{Type: "policy", LabelNames: []string{"name"}},
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "filesystem"},
		{Type: "network"},
		{Type: "credential", LabelNames: []string{"name"}},
		{Type: "syscalls"},
		{Type: "process"},
	}}
	policySchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "description"}, {Name: "mode"}, {Name: "extends"}, {Name: "best_effort"},
	}}
	variableSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "default"}, {Name: "description"},
	}}
	filesystemSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "read"}, {Name: "write"}, {Name: "deny"}, {Name: "deny_write"},
	}}
	networkSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "allow"}, {Name: "deny"}, {Name: "unix_sockets"}, {Name: "listen"}, {Name: "on_unknown"}, {Name: "ask_timeout"},
	}}
	credentialSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "hosts", Required: true}, {Name: "env", Required: true}, {Name: "source", Required: true},
		{Name: "header"}, {Name: "format"}, {Name: "paths"}, {Name: "methods"},
		{Name: "strip_response_headers"}, {Name: "base_url_env"},
	}}
	syscallsSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "allow"}, {Name: "deny"}, {Name: "errno"}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "restrict", LabelNames: []string{"syscall"}}},
	}
	restrictSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "arg", Required: true}, {Name: "mask"}, {Name: "in"}, {Name: "not_in"}, {Name: "errno"},
	}}
	processSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "user"}, {Name: "limits"}, {Name: "env"}, {Name: "capabilities"},
	}}
)

// Keys of the object attributes process.limits and process.env.
var (
	limitKeys = []string{"memory", "pids", "cpus", "open_files", "file_size", "cpu_time"}
	envKeys   = []string{"pass", "set"}
)

// functions available in policy expressions. env("NAME") is resolved at
// launch from the workload's environment, like the path variables.
var functions = map[string]function.Function{
	"concat": stdlib.ConcatFunc,
	"env": function.New(&function.Spec{
		Params: []function.Parameter{{Name: "name", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			name := args[0].AsString()
			if !envName().MatchString(name) {
				return cty.NilVal, fmt.Errorf("%q is not an environment variable name", name)
			}
			return cty.StringVal("${env:" + name + "}"), nil
		},
	}),
}

var envName = lazyRegexp(`^[A-Za-z_][A-Za-z0-9_]*$`)

// lazyRegexp compiles a pattern on first use, so starting a binary that
// links the compiler costs nothing until a policy is compiled.
func lazyRegexp(pattern string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(pattern) })
}
