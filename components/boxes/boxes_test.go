package boxes

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

type array struct {
	Shape []int64   `json:"shape"`
	Data  []float64 `json:"data"`
}

// loadGolden reads testdata/boxes_golden.json (written by
// components/anchors/testdata/gen_golden.py from the reference's box_utils).
func loadGolden(t *testing.T) map[string]array {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "boxes_golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g map[string]array
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// tensor makes a float32 tensor of the given shape; the test frees it at cleanup.
func tensor(t *testing.T, data []float64, shape ...int64) *ts.Tensor {
	t.Helper()
	return tensorOf(t, gotch.Float, data, shape...)
}

// tensorOf makes a float32 or float64 tensor; the test frees it at cleanup.
func tensorOf(t *testing.T, dt gotch.DType, data []float64, shape ...int64) *ts.Tensor {
	t.Helper()
	var x *ts.Tensor
	var err error
	if dt == gotch.Double {
		x, err = ts.NewTensorFromData(data, shape)
	} else {
		f := make([]float32, len(data))
		for i, v := range data {
			f[i] = float32(v)
		}
		x, err = ts.NewTensorFromData(f, shape)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(x.MustDrop)
	return x
}

func (a array) tensor(t *testing.T) *ts.Tensor { return tensor(t, a.Data, a.Shape...) }

// values frees x and returns its shape and values.
func values(t *testing.T, x *ts.Tensor, err error) ([]int64, []float64) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer x.MustDrop()
	return x.MustSize(), x.Float64Values()
}

// getter returns values bound to t, to wrap calls that return (tensor, error).
func getter(t *testing.T) func(*ts.Tensor, error) ([]int64, []float64) {
	return func(x *ts.Tensor, err error) ([]int64, []float64) {
		t.Helper()
		return values(t, x, err)
	}
}

// near fails unless got and want agree within tol, relative to max(1, |want|).
func near(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	worst := 0.0
	for i := range got {
		d := math.Abs(got[i]-want[i]) / math.Max(1, math.Abs(want[i]))
		if !(d <= tol) {
			t.Fatalf("%s[%d] = %v, want %v (tolerance %g)", what, i, got[i], want[i], tol)
		}
		worst = math.Max(worst, d)
	}
	t.Logf("%s: %d values, max rel diff %g", what, len(got), worst)
}

func sameShape(t *testing.T, what string, got, want []int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: shape %v, want %v", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: shape %v, want %v", what, got, want)
		}
	}
}

func TestMatchesReference(t *testing.T) {
	get := getter(t)
	g := loadGolden(t)
	a, b := g["a"].tensor(t), g["b"].tensor(t)
	priors, gt, locs := g["priors"].tensor(t), g["gt_center"].tensor(t), g["locations"].tensor(t)
	gt0 := gt.MustSelect(0, 0, false)
	t.Cleanup(gt0.MustDrop)

	check := func(name string, key string, x *ts.Tensor, err error) {
		t.Helper()
		shape, got := values(t, x, err)
		sameShape(t, name, shape, g[key].Shape)
		near(t, name, got, g[key].Data, 1e-6)
	}
	x, err := IoU(a, b)
	check("IoU(a, b)", "iou_a_b", x, err)
	x, err = Area(a)
	check("Area(a)", "area_a", x, err)
	x, err = Area(b)
	check("Area(b) (inverted box)", "area_b", x, err)
	x, err = CornerToCenter(a)
	check("CornerToCenter(a)", "center_a", x, err)
	center, err := CornerToCenter(a)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(center.MustDrop)
	x, err = CenterToCorner(center)
	check("CenterToCorner(CornerToCenter(a))", "corner_of_center_a", x, err)
	x, err = Encode(gt, priors, DefaultVariances)
	check("Encode batched", "encoded", x, err)
	x, err = Encode(gt0, priors, DefaultVariances)
	check("Encode unbatched", "encoded_unbatched", x, err)
	x, err = Decode(locs, priors, DefaultVariances)
	check("Decode batched", "decoded", x, err)
	x, err = Decode(locs, priors, Variances{Center: 0.2, Size: 0.5})
	check("Decode variances 0.2/0.5", "decoded_var_0.2_0.5", x, err)

	// IoU(b, a) is the transpose of the golden matrix, exactly (the reference computes
	// its matching matrix as iou_of(gt[1,T], priors[P,1])).
	_, ba := get(IoU(b, a))
	ab := g["iou_a_b"].Data
	for i := 0; i < 7; i++ {
		for j := 0; j < 5; j++ {
			if float32(ba[j*7+i]) != float32(ab[i*5+j]) {
				t.Fatalf("IoU(b,a)[%d,%d] = %v, reference iou(a,b)[%d,%d] = %v", j, i, ba[j*7+i], i, j, ab[i*5+j])
			}
		}
	}
}

