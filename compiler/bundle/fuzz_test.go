package bundle

import (
	"testing"
)

// FuzzDecode: a bundle is input too (a file anyone may hand to the
// launcher). Decoding arbitrary bytes must never panic, and anything it
// accepts must encode again and decode to the same checksum.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"format":"paddock-bundle","version":1}`))
	f.Add([]byte(`{"format":"paddock-bundle","version":2}`))
	f.Add([]byte(`not json`))
	f.Add(sampleBundle(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Decode(data, "fuzz")
		if err != nil {
			return
		}
		out, err := Encode(b)
		if err != nil {
			t.Fatalf("decoded but does not encode: %v", err)
		}
		back, err := Decode(out, "again")
		if err != nil || back.Checksum != b.Checksum {
			t.Fatalf("re-encoded bundle differs: %v", err)
		}
	})
}
