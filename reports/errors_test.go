package reports

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
)

func goodEval() Eval {
	return Eval{Run: "r", Epoch: 3, MAP: 0.5, Classes: []ClassAP{
		{Class: "cat", AP: 0.6, Precision: []float64{1, 0.8, 0.6}, Recall: []float64{0.1, 0.5, 0.7}},
		{Class: "dog", AP: 0.4, Precision: []float64{0.5}, Recall: []float64{0.5}},
	}}
}

func TestEvalErrors(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	cases := []struct {
		name string
		edit func(e *Eval)
		want string // substring of the error
	}{
		{"no classes", func(e *Eval) { e.Classes = nil }, "has no classes"},
		{"NaN mAP", func(e *Eval) { e.MAP = nan }, "mAP is NaN"},
		{"mAP in percent", func(e *Eval) { e.MAP = 74.3 }, "mAP is 74.3, outside [0, 1]"},
		{"negative AP", func(e *Eval) { e.Classes[1].AP = -0.1 }, `class "dog": AP is -0.1, outside [0, 1]`},
		{"Inf AP", func(e *Eval) { e.Classes[0].AP = inf }, `class "cat": AP is +Inf`},
		{"NaN AP", func(e *Eval) { e.Classes[0].AP = nan }, `class "cat": AP is NaN`},
		{"empty name", func(e *Eval) { e.Classes[1].Class = "" }, "class 1 has an empty name"},
		{"repeated name", func(e *Eval) { e.Classes[1].Class = "cat" }, `class "cat" appears more than once`},
		{"lengths", func(e *Eval) { e.Classes[0].Recall = e.Classes[0].Recall[:2] }, "3 precision values but 2 recall values"},
		{"NaN precision", func(e *Eval) { e.Classes[0].Precision[1] = nan }, "precision[1] is NaN"},
		{"recall > 1", func(e *Eval) { e.Classes[0].Recall[2] = 1.5 }, "recall[2] is 1.5"},
		{"recall decreases", func(e *Eval) { e.Classes[0].Recall[1] = 0.05 }, "recall must be non-decreasing"},
	}
	for _, c := range cases {
		e := goodEval()
		c.edit(&e)
		draws := map[string]func(w io.Writer) error{
			"PerClassAP": func(w io.Writer) error { return PerClassAP(w, e) },
			"CompareAP":  func(w io.Writer) error { return CompareAP(w, []Eval{goodEval(), e}) },
			"PRCurves":   func(w io.Writer) error { return PRCurves(w, e) },
		}
		for fn, draw := range draws {
			var b bytes.Buffer
			err := draw(&b)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `run "r" epoch 3`) {
				t.Errorf("%s %s: error %v, want one containing %q and naming the run", fn, c.name, err, c.want)
			}
			if b.Len() != 0 {
				t.Errorf("%s %s: wrote %d bytes despite the error", fn, c.name, b.Len())
			}
		}
	}
}

func TestCallErrors(t *testing.T) {
	many := make([]Eval, 21)
	for i := range many {
		many[i] = goodEval()
	}
	manyClasses := synthEval("x", 0, 1, 0.5, cocoClasses(50))
	var names []string
	for _, c := range manyClasses.Classes {
		names = append(names, c.Class)
	}
	series := func(n int) []Series {
		out := make([]Series, n)
		for i := range out {
			out[i] = Series{Run: "r", Name: "n", Points: []Point{{0, 1}}}
		}
		return out
	}
	cases := []struct {
		name string
		draw func(w io.Writer) error
		want string
	}{
		{"CompareAP nil", func(w io.Writer) error { return CompareAP(w, nil) }, "CompareAP: no evals"},
		{"CompareAP 21 runs", func(w io.Writer) error { return CompareAP(w, many) }, "21 runs; at most 20"},
		{"CompareAP bad eval", func(w io.Writer) error { return CompareAP(w, []Eval{goodEval(), {Run: "z"}}) }, `run "z" epoch 0 has no classes (CompareAP, eval 1)`},
		{"PRCurves unknown", func(w io.Writer) error { return PRCurves(w, goodEval(), "cat", "cow") }, `class "cow" is not in the eval of run "r" epoch 3 (it has "cat", "dog")`},
		{"PRCurves 41 classes", func(w io.Writer) error { return PRCurves(w, manyClasses, names[:41]...) }, "41 classes asked for; at most 40"},
		{"Curves nil", func(w io.Writer) error { return Curves(w, "loss", "", nil) }, `Curves "loss": no series`},
		{"Curves 41", func(w io.Writer) error { return Curves(w, "", "", series(41)) }, "41 series; at most 40"},
		{"Curves no points", func(w io.Writer) error {
			return Curves(w, "t", "", []Series{{Run: "a", Name: "loss", Points: []Point{{0, 1}}}, {Run: "b", Name: "loss"}})
		}, `series "loss" of run "b" has no points (Curves "t", series 1)`},
		{"Curves NaN", func(w io.Writer) error {
			return Curves(w, "t", "", []Series{{Run: "a", Name: "loss", Points: []Point{{0, 1}, {1, math.NaN()}}}})
		}, `series "loss" of run "a": value at epoch 1 is NaN`},
		{"Curves -Inf", func(w io.Writer) error {
			return Curves(w, "t", "", []Series{{Run: "a", Name: "loss", Points: []Point{{4, math.Inf(-1)}}}})
		}, "value at epoch 4 is -Inf"},
		{"Curves overflow", func(w io.Writer) error {
			return Curves(w, "t", "", []Series{{Run: "a", Name: "x", Points: []Point{{0, -1.7e308}, {1, 1.7e308}}}})
		}, "cannot chart the value range"},
		// ranked in columns of 100 rows: 12,000 classes need 120 columns, over 50,000 px
		{"too many classes", func(w io.Writer) error { return PerClassAP(w, bareEval(12000)) }, "at most 50000 per side"},
		// 6,300 classes in 8-px cells
		{"Confusion too many classes", func(w io.Writer) error { return Confusion(w, sharedRowConfusion(6300)) }, "at most 50000 per side"},
	}
	for _, c := range cases {
		var b bytes.Buffer
		err := c.draw(&b)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
		if b.Len() != 0 {
			t.Errorf("%s: wrote %d bytes despite the error", c.name, b.Len())
		}
	}
}