// randomCorner returns n random corner-form boxes inside [0, 1.2] with sides >= 0.01.
func randomCorner(r *rand.Rand, n int) []float64 {
	out := make([]float64, 0, 4*n)
	for range n {
		x, y := r.Float64()*0.8, r.Float64()*0.8
		out = append(out, x, y, x+0.01+r.Float64()*0.4, y+0.01+r.Float64()*0.4)
	}
	return out
}

func TestIoUProperties(t *testing.T) {
	get := getter(t)
	r := rand.New(rand.NewPCG(1, 2))
	const n, m = 40, 30
	a := tensor(t, randomCorner(r, n), n, 4)
	b := tensor(t, randomCorner(r, m), m, 4)
	shape, ab := get(IoU(a, b))
	sameShape(t, "IoU(a, b)", shape, []int64{n, m})
	_, ba := get(IoU(b, a))
	overlapping := 0
	for i := 0; i < n; i++ {
		for j := 0; j < m; j++ {
			v := ab[i*m+j]
			if !(v >= 0 && v <= 1) {
				t.Fatalf("IoU[%d,%d] = %v outside [0,1]", i, j, v)
			}
			if v != ba[j*n+i] {
				t.Fatalf("IoU not symmetric at [%d,%d]: %v vs %v", i, j, v, ba[j*n+i])
			}
			if v > 0 {
				overlapping++
			}
		}
	}
	if overlapping == 0 || overlapping == n*m {
		t.Fatalf("%d of %d pairs overlap: the test data does not exercise both cases", overlapping, n*m)
	}

	// A box with itself: 1 without eps, just below 1 with it.
	_, self := get(BroadcastIoU(a, a, 0))
	_, areas := get(Area(a))
	_, selfEps := get(BroadcastIoU(a, a, DefaultEps))
	for i := range self {
		if self[i] != 1 {
			t.Fatalf("IoU(a_%d, a_%d) without eps = %v, want 1", i, i, self[i])
		}
		want := areas[i] / (areas[i] + DefaultEps)
		if math.Abs(selfEps[i]-want) > 1e-6 || selfEps[i] >= 1 {
			t.Fatalf("IoU(a_%d, a_%d) = %v, want %v", i, i, selfEps[i], want)
		}
	}

	// Two touching boxes share no area; disjoint ones neither; empty boxes give 0.
	c := tensor(t, []float64{0, 0, 1, 1, 1, 0, 2, 1, 5, 5, 6, 6, 0.5, 0.5, 0.5, 0.5}, 4, 4)
	_, cc := get(IoU(c, c))
	for i := 0; i < 4; i++ {
		for j := 0; j < 4; j++ {
			if i != j && cc[i*4+j] != 0 {
				t.Fatalf("IoU(c_%d, c_%d) = %v, want 0", i, j, cc[i*4+j])
			}
		}
	}
	if cc[15] != 0 {
		t.Fatalf("IoU of an empty box with itself = %v, want 0", cc[15])
	}
}

