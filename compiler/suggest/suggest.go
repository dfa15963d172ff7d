// Package suggest finds the known name a mistyped one most likely meant.
package suggest

import (
	"fmt"
	"strings"
)

// DidYouMean returns ` (did you mean "x"?)` naming the candidate nearest to
// input, or "" when none is close enough to be a plausible typo. Case is
// ignored when measuring.
func DidYouMean(input string, candidates []string) string {
	if best := Nearest(input, candidates); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// Nearest is the candidate with the smallest edit distance to input (ties go
// to the alphabetically first), if that distance is small for the input's
// length.
func Nearest(input string, candidates []string) string {
	in := strings.ToLower(input)
	limit := max(2, len(in)/3)
	best, bestDist := "", limit+1
	for _, c := range candidates {
		d := levenshtein(in, strings.ToLower(c))
		if d < bestDist || (d == bestDist && c < best) {
			best, bestDist = c, d
		}
	}
	return best
}

// levenshtein is the edit distance between a and b, in bytes (every name
// here is ASCII).
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