// TestDegenerate covers inputs that make naive charting fail: all-zero values, single points,
// constant series, curves without points.
func TestDegenerate(t *testing.T) {
	zero := Eval{Run: "z", Classes: []ClassAP{{Class: "a"}, {Class: "b", Precision: []float64{0}, Recall: []float64{0}}}}
	one := Eval{Run: "o", MAP: 1, Classes: []ClassAP{{Class: "only", AP: 1, Precision: []float64{1}, Recall: []float64{1}}}}
	pts := func(vs ...float64) []Point {
		out := make([]Point, len(vs))
		for i, v := range vs {
			out[i] = Point{i, v}
		}
		return out
	}
	draws := map[string]func(w io.Writer) error{
		"PerClassAP zero": func(w io.Writer) error { return PerClassAP(w, zero) },
		"PerClassAP one":  func(w io.Writer) error { return PerClassAP(w, one) },
		"PerClassAP AP rounded above 1": func(w io.Writer) error {
			return PerClassAP(w, Eval{MAP: math.Nextafter(1, 2), Classes: []ClassAP{{Class: "a", AP: math.Nextafter(1, 2)}}})
		},
		"CompareAP zero":     func(w io.Writer) error { return CompareAP(w, []Eval{zero}) },
		"CompareAP disjoint": func(w io.Writer) error { return CompareAP(w, []Eval{zero, one}) },
		"PRCurves zero":      func(w io.Writer) error { return PRCurves(w, zero) },
		"PRCurves empty":     func(w io.Writer) error { return PRCurves(w, zero, "a") },
		"PRCurves one":       func(w io.Writer) error { return PRCurves(w, one) },
		"Curves one point":   func(w io.Writer) error { return Curves(w, "", "", []Series{{Points: pts(0)}}) },
		"Curves constant":    func(w io.Writer) error { return Curves(w, "", "", []Series{{Points: pts(0.5, 0.5, 0.5)}}) },
		"Curves zeros":       func(w io.Writer) error { return Curves(w, "", "", []Series{{Points: pts(0, 0)}}) },
		"Curves negative":    func(w io.Writer) error { return Curves(w, "", "", []Series{{Points: pts(-3, -3)}}) },
		"Curves tiny":        func(w io.Writer) error { return Curves(w, "", "", []Series{{Points: pts(1e-310, 3e-310)}}) },
		"Curves huge":        func(w io.Writer) error { return Curves(w, "", "", []Series{{Points: pts(1e300, -1e300)}}) },
		"Curves near-equal":  func(w io.Writer) error { return Curves(w, "", "", []Series{{Points: pts(1e16, 1e16+2)}}) },
		"Curves same epoch": func(w io.Writer) error {
			return Curves(w, "", "", []Series{{Points: []Point{{7, 1}, {7, 2}}}, {Points: []Point{{7, 3}}}})
		},
		"Curves unsorted": func(w io.Writer) error {
			return Curves(w, "", "", []Series{{Points: []Point{{9, 1}, {-2, 2}, {4, 3}}}})
		},
		"Confusion zeros": func(w io.Writer) error {
			return Confusion(w, ConfusionMatrix{IoUThreshold: 1, Classes: []string{"bg", "a"}, Counts: [][]int{{0, 0}, {0, 0}}})
		},
		"Confusion only false positives": func(w io.Writer) error {
			return Confusion(w, ConfusionMatrix{IoUThreshold: 0.5, Classes: []string{"bg", "a", "b"}, Counts: [][]int{{0, 0, 4}, {0, 0, 0}, {0, 0, 0}}})
		},
		"Confusion huge counts": func(w io.Writer) error {
			return Confusion(w, ConfusionMatrix{IoUThreshold: 0.5, Classes: []string{"bg", "a"}, Counts: [][]int{{0, math.MaxInt / 4}, {math.MaxInt / 2, 1}}})
		},
	}
	for name, draw := range draws {
		var b bytes.Buffer
		if err := draw(&b); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		img := decodePNG(t, b.Bytes())
		if img.Bounds().Dx() < 300 || img.Bounds().Dy() < 150 {
			t.Errorf("%s: tiny image %v", name, img.Bounds())
		}
	}
}

// sharedRowConfusion is a matrix of n classes, the background included, whose rows are
// one slice of zeros.
func sharedRowConfusion(n int) ConfusionMatrix {
	cm := ConfusionMatrix{Run: "many", ScoreThreshold: 0.25, IoUThreshold: 0.5, Classes: make([]string, n), Counts: make([][]int, n)}
	row := make([]int, n)
	for i := range cm.Classes {
		cm.Classes[i] = fmt.Sprintf("class %d", i)
		cm.Counts[i] = row
	}
	return cm
}

// bareEval has n classes without curves.
func bareEval(n int) Eval {
	e := Eval{Run: "bare", MAP: 0.5}
	for i := 0; i < n; i++ {
		e.Classes = append(e.Classes, ClassAP{Class: fmt.Sprintf("class %d", i), AP: 0.5})
	}
	return e
}
