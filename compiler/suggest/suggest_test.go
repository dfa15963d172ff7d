package suggest

import "testing"

func TestNearest(t *testing.T) {
	names := []string{"deny_write", "deny", "read", "write"}
	for in, want := range map[string]string{"deny_wrte": "deny_write", "reed": "read", "Write": "write", "xyzzy": ""} {
		if got := Nearest(in, names); got != want {
			t.Errorf("Nearest(%q) = %q, want %q", in, got, want)
		}
	}
	if d := levenshtein("kitten", "sitting"); d != 3 {
		t.Errorf("levenshtein(kitten, sitting) = %d", d)
	}
	if got := DidYouMean("reed", names); got != ` (did you mean "read"?)` {
		t.Errorf("DidYouMean = %q", got)
	}
}
