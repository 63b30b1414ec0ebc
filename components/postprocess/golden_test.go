package postprocess

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	box "github.com/ssdrunner/ssdrunner/components/boxes"
)

// tol is the largest difference allowed against the reference's boxes and scores, all in
// [0, 1] (normalised boxes, probabilities). They are element-wise results (softmax over 21
// classes, box decoding, soft-NMS's Gaussian decay) with no long sums, so the CPU's kernels
// change them by a few float32 ulps at most (libtorch's vectorised exp, ~1 ulp apart
// between ATEN_CPU_CAPABILITY levels): 1e-6 is ~16 ulps of 1. The kept indices, the
// result of NMS, are compared exactly.
const tol = 1e-6

// nmsGolden is testdata/nms_golden.json (written by testdata/gen_golden.py from the
// reference's hard_nms and soft_nms).
type nmsGolden struct {
	Boxes  []float64            `json:"boxes"`
	N      int                  `json:"n"`
	Scores map[string][]float64 `json:"scores"`
	Hard   []struct {
		Scores        string  `json:"scores"`
		IoU           float64 `json:"iou"`
		TopK          int     `json:"top_k"`
		CandidateSize int     `json:"candidate_size"`
		Keep          []int64 `json:"keep"`
	} `json:"hard"`
	Soft []struct {
		Scores         string    `json:"scores"`
		Sigma          float64   `json:"sigma"`
		ScoreThreshold float64   `json:"score_threshold"`
		TopK           int       `json:"top_k"`
		Keep           []int64   `json:"keep"`
		NewScores      []float64 `json:"new_scores"`
	} `json:"soft"`
}

// predictCase is one entry of testdata/predict_golden.json: the reference Predictor's
// settings and its output on the fake net output of predict_{conf,loc,priors}.npy.
type predictCase struct {
	Name          string    `json:"name"`
	Method        string    `json:"method"`
	IoU           float64   `json:"iou"`
	Score         float64   `json:"score"`
	CandidateSize int       `json:"candidate_size"`
	Sigma         float64   `json:"sigma"`
	TopK          int       `json:"top_k"`
	Boxes         []float64 `json:"boxes"`
	Labels        []int     `json:"labels"`
	Probs         []float64 `json:"probs"`
}

func (c predictCase) config() Config {
	return Config{Method: c.Method, IoUThreshold: c.IoU, ScoreThreshold: c.Score,
		CandidateSize: c.CandidateSize, TopK: c.TopK, Sigma: c.Sigma}
}

// detections returns the reference's output as Detections.
func (c predictCase) detections() Detections {
	var d Detections
	for i, l := range c.Labels {
		var b [4]float32
		for j := range b {
			b[j] = float32(c.Boxes[4*i+j])
		}
		d.add(b, float32(c.Probs[i]), l)
	}
	return d
}

func readJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// readNpy reads a float32 .npy file of testdata; the test frees it at cleanup.
func readNpy(t testing.TB, name string) *ts.Tensor {
	t.Helper()
	x, err := ts.ReadNpy(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(x.MustDrop)
	if x.DType() != gotch.Float {
		t.Fatalf("%s: dtype %v, want float32", name, x.DType())
	}
	return x
}

// tensor makes a float32 tensor of the given shape; the test frees it at cleanup.
func tensor(t testing.TB, data []float64, shape ...int64) *ts.Tensor {
	t.Helper()
	if len(data) == 0 { // gotch's NewTensorFromData exits the process on empty data
		x := ts.MustZeros(shape, gotch.Float, gotch.CPU)
		t.Cleanup(x.MustDrop)
		return x
	}
	f := make([]float32, len(data))
	for i, v := range data {
		f[i] = float32(v)
	}
	x, err := ts.NewTensorFromData(f, shape)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(x.MustDrop)
	return x
}

// goldenInputs returns the fake net output and priors of predict_golden.json.
func goldenInputs(t testing.TB) (conf, loc, priors *ts.Tensor) {
	return readNpy(t, "predict_conf.npy"), readNpy(t, "predict_loc.npy"), readNpy(t, "predict_priors.npy")
}

// ints frees x and returns its int64 values.
func ints(t testing.TB, x *ts.Tensor) []int64 {
	t.Helper()
	defer x.MustDrop()
	if x.DType() != gotch.Int64 {
		t.Fatalf("dtype %v, want int64", x.DType())
	}
	v, err := int64Values(x) // gotch's Int64Values exits the process on an empty tensor
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// floats frees x and returns its float32 values as float64.
func floats(t testing.TB, x *ts.Tensor) []float64 {
	t.Helper()
	defer x.MustDrop()
	if x.DType() != gotch.Float {
		t.Fatalf("dtype %v, want float32", x.DType())
	}
	v, err := float32Values(x)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, len(v))
	for i, f := range v {
		out[i] = float64(f)
	}
	return out
}

func maxDiff(got, want []float64) float64 {
	worst := 0.0
	for i := range got {
		worst = max(worst, math.Abs(got[i]-want[i]))
	}
	return worst
}

func TestNMSMatchesReference(t *testing.T) {
	var g nmsGolden
	readJSON(t, "nms_golden.json", &g)
	b := tensor(t, g.Boxes, int64(g.N), 4)
	for _, c := range g.Hard {
		scores := tensor(t, g.Scores[c.Scores], int64(g.N))
		keep, err := NMS(b, scores, c.IoU, c.TopK, c.CandidateSize)
		if err != nil {
			t.Fatal(err)
		}
		if got := ints(t, keep); !slices.Equal(got, c.Keep) {
			t.Errorf("%s scores, iou %g, top_k %d, candidates %d: kept %v\nwant %v", c.Scores, c.IoU, c.TopK, c.CandidateSize, got, c.Keep)
		}
	}
}

func TestSoftNMSMatchesReference(t *testing.T) {
	var g nmsGolden
	readJSON(t, "nms_golden.json", &g)
	b := tensor(t, g.Boxes, int64(g.N), 4)
	for _, c := range g.Soft {
		scores := tensor(t, g.Scores[c.Scores], int64(g.N))
		before := scores.Float64Values()
		keep, newScores, err := SoftNMS(b, scores, c.Sigma, c.ScoreThreshold, c.TopK)
		if err != nil {
			t.Fatal(err)
		}
		got, gotScores := ints(t, keep), floats(t, newScores)
		if !slices.Equal(got, c.Keep) {
			t.Errorf("%s scores, sigma %g, threshold %g, top_k %d: picked %v\nwant %v", c.Scores, c.Sigma, c.ScoreThreshold, c.TopK, got, c.Keep)
			continue
		}
		if d := maxDiff(gotScores, c.NewScores); d > tol {
			t.Errorf("%s scores, sigma %g: new scores differ by up to %g", c.Scores, c.Sigma, d)
		} else if d != 0 {
			t.Logf("%s scores, sigma %g: new scores differ by up to %g", c.Scores, c.Sigma, d)
		}
		if !slices.Equal(scores.Float64Values(), before) {
			t.Errorf("SoftNMS modified its scores")
		}
	}
}

func TestDetectMatchesReference(t *testing.T) {
	var cases []predictCase
	readJSON(t, "predict_golden.json", &cases)
	conf, loc, priors := goldenInputs(t)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			dets, err := Detect(conf, loc, priors, box.DefaultVariances, c.config())
			if err != nil {
				t.Fatal(err)
			}
			if len(dets) != 1 {
				t.Fatalf("%d images, want 1", len(dets))
			}
			compareDetections(t, dets[0], c)
		})
	}
}

// compareDetections checks d against the reference's output: same labels in the same
// order, boxes and scores within tol (and reports whether they are identical).
func compareDetections(t *testing.T, d Detections, c predictCase) {
	t.Helper()
	if !slices.Equal(d.Labels, c.Labels) {
		i := 0
		for i < min(d.Len(), len(c.Labels)) && d.Labels[i] == c.Labels[i] {
			i++
		}
		t.Fatalf("%d detections, want %d; labels differ from detection %d on", d.Len(), len(c.Labels), i)
	}
	boxes := make([]float64, 0, 4*d.Len())
	for _, b := range d.Boxes {
		for _, v := range b {
			boxes = append(boxes, float64(v))
		}
	}
	scores := make([]float64, d.Len())
	for i, s := range d.Scores {
		scores[i] = float64(s)
	}
	db, ds := maxDiff(boxes, c.Boxes), maxDiff(scores, c.Probs)
	if db > tol || ds > tol {
		t.Errorf("boxes differ by up to %g, scores by up to %g; want <= %g", db, ds, tol)
	}
	t.Logf("%d detections; largest differences: boxes %g, scores %g", d.Len(), db, ds)
}
