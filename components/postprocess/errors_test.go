package postprocess

import (
	"math"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	box "github.com/ssdrunner/ssdrunner/components/boxes"
)

var reference = Config{Method: Hard, IoUThreshold: 0.45, ScoreThreshold: 0.01, CandidateSize: 200, Sigma: 0.5}

func wantError(t *testing.T, what string, err error, substr string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want one containing %q", what, substr)
	} else if !strings.Contains(err.Error(), substr) {
		t.Errorf("%s: error %q, want it to contain %q", what, err, substr)
	}
}

func TestConfigErrors(t *testing.T) {
	with := func(f func(*Config)) Config { c := reference; f(&c); return c }
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{with(func(c *Config) { c.Method = "" }), `method ""`},
		{with(func(c *Config) { c.Method = "greedy" }), `method "greedy"`},
		{with(func(c *Config) { c.IoUThreshold = 1.5 }), "iou_threshold"},
		{with(func(c *Config) { c.IoUThreshold = math.NaN() }), "iou_threshold"},
		{with(func(c *Config) { c.ScoreThreshold = -0.1 }), "score_threshold"},
		{with(func(c *Config) { c.ScoreThreshold = math.NaN() }), "score_threshold"},
		{with(func(c *Config) { c.Method = Soft; c.Sigma = 0 }), "sigma"},
		{with(func(c *Config) { c.Method = Soft; c.Sigma = math.Inf(1) }), "sigma"},
	} {
		wantError(t, "Validate", c.cfg.Validate(), c.want)
	}
	if err := reference.Validate(); err != nil {
		t.Errorf("reference settings: %v", err)
	}
	soft := with(func(c *Config) { c.Method = Soft; c.IoUThreshold = 7 }) // unused by soft NMS
	if err := soft.Validate(); err != nil {
		t.Errorf("soft NMS with an unused iou_threshold: %v", err)
	}
}

func TestDetectErrors(t *testing.T) {
	conf, loc, priors := goldenInputs(t)
	f64 := conf.MustTotype(gotch.Double, false)
	defer f64.MustDrop()
	flat := conf.MustSelect(0, 0, false)
	defer flat.MustDrop()
	oneClass := conf.MustNarrow(2, 0, 1, false)
	defer oneClass.MustDrop()
	fewer := loc.MustNarrow(1, 0, 100, false)
	defer fewer.MustDrop()
	wide := ts.MustCat([]ts.Tensor{*loc, *loc}, 2)
	defer wide.MustDrop()
	fewerPriors := priors.MustNarrow(0, 0, 100, false)
	defer fewerPriors.MustDrop()
	nanConf := withValue(t, conf, 1, math.NaN())
	infLoc := withValue(t, loc, 0, math.Inf(1))
	badPriors := withValue(t, priors, 0, math.NaN())
	// A batch of two whose second image has a NaN logit.
	nanBatch := ts.MustCat([]ts.Tensor{*conf, *nanConf}, 0)
	defer nanBatch.MustDrop()
	locs := ts.MustCat([]ts.Tensor{*loc, *loc}, 0)
	defer locs.MustDrop()
	for _, c := range []struct {
		name              string
		conf, loc, priors *ts.Tensor
		cfg               Config
		want              string
	}{
		{"nil conf", nil, loc, priors, reference, "conf: nil tensor"},
		{"float64 conf", f64, loc, priors, reference, "conf: dtype float64, want float32"},
		{"2-D conf", flat, loc, priors, reference, "want [B, P, C]"},
		{"one class", oneClass, loc, priors, reference, "need at least 2 classes"},
		{"fewer locations", conf, fewer, priors, reference, "loc has shape [1 100 4], want [1, 3000, 4]"},
		{"5 coordinates", conf, wide, priors, reference, "loc has shape [1 3000 8]"},
		{"fewer priors", conf, loc, fewerPriors, reference, "priors have shape [100 4], want [3000, 4]"},
		{"NaN logit", nanBatch, locs, priors, reference, "conf: image 1 has 1 NaN or infinite values"},
		{"infinite offset", conf, infLoc, priors, reference, "loc: image 0 has 1 NaN or infinite values"},
		{"NaN prior", conf, loc, badPriors, reference, "priors: 1 values are NaN"},
		{"bad config", conf, loc, priors, Config{Method: "fast"}, `method "fast"`},
	} {
		_, err := Detect(c.conf, c.loc, c.priors, box.DefaultVariances, c.cfg)
		wantError(t, c.name, err, c.want)
	}
	_, err := Detect(conf, loc, priors, box.Variances{Center: 0.1}, reference)
	wantError(t, "zero size variance", err, "variances must be > 0")
}

