package seccomp

import "testing"

func TestSyntheticSpecExcept(t *testing.T) {
	for _, args := range []bool{false, true} {
		spec := SyntheticSpec(X86_64, 300, args, "getpid", "write")
		for _, name := range []string{"getpid", "write"} {
			if _, ok := spec.Allowed[name]; ok {
				t.Errorf("args=%v: %s has a rule though it is excepted", args, name)
			}
		}
		rules := 0
		for _, checks := range spec.Allowed {
			if len(checks) == 0 {
				rules++
				continue
			}
			rules += len(checks[0].Values)
		}
		if rules != 300 {
			t.Errorf("args=%v: %d rules, want 300", args, rules)
		}
	}
}
