package seccomp

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sort"

	libseccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/compiler/syscalls"
)

// Reference assembles spec with elastic/go-seccomp-bpf's linear assembler,
// the independent implementation the emitter is tested and benchmarked
// against. That library only targets the architecture it runs on, always
// denies with EPERM and compares arguments on 64 bits, so Reference accepts
// a spec only when those limits do not change its meaning: Deny is EPERM,
// every check fails with Deny, and every mask is either all ones or an
// "all these bits clear" test.
//
// The two programs still differ by design where Lower adds invariants the
// library lacks: foreign architectures (killed here, defaulted there), clone3
// and numbers newer than the catalogue (ENOSYS here), and 32-bit arguments
// with garbage in the high word (truncated here, compared there).
func Reference(spec Spec) ([]bpf.RawInstruction, error) {
	if spec.Deny != Errno(unix.EPERM) || spec.Audit {
		return nil, errors.New("reference: only EPERM enforcement policies can be expressed")
	}
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		return nil, fmt.Errorf("reference: GOARCH %s has no syscall table", runtime.GOARCH)
	}
	names := make([]string, 0, len(spec.Allowed))
	for name := range spec.Allowed {
		names = append(names, name)
	}
	sort.Strings(names)

	group := libseccomp.SyscallGroup{Action: libseccomp.ActionAllow}
	native, _ := NativeArch()
	for _, name := range names {
		if _, ok := syscalls.Number(native.Name, name); !ok {
			continue
		}
		checks := spec.Allowed[name]
		if name == "seccomp" {
			checks = append([]Check{noNewListener}, checks...)
		}
		if len(checks) == 0 {
			group.Names = append(group.Names, name)
			continue
		}
		alts, err := alternatives(checks, spec.Deny)
		if err != nil {
			return nil, fmt.Errorf("reference: %s: %w", name, err)
		}
		for _, conds := range alts {
			group.NamesWithCondtions = append(group.NamesWithCondtions, libseccomp.NameWithConditions{Name: name, Conditions: conds})
		}
	}
	policy := libseccomp.Policy{DefaultAction: libseccomp.ActionErrno, Syscalls: []libseccomp.SyscallGroup{group}}
	insns, err := policy.Assemble()
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	raw := make([]bpf.RawInstruction, len(insns))
	for i, in := range insns {
		if raw[i], err = in.Assemble(); err != nil {
			return nil, fmt.Errorf("reference: %w", err)
		}
	}
	return raw, nil
}

// alternatives turns ANDed checks into the library's form: a list of
// condition sets, any of which allows the call (an OR of ANDs).
func alternatives(checks []Check, deny Action) ([]libseccomp.ArgumentConditions, error) {
	alts := []libseccomp.ArgumentConditions{nil}
	for _, c := range checks {
		if c.Fail != 0 && c.Fail != deny {
			return nil, fmt.Errorf("a check failing with %v cannot be expressed", c.Fail)
		}
		arg := uint32(c.Arg)
		var options []libseccomp.ArgumentConditions // OR of these, each an AND
		full := c.Mask == math.MaxUint64 || c.Bits == 32 && uint32(c.Mask) == math.MaxUint32
		switch {
		case full && c.Op == In:
			for _, v := range c.Values {
				options = append(options, libseccomp.ArgumentConditions{{Argument: arg, Operation: libseccomp.Equal, Value: v}})
			}
		case full && c.Op == NotIn:
			var all libseccomp.ArgumentConditions
			for _, v := range c.Values {
				all = append(all, libseccomp.Condition{Argument: arg, Operation: libseccomp.NotEqual, Value: v})
			}
			options = append(options, all)
		case c.Op == In && len(c.Values) == 1 && c.Values[0] == 0:
			options = append(options, libseccomp.ArgumentConditions{{Argument: arg, Operation: libseccomp.BitsNotSet, Value: c.Mask}})
		default:
			return nil, fmt.Errorf("masked comparison %#x %v %v cannot be expressed", c.Mask, c.Op, c.Values)
		}
		var next []libseccomp.ArgumentConditions
		for _, a := range alts {
			for _, o := range options {
				next = append(next, append(append(libseccomp.ArgumentConditions{}, a...), o...))
			}
		}
		alts = next
	}
	return alts, nil
}
