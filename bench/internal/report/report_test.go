package report

import (
	"math"
	"testing"
)

func TestQuantile(t *testing.T) {
	if q := Quantile([]float64{4, 1, 3, 2}, 0.5); q != 2.5 {
		t.Fatalf("median %v", q)
	}
	if q := Quantile([]float64{1, 2, 3, 4, 5}, 0.9); q != 4.6 {
		t.Fatalf("p90 %v", q)
	}
	if q := Quantile(nil, 0.5); !math.IsNaN(q) {
		t.Fatalf("no values: %v", q)
	}
}
