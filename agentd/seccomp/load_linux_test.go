package seccomp

import (
	"strings"
	"testing"
)

// A program that is not whole instructions, or is empty or too long, is
// refused before the kernel sees it: a spec cut short never installs a
// shorter filter than the launcher compiled.
func TestLoadRefusesPartialPrograms(t *testing.T) {
	for _, n := range []int{0, 7, 8*3 + 5, 8*4096 + 8} {
		err := Load(make([]byte, n), 0)
		if err == nil || !strings.Contains(err.Error(), "instructions of 8 bytes") {
			t.Errorf("%d bytes: %v", n, err)
		}
	}
}
