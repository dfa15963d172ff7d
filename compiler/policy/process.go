package policy

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// limitValue parses one process.limits value into the bundle's unit: bytes
// for sizes, thousandths for cpus, seconds for cpu_time, a count otherwise.
func limitValue(key, s string) (uint64, error) {
	switch key {
	case "memory", "file_size":
		return parseSize(s)
	case "cpus":
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 0.01 || f > 4096 || math.IsNaN(f) {
			return 0, fmt.Errorf("%q is not a CPU count between 0.01 and 4096", s)
		}
		return uint64(math.Round(f * 1000)), nil
	case "cpu_time":
		if n, err := strconv.ParseUint(s, 10, 32); err == nil && n > 0 {
			return n, nil
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < time.Second {
			return 0, fmt.Errorf("%q is not a duration of at least 1s (e.g. \"30m\")", s)
		}
		return uint64(d / time.Second), nil
	case "pids", "open_files":
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil || n == 0 {
			return 0, fmt.Errorf("%q is not a positive whole number", s)
		}
		return n, nil
	}
	return 0, fmt.Errorf("unknown limit %q", key)
}

var sizeUnits = []struct {
	suffix string
	mult   uint64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

func parseSize(s string) (uint64, error) {
	num, mult := s, uint64(1)
	for _, u := range sizeUnits {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n == 0 || n > math.MaxUint64/mult {
		return 0, fmt.Errorf("%q is not a size (write bytes, or a number with KiB, MiB, GiB, TiB, KB, MB, GB or TB)", s)
	}
	return n * mult, nil
}