// TestAllFinite checks the one-reduction finiteness test against its edge cases: the
// largest float32 values (finite, with a float32 sum that would overflow), one infinity,
// infinities of both signs (whose sum is NaN) and a NaN.
func TestAllFinite(t *testing.T) {
	huge := make([]float64, 3000)
	for i := range huge {
		huge[i] = math.MaxFloat32
		if i%2 == 1 {
			huge[i] = -math.MaxFloat32
		}
	}
	huge[0], huge[2] = math.MaxFloat32, math.MaxFloat32 // the float32 sum would overflow
	for _, c := range []struct {
		name  string
		vals  []float64
		want  bool
		count int64
	}{
		{"largest float32 values", huge, true, 0},
		{"one +Inf", []float64{1, math.Inf(1), 2}, false, 1},
		{"+Inf and -Inf", []float64{math.Inf(-1), 0, math.Inf(1)}, false, 2},
		{"NaN", []float64{math.NaN(), 3}, false, 1},
		{"empty", nil, true, 0},
	} {
		x := tensor(t, c.vals, int64(len(c.vals)))
		if got, err := allFinite(x); err != nil || got != c.want {
			t.Errorf("%s: allFinite = %v, %v; want %v", c.name, got, err, c.want)
		}
		if got, err := countNonFinite(x); err != nil || got != c.count {
			t.Errorf("%s: countNonFinite = %d, %v; want %d", c.name, got, err, c.count)
		}
	}
}

// withValue returns a copy of x whose element of flat index i is v (freed at cleanup).
func withValue(t *testing.T, x *ts.Tensor, i int, v float64) *ts.Tensor {
	t.Helper()
	vals := x.Float64Values()
	vals[i] = v
	return tensor(t, vals, x.MustSize()...)
}

func TestNMSErrors(t *testing.T) {
	b := tensor(t, []float64{0, 0, 1, 1, 0.5, 0.5, 1, 1}, 2, 4)
	s := tensor(t, []float64{0.9, 0.8}, 2)
	s3 := tensor(t, []float64{0.9, 0.8, 0.7}, 3)
	nan := tensor(t, []float64{0.9, math.NaN()}, 2)
	b5 := tensor(t, make([]float64, 10), 2, 5)
	b64 := b.MustTotype(gotch.Double, false)
	defer b64.MustDrop()
	for _, c := range []struct {
		name          string
		boxes, scores *ts.Tensor
		want          string
	}{
		{"nil", nil, s, "nil tensor"},
		{"3 scores", b, s3, "scores have shape [3], want [2]"},
		{"5 coordinates", b5, s, "boxes have shape [2 5], want [N, 4]"},
		{"NaN score", b, nan, "1 of the 2 scores are NaN"},
		{"float64", b64, s, "boxes: dtype float64, want float32"},
	} {
		_, err := NMS(c.boxes, c.scores, 0.5, 0, 200)
		wantError(t, "NMS: "+c.name, err, c.want)
		_, _, err = SoftNMS(c.boxes, c.scores, 0.5, 0.1, 0)
		wantError(t, "SoftNMS: "+c.name, err, c.want)
	}
	_, err := NMS(b, s, math.NaN(), 0, 200)
	wantError(t, "NMS: NaN threshold", err, "iou threshold is NaN")
	_, _, err = SoftNMS(b, s, 0, 0.1, 0)
	wantError(t, "SoftNMS: sigma 0", err, "sigma must be a positive number")
	_, _, err = SoftNMS(b, s, 0.5, math.NaN(), 0)
	wantError(t, "SoftNMS: NaN threshold", err, "score threshold is NaN")
}

// TestDetectLibtorchError gives Detect a conf that has the right shape, dtype and device
// but that libtorch cannot compute with (a sparse tensor): the gotch Must* call that fails
// inside postprocess panics (the patched gotch; unpatched it would exit the process), and
// Detect returns the error; the process goes on and Detect still works afterwards.
func TestDetectLibtorchError(t *testing.T) {
	conf, loc, priors := goldenInputs(t)
	sparse := conf.MustToSparse(false)
	defer sparse.MustDrop()
	dets, err := Detect(sparse, loc, priors, box.DefaultVariances, reference)
	wantError(t, "sparse conf", err, "Libtorch API Error")
	if dets != nil {
		t.Errorf("sparse conf: %d detections with the error", len(dets))
	}
	t.Logf("error: %s", strings.SplitN(err.Error(), "\n", 2)[0])
	if _, err := Detect(conf, loc, priors, box.DefaultVariances, reference); err != nil {
		t.Fatal(err)
	}
}
