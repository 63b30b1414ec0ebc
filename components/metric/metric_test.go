package metric

import (
	"math"
	"strings"
	"testing"

	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
)

var twoClasses = []string{"BACKGROUND", "cat", "dog"}

func build(t *testing.T, name string, opts map[string]any) Metric {
	t.Helper()
	m, err := Build(registry.Ref{Type: name, Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// all returns the voc (11-point and area) and coco metrics.
func all(t *testing.T) map[string]Metric {
	return map[string]Metric{
		"voc2007": build(t, "voc", nil),
		"voc2010": build(t, "voc", map[string]any{"use_2007_metric": false}),
		"coco":    build(t, "coco", nil),
	}
}

func eval(t *testing.T, m Metric, names []string, gts []GroundTruth, dets []Detection) Result {
	t.Helper()
	res, err := m.Evaluate(names, gts, dets)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// scene has two images with objects of both classes, one of them difficult.
func scene() []GroundTruth {
	return []GroundTruth{
		{ImageID: "a", Boxes: [][4]float64{{10, 10, 110, 110}, {200, 50, 300, 150}, {50, 200, 120, 290}},
			Labels: []int{1, 2, 1}, Difficult: []bool{false, false, true}},
		{ImageID: "b", Boxes: [][4]float64{{0, 0, 50, 40}, {60, 60, 300, 200}}, Labels: []int{2, 1}},
		{ImageID: "empty"},
	}
}

// perfect returns one exact detection per non-difficult object.
func perfect(gts []GroundTruth) []Detection {
	var dets []Detection
	score := 0.9
	for _, g := range gts {
		for k, b := range g.Boxes {
			if len(g.Difficult) > 0 && g.Difficult[k] {
				continue
			}
			dets = append(dets, Detection{ImageID: g.ImageID, Box: b, Label: g.Labels[k], Score: score})
			score -= 0.1
		}
	}
	return dets
}

func TestPerfectDetectionsScoreOne(t *testing.T) {
	for name, m := range all(t) {
		res := eval(t, m, twoClasses, scene(), perfect(scene()))
		// pycocotools divides by TP+FP+spacing(1): 1 - 2.2e-16 at best
		closeTo(t, name+" value", res.Value, 1, 1e-12)
		if len(res.PerClass) != 2 {
			t.Fatalf("%s: %d classes, want 2", name, len(res.PerClass))
		}
		for _, c := range res.PerClass {
			closeTo(t, name+" AP "+c.Class, c.AP, 1, 1e-12)
		}
		if name == "coco" {
			closeTo(t, "AP50", res.Extra["AP50"], 1, 1e-12)
			closeTo(t, "AP75", res.Extra["AP75"], 1, 1e-12)
		}
	}
}

func TestFalsePositivesScoreZero(t *testing.T) {
	dets := []Detection{
		{ImageID: "a", Box: [4]float64{400, 300, 450, 350}, Label: 1, Score: 0.9}, // nothing there
		{ImageID: "empty", Box: [4]float64{0, 0, 100, 100}, Label: 2, Score: 0.8}, // image without objects
		{ImageID: "b", Box: [4]float64{0, 0, 50, 40}, Label: 1, Score: 0.7},       // a dog's box labelled cat
	}
	for name, m := range all(t) {
		res := eval(t, m, twoClasses, scene(), dets)
		if res.Value != 0 {
			t.Errorf("%s: value %g with only false positives, want 0", name, res.Value)
		}
		for _, c := range res.PerClass {
			if c.AP != 0 {
				t.Errorf("%s: AP %s = %g, want 0", name, c.Class, c.AP)
			}
		}
	}
	// no detections at all: AP 0, empty curves
	for name, m := range all(t) {
		res := eval(t, m, twoClasses, scene(), nil)
		for _, c := range res.PerClass {
			if c.AP != 0 || len(c.Precision) != 0 || len(c.Recall) != 0 {
				t.Errorf("%s: no detections: %s AP %g, curve %v %v", name, c.Class, c.AP, c.Precision, c.Recall)
			}
		}
	}
}

// TestIoUThreshold checks the reference's strict IoU > threshold and the option.
func TestIoUThreshold(t *testing.T) {
	gts := []GroundTruth{{ImageID: "x", Boxes: [][4]float64{{0, 0, 100, 100}}, Labels: []int{1}}}
	// IoU 6100/10000 in float32, as the reference computes it: the 1e-5 added to the union
	// vanishes, and float32(0.61) = 0.6100000143 is above the float64 threshold 0.61.
	det := []Detection{{ImageID: "x", Box: [4]float64{0, 0, 100, 61}, Label: 1, Score: 0.5}}
	for _, c := range []struct {
		thr  float64
		want float64
	}{{0.5, 1}, {0.6, 1}, {0.61, 1}, {0.6100001, 0}, {0.7, 0}} {
		m := build(t, "voc", map[string]any{"iou_threshold": c.thr})
		// 11 times 1/11 adds up to 1.0000000000000002, in the reference too
		if got := eval(t, m, twoClasses[:2], gts, det).Value; math.Abs(got-c.want) > 1e-15 {
			t.Errorf("iou_threshold %g: AP %g, want %g", c.thr, got, c.want)
		}
	}
}

// TestDuplicatesAreFalsePositives: a second detection of a taken object is a false positive.
func TestDuplicatesAreFalsePositives(t *testing.T) {
	gts := []GroundTruth{{ImageID: "x", Boxes: [][4]float64{{0, 0, 100, 100}, {200, 0, 300, 100}}, Labels: []int{1, 1}}}
	dets := []Detection{
		{ImageID: "x", Box: [4]float64{0, 0, 100, 100}, Label: 1, Score: 0.9},
		{ImageID: "x", Box: [4]float64{0, 0, 100, 100}, Label: 1, Score: 0.8}, // duplicate
		{ImageID: "x", Box: [4]float64{200, 0, 300, 100}, Label: 1, Score: 0.7},
	}
	res := eval(t, build(t, "voc", nil), twoClasses[:2], gts, dets)
	c := res.PerClass[0]
	sameCurve(t, "precision", c.Precision, []float64{1, 0.5, 2.0 / 3})
	sameCurve(t, "recall", c.Recall, []float64{0.5, 0.5, 1})
	// 11-point: precision 1 up to recall 0.5 (6 points), 2/3 from 0.6 to 1 (5 points)
	closeTo(t, "AP 2007", c.AP, (6+5*2.0/3)/11, 1e-15)
	res = eval(t, build(t, "voc", map[string]any{"use_2007_metric": false}), twoClasses[:2], gts, dets)
	closeTo(t, "AP 2010", res.Value, 0.5*1+0.5*2.0/3, 1e-15)
	// COCO: the same at every threshold (IoUs are 1)
	res = eval(t, build(t, "coco", nil), twoClasses[:2], gts, dets)
	// recall points 0..0.5 (51 of 101) at precision 1, the other 50 at 2/3
	closeTo(t, "AP coco", res.Value, (51+50*2.0/3)/101, 1e-12)
}

// TestDifficult: difficult objects are not positives, and detections of them are
// neither true nor false positives (also several of them on the same object).
func TestDifficult(t *testing.T) {
	gts := []GroundTruth{{ImageID: "x", Boxes: [][4]float64{{0, 0, 100, 100}, {200, 0, 300, 100}},
		Labels: []int{1, 1}, Difficult: []bool{true, false}}}
	dets := []Detection{
		{ImageID: "x", Box: [4]float64{0, 0, 100, 95}, Label: 1, Score: 0.95}, // on the difficult one
		{ImageID: "x", Box: [4]float64{0, 0, 100, 100}, Label: 1, Score: 0.9}, // again
		{ImageID: "x", Box: [4]float64{200, 0, 300, 100}, Label: 1, Score: 0.8},
		{ImageID: "x", Box: [4]float64{2, 0, 100, 100}, Label: 1, Score: 0.7}, // again, below the TP
	}
	for name, m := range all(t) {
		res := eval(t, m, twoClasses[:2], gts, dets)
		closeTo(t, name+" AP", res.Value, 1, 1e-12)
		c := res.PerClass[0]
		// the leading ignored detections have no point; the trailing one repeats the last
		sameCurve(t, name+" recall", c.Recall, []float64{1, 1})
		sameCurve(t, name+" precision", c.Precision, []float64{1, 1})
	}
	// Without the difficult flag the same detections give a false positive first.
	gts[0].Difficult = nil
	res := eval(t, build(t, "voc", map[string]any{"use_2007_metric": false}), twoClasses[:2], gts, dets)
	sameCurve(t, "precision", res.PerClass[0].Precision, []float64{1, 0.5, 2.0 / 3, 0.5})
}

// TestClassWithoutPositives: a class with no (or only difficult) ground truth is left
// out of PerClass and of the mean (the reference stops with a KeyError).
func TestClassWithoutPositives(t *testing.T) {
	names := []string{"BACKGROUND", "cat", "dog", "bird"}
	gts := scene()
	gts[0].Boxes = append(gts[0].Boxes, [4]float64{0, 300, 10, 310})
	gts[0].Labels = append(gts[0].Labels, 3)
	gts[0].Difficult = append(gts[0].Difficult, true)
	dets := append(perfect(scene()), Detection{ImageID: "b", Box: [4]float64{1, 2, 3, 4}, Label: 3, Score: 1})
	for name, m := range all(t) {
		res := eval(t, m, names, gts, dets)
		if len(res.PerClass) != 2 || res.PerClass[0].Class != "cat" || res.PerClass[1].Class != "dog" {
			t.Fatalf("%s: classes %+v, want cat and dog", name, res.PerClass)
		}
		closeTo(t, name+" value", res.Value, 1, 1e-12)
	}
}

// TestCOCOHandComputed: two objects, detected at IoU 0.83 and 0.62, and a false positive.
func TestCOCOHandComputed(t *testing.T) {
	gts := []GroundTruth{{ImageID: "x", Boxes: [][4]float64{{0, 0, 100, 100}, {200, 0, 300, 100}}, Labels: []int{1, 1}}}
	dets := []Detection{
		{ImageID: "x", Box: [4]float64{0, 0, 100, 83}, Label: 1, Score: 0.9},
		{ImageID: "x", Box: [4]float64{200, 0, 300, 62}, Label: 1, Score: 0.8},
		{ImageID: "x", Box: [4]float64{400, 400, 450, 450}, Label: 1, Score: 0.7},
	}
	res := eval(t, build(t, "coco", nil), twoClasses[:2], gts, dets)
	// IoU .50-.60: both found, precision 1 at every recall: AP 1.
	// IoU .65-.80: only the first: precision 1 up to recall 0.5 (51 of 101 points): 51/101.
	// IoU .85-.95: none: 0.
	closeTo(t, "AP", res.Value, (3+4*51.0/101)/10, 1e-12)
	closeTo(t, "AP50", res.Extra["AP50"], 1, 1e-12)
	closeTo(t, "AP75", res.Extra["AP75"], 51.0/101, 1e-12)

	// max_dets 1 keeps only the best detection of the image
	res = eval(t, build(t, "coco", map[string]any{"max_dets": 1}), twoClasses[:2], gts, dets)
	closeTo(t, "AP50 max_dets 1", res.Extra["AP50"], 51.0/101, 1e-12)

	// A difficult (crowd) object: IoU is the overlap over the detection's area, so a box
	// inside it is absorbed (ignored), not a false positive.
	gts[0].Boxes = append(gts[0].Boxes, [4]float64{500, 500, 700, 700})
	gts[0].Labels = append(gts[0].Labels, 1)
	gts[0].Difficult = []bool{false, false, true}
	dets = append(dets[:2], Detection{ImageID: "x", Box: [4]float64{550, 550, 600, 600}, Label: 1, Score: 0.95})
	res = eval(t, build(t, "coco", nil), twoClasses[:2], gts, dets)
	closeTo(t, "AP50 with crowd", res.Extra["AP50"], 1, 1e-12)
}

// TestVOC07RecallQuirk: recall 3/10 = 0.3 is below numpy's 0.30000000000000004.
func TestVOC07RecallQuirk(t *testing.T) {
	var gts []GroundTruth
	var dets []Detection
	for i := 0; i < 10; i++ {
		id := string(rune('a' + i))
		gts = append(gts, GroundTruth{ImageID: id, Boxes: [][4]float64{{0, 0, 10, 10}}, Labels: []int{1}})
		if i < 3 {
			dets = append(dets, Detection{ImageID: id, Box: [4]float64{0, 0, 10, 10}, Label: 1, Score: 1})
		}
	}
	res := eval(t, build(t, "voc", nil), twoClasses[:2], gts, dets)
	closeTo(t, "AP", res.Value, 3.0/11, 1e-15)
}

func TestThresholds(t *testing.T) {
	iou := cocoIoUThresholds()
	if len(iou) != 10 || iou[0] != 0.5 || iou[5] != 0.75 || iou[8] != 0.8999999999999999 || iou[9] != 0.95 {
		t.Errorf("IoU thresholds %v", iou)
	}
	rec := cocoRecallThresholds()
	if len(rec) != 101 || rec[7] != 0.07 || rec[57] != 0.5700000000000001 || rec[100] != 1 {
		t.Errorf("recall thresholds %v", rec)
	}
}

// TestTiesKeepInputOrder: equal scores are taken in input order.
func TestTiesKeepInputOrder(t *testing.T) {
	gts := []GroundTruth{{ImageID: "x", Boxes: [][4]float64{{0, 0, 100, 100}}, Labels: []int{1}}}
	fp := Detection{ImageID: "x", Box: [4]float64{300, 300, 400, 400}, Label: 1, Score: 0.5}
	tp := Detection{ImageID: "x", Box: [4]float64{0, 0, 100, 100}, Label: 1, Score: 0.5}
	for name, m := range all(t) {
		first := eval(t, m, twoClasses[:2], gts, []Detection{tp, fp}).PerClass[0].Precision
		second := eval(t, m, twoClasses[:2], gts, []Detection{fp, tp}).PerClass[0].Precision
		sameCurve(t, name+" tp first", first, []float64{1, 0.5})
		sameCurve(t, name+" fp first", second, []float64{0, 0.5})
	}
}

func TestInputErrors(t *testing.T) {
	good := Detection{ImageID: "a", Box: [4]float64{1, 2, 3, 4}, Label: 1, Score: 0.5}
	withDet := func(f func(*Detection)) []Detection {
		d := good
		f(&d)
		return []Detection{good, d}
	}
	withGT := func(f func(*GroundTruth)) []GroundTruth {
		g := scene()
		f(&g[1])
		return g
	}
	for _, c := range []struct {
		name  string
		names []string
		gts   []GroundTruth
		dets  []Detection
		want  string
	}{
		{"NaN score", twoClasses, scene(), withDet(func(d *Detection) { d.Score = math.NaN() }), `detection 1 (image "a"): score NaN`},
		{"Inf score", twoClasses, scene(), withDet(func(d *Detection) { d.Score = math.Inf(1) }), `detection 1 (image "a"): score +Inf`},
		{"label 0", twoClasses, scene(), withDet(func(d *Detection) { d.Label = 0 }), `detection 1 (image "a"): label 0 outside 1..2`},
		{"label 3", twoClasses, scene(), withDet(func(d *Detection) { d.Label = 3 }), `label 3 outside 1..2`},
		{"unknown image", twoClasses, scene(), withDet(func(d *Detection) { d.ImageID = "zz" }), `detection 1: unknown image "zz"`},
		{"NaN box", twoClasses, scene(), withDet(func(d *Detection) { d.Box[2] = math.NaN() }), `detection 1 (image "a"): box`},
		{"inverted box", twoClasses, scene(), withDet(func(d *Detection) { d.Box[0] = 10 }), `is inverted`},
		{"gt label", twoClasses, withGT(func(g *GroundTruth) { g.Labels[1] = 5 }), nil, `image "b": ground truth 1: label 5 outside 1..2`},
		{"gt label 0", twoClasses, withGT(func(g *GroundTruth) { g.Labels[0] = 0 }), nil, `image "b": ground truth 0: label 0`},
		{"gt box", twoClasses, withGT(func(g *GroundTruth) { g.Boxes[0][1] = math.Inf(-1) }), nil, `image "b": ground truth 0: box`},
		{"gt lengths", twoClasses, withGT(func(g *GroundTruth) { g.Labels = g.Labels[:1] }), nil, `image "b": 2 boxes but 1 labels`},
		{"difficult length", twoClasses, withGT(func(g *GroundTruth) { g.Difficult = []bool{true} }), nil, `image "b": 2 boxes but 1 difficult flags`},
		{"duplicate image", twoClasses, withGT(func(g *GroundTruth) { g.ImageID = "a" }), nil, `image "a" has two ground-truth entries (0 and 1)`},
		{"empty image ID", twoClasses, withGT(func(g *GroundTruth) { g.ImageID = "" }), nil, `ground truth 1: empty image ID`},
		{"no classes", []string{"BACKGROUND"}, scene(), nil, `1 class names`},
	} {
		for name, m := range all(t) {
			_, err := m.Evaluate(c.names, c.gts, c.dets)
			metric := strings.TrimSuffix(strings.TrimSuffix(name, "2007"), "2010")
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "metric "+metric+": ") {
				t.Errorf("%s, %s: error %v, want one containing %q", c.name, name, err, c.want)
			}
		}
	}
}

func TestOptions(t *testing.T) {
	for _, c := range []struct {
		ref  registry.Ref
		want string
	}{
		{registry.Ref{Type: "voc", Options: map[string]any{"iou_threshold": 1.0}}, "iou_threshold must be in [0, 1)"},
		{registry.Ref{Type: "voc", Options: map[string]any{"iou_threshold": -0.1}}, "iou_threshold"},
		{registry.Ref{Type: "coco", Options: map[string]any{"max_dets": 0}}, "max_dets must be >= 1"},
		{registry.Ref{Type: "mAP"}, `unknown metric "mAP"`},
	} {
		if _, err := Build(c.ref); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one containing %q", c.ref, err, c.want)
		}
	}
	m := build(t, "voc", nil).(voc)
	if m.threshold != 0.5 || !m.use2007 {
		t.Errorf("voc defaults %+v, want threshold 0.5 and the 2007 metric", m)
	}
	if c := build(t, "coco", nil).(coco); c.maxDets != 100 {
		t.Errorf("coco default max_dets %d, want 100", c.maxDets)
	}
}

// TestNoTensorLeak: an evaluation frees every tensor it creates.
func TestNoTensorLeak(t *testing.T) {
	gts, dets := synthetic(40, 5, 20, 1)
	names := classNames(5)
	for name, m := range all(t) {
		g, err := torch.MeasureGrowth(3, 20, func(int) error {
			_, err := m.Evaluate(names, gts, dets)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		// gotch's op wrappers leak ~60 bytes per call (see the gotch notes); a tensor of
		// this evaluation's pairs is several KB.
		if per := g.MallocPerStep(); per > 4096 {
			t.Errorf("%s: C heap grows %.0f bytes per evaluation", name, per)
		}
		t.Logf("%s: C heap %+.0f bytes per evaluation", name, g.MallocPerStep())
	}
}