func TestEncodeDecodeInverse(t *testing.T) {
	get := getter(t)
	r := rand.New(rand.NewPCG(3, 4))
	const batch, p = 3, 50
	corner := tensor(t, randomCorner(r, p), p, 4)
	priors, err := CornerToCenter(corner)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(priors.MustDrop)
	gtCorner := tensor(t, randomCorner(r, batch*p), batch, p, 4)
	gt, err := CornerToCenter(gtCorner)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gt.MustDrop)
	want := gt.Float64Values()

	for _, v := range []Variances{DefaultVariances, {Center: 1, Size: 1}, {Center: 0.05, Size: 0.3}} {
		enc, err := Encode(gt, priors, v)
		if err != nil {
			t.Fatal(err)
		}
		shape, back := get(Decode(enc, priors, v))
		enc.MustDrop()
		sameShape(t, "Decode(Encode(gt))", shape, []int64{batch, p, 4})
		near(t, "Decode(Encode(gt))", back, want, 1e-5)
	}

	// And the other way round, from locations a head could output. In float32 the center
	// offsets lose digits to cancellation (cx - pcx with cx ≈ pcx, then divided by a small
	// pw*0.1): only the size columns hold 1e-5 there; float64 holds every column.
	locData := make([]float64, batch*p*4)
	for i := range locData {
		locData[i] = r.NormFloat64()
	}
	for _, dt := range []gotch.DType{gotch.Float, gotch.Double} {
		locs := tensorOf(t, dt, locData, batch, p, 4)
		pr := tensorOf(t, dt, priors.Float64Values(), p, 4)
		dec, err := Decode(locs, pr, DefaultVariances)
		if err != nil {
			t.Fatal(err)
		}
		_, again := get(Encode(dec, pr, DefaultVariances))
		dec.MustDrop()
		if dt == gotch.Double {
			near(t, "Encode(Decode(locs)) float64", again, locData, 1e-5)
			continue
		}
		var gotWH, wantWH []float64
		for i := 0; i < len(again); i += 4 {
			gotWH = append(gotWH, again[i+2:i+4]...)
			wantWH = append(wantWH, float64(float32(locData[i+2])), float64(float32(locData[i+3])))
		}
		near(t, "Encode(Decode(locs)) float32 sizes", gotWH, wantWH, 1e-5)
	}

	// Corner/center conversions are inverse too.
	_, cornerBack := get(CenterToCorner(priors))
	near(t, "CenterToCorner(CornerToCenter(x))", cornerBack, corner.Float64Values(), 1e-6)
}

func TestFloat64Inputs(t *testing.T) {
	x, err := ts.NewTensorFromData([]float64{0, 0, 2, 4, 1, 1, 3, 3}, []int64{2, 4})
	if err != nil {
		t.Fatal(err)
	}
	defer x.MustDrop()
	got, err := Area(x)
	if err != nil {
		t.Fatal(err)
	}
	defer got.MustDrop()
	if got.DType() != gotch.Double {
		t.Fatalf("dtype %v, want float64", got.DType())
	}
	if v := got.Float64Values(); v[0] != 8 || v[1] != 4 {
		t.Fatalf("areas %v, want [8 4]", v)
	}
}

func TestErrors(t *testing.T) {
	b4 := tensor(t, make([]float64, 8), 2, 4)
	b3 := tensor(t, make([]float64, 6), 2, 3)
	b34 := tensor(t, make([]float64, 2*3*4), 2, 3, 4)
	p5 := tensor(t, make([]float64, 20), 5, 4)
	ints, err := ts.NewTensorFromData([]int64{0, 0, 1, 1}, []int64{1, 4})
	if err != nil {
		t.Fatal(err)
	}
	defer ints.MustDrop()
	cases := []struct {
		name string
		f    func() (*ts.Tensor, error)
		want string
	}{
		{"area of [2,3]", func() (*ts.Tensor, error) { return Area(b3) }, "boxes: shape [2 3], want [..., 4]"},
		{"nil", func() (*ts.Tensor, error) { return CornerToCenter(nil) }, "boxes: nil tensor"},
		{"int boxes", func() (*ts.Tensor, error) { return CenterToCorner(ints) }, "want float32 or float64"},
		{"IoU of 3-D", func() (*ts.Tensor, error) { return IoU(b34, b4) }, "a: shape [2 3 4], want [N, 4]"},
		{"BroadcastIoU mismatch", func() (*ts.Tensor, error) { return BroadcastIoU(b34, p5, 0) }, "do not broadcast"},
		{"BroadcastIoU eps", func() (*ts.Tensor, error) { return BroadcastIoU(b4, b4, -1) }, "eps must be >= 0"},
		{"Encode priors count", func() (*ts.Tensor, error) { return Encode(b34, p5, DefaultVariances) }, "boxes and priors: shapes [2 3 4] and [1 5 4] do not broadcast"},
		{"Decode priors rank", func() (*ts.Tensor, error) { return Decode(b4, b34, DefaultVariances) }, "priors need the same number of dimensions or one less"},
		{"Decode variances", func() (*ts.Tensor, error) { return Decode(b4, b4, Variances{}) }, "variances must be > 0"},
		{"Encode priors last dim", func() (*ts.Tensor, error) { return Encode(b4, b3, DefaultVariances) }, "priors: shape [2 3]"},
	}
	for _, c := range cases {
		x, err := c.f()
		if err == nil {
			x.MustDrop()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
		}
	}
}
