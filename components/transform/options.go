package transform

import (
	"fmt"
	"math"
)

// defaultMean and defaultStd are the project's data.mean and data.std defaults (the
// reference's MobileNet configs: mean 127, std 128).
func defaultMean() []float64 { return []float64{127, 127, 127} }
func defaultStd() []float64  { return []float64{128} }

// perChannel turns an option of 1 value (all channels) or 3 values (R, G, B) into 3 float32.
func perChannel(name string, v []float64) ([3]float32, error) {
	var out [3]float32
	switch len(v) {
	case 1:
		out = [3]float32{float32(v[0]), float32(v[0]), float32(v[0])}
	case 3:
		out = [3]float32{float32(v[0]), float32(v[1]), float32(v[2])}
	default:
		return out, fmt.Errorf("%s needs 1 value (all channels) or 3 (R, G, B), got %d", name, len(v))
	}
	if !finiteAll(v...) {
		return out, fmt.Errorf("%s must be finite, got %v", name, v)
	}
	return out, nil
}

// stdChannels is perChannel for divisors: no zero allowed.
func stdChannels(name string, v []float64) ([3]float32, error) {
	out, err := perChannel(name, v)
	if err != nil {
		return out, err
	}
	for i, s := range out {
		if s == 0 {
			return out, fmt.Errorf("%s[%d] is 0: pixels would be divided by zero", name, min(i, len(v)-1))
		}
	}
	return out, nil
}

// checkRange validates a [lower, upper] option with lower >= 0.
func checkRange(name string, v []float64) error {
	if len(v) != 2 {
		return fmt.Errorf("%s needs 2 values [lower, upper], got %d", name, len(v))
	}
	if !finiteAll(v...) || v[0] < 0 || v[1] < v[0] {
		return fmt.Errorf("%s must satisfy 0 <= lower <= upper, got %v", name, v)
	}
	return nil
}

// checkProbability validates a probability option.
func checkProbability(name string, p float64) error {
	if math.IsNaN(p) || p < 0 || p > 1 {
		return fmt.Errorf("%s must be in [0, 1], got %g", name, p)
	}
	return nil
}

// checkSize validates an output size.
func checkSize(size int) error {
	if size <= 0 || size > 16384 {
		return fmt.Errorf("size must be in [1, 16384], got %d", size)
	}
	return nil
}
