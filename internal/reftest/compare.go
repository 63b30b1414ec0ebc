package reftest

import (
	"math"
	"strconv"
)

// Diff is how far a result is from its reference value, element by element.
type Diff struct {
	Abs    float64 // max |got - want|
	Scale  float64 // max |want|
	Rel    float64 // Abs / Scale (Abs when Scale is 0); NaN when a value is NaN
	Length int
}

// Compare returns the largest difference of got from want relative to want's largest
// magnitude. It is the measure of comparisons whose results depend on the order of
// floating-point sums (convolutions, matrix products, batch norm statistics): a
// reordered float32 sum moves each output by a few units in the last place of the
// largest partial sums, that is relative to the tensor's magnitude, not to each element
// (an output near zero can have a large relative error of its own and still be right).
// It panics when the lengths differ.
func Compare(got, want []float64) Diff {
	if len(got) != len(want) {
		panic("reftest.Compare: lengths differ")
	}
	d := Diff{Length: len(got)}
	for i, w := range want {
		g := got[i]
		if math.IsNaN(g) != math.IsNaN(w) {
			d.Rel = math.NaN()
			return d
		}
		d.Abs = math.Max(d.Abs, math.Abs(g-w))
		d.Scale = math.Max(d.Scale, math.Abs(w))
	}
	d.Rel = d.Abs
	if d.Scale > 0 {
		d.Rel = d.Abs / d.Scale
	}
	return d
}

// Within reports whether the relative difference is at most tol (false for NaN).
func (d Diff) Within(tol float64) bool { return d.Rel <= tol }

// String is the form the tests log: "max |diff| / max |want| = R (A / S)".
func (d Diff) String() string {
	return "max |diff| / max |want| = " + fmtG(d.Rel) + " (" + fmtG(d.Abs) + " / " + fmtG(d.Scale) + ")"
}

func fmtG(v float64) string { return strconv.FormatFloat(v, 'g', 3, 64) }

// Float32Net bounds Compare(got, want).Rel for the outputs of a float32 convolutional
// network (feature maps, conf, loc) computed by two implementations, or by one on two
// CPUs. Each output is a sum of up to K = 3·3·1024 products whose order depends on the
// instruction set (ATEN_CPU_CAPABILITY), the BLAS kernel (OPENBLAS_CORETYPE) and the
// thread count, so each layer is off by about sqrt(K) float32 roundings (2^-23 each) of
// its largest partial sums, and ~30 layers compound it: 30·sqrt(9216)·2^-23 ≈ 3.4e-4.
// Train-mode batch norm divides by statistics computed that way too. 1e-3 covers that
// worst case with room; a wrong weight, layer, padding, stride or activation moves these
// outputs by 1e-2 of their magnitude or (usually) far more.
const Float32Net = 1e-3
