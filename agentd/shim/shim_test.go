package shim

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"

	"golang.org/x/net/bpf"
)

// A program survives the spec's JSON exactly, and a damaged one is
// refused rather than loaded short.
func TestProgramRoundTrip(t *testing.T) {
	prog := make([]bpf.RawInstruction, 300)
	for i := range prog {
		prog[i] = bpf.RawInstruction{Op: uint16(rand.Uint32()), Jt: uint8(rand.Uint32()), Jf: uint8(rand.Uint32()), K: rand.Uint32()}
	}
	data, err := json.Marshal(Spec{Seccomp: []Program{Pack(prog)}})
	if err != nil {
		t.Fatal(err)
	}
	var spec Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	got, err := unpack(spec.Seccomp[0])
	if err != nil || !slices.Equal(got, prog) {
		t.Fatalf("round trip changed the program (err %v)", err)
	}
	if _, err := unpack(spec.Seccomp[0][:len(spec.Seccomp[0])-3]); err == nil {
		t.Fatal("a program cut mid-instruction was accepted")
	}
}
