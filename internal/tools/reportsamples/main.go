// Command reportsamples writes example charts (PNG and SVG) of package reports, drawn from
// synthetic evaluations and training curves, into a folder for a person to look at:
//
//	go run ./internal/tools/reportsamples /tmp/charts
package main

import (
	"fmt"
	"io"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"sort"

	"github.com/ssdrunner/ssdrunner/internal/fsutil"
	"github.com/ssdrunner/ssdrunner/reports"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run ./internal/tools/reportsamples OUT_DIR")
		os.Exit(2)
	}
	if err := samples(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "reportsamples:", err)
		os.Exit(1)
	}
}

// samples writes every sample chart into dir in both formats.
func samples(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	a := vocEval("vgg16-ssd", 199, 1, 0.70)
	b := vocEval("mb1-ssd", 199, 2, 0.62)
	c := vocEval("mb2-ssdlite-long-run-name", 149, 3, 0.66)
	c.Classes = c.Classes[:18] // two classes missing in run c
	recomputeMAP(&c)
	coco := synthEval("coco-mb2", 60, 4, 0.5, cocoClasses(80))
	la, ma := trainingSeries("vgg16-ssd", 60, 1)
	lb, mb := trainingSeries("mb1-ssd", 60, 0.5)
	lc, mc := trainingSeries("mb2-ssdlite", 40, 0.8)
	lr := reports.Series{Run: "vgg16-ssd", Name: "lr"}
	for ep := 0; ep < 60; ep++ {
		v := 0.01
		if ep >= 40 {
			v = 0.001
		}
		lr.Points = append(lr.Points, reports.Point{Epoch: ep, Value: v})
	}
	oi := synthEval("oi-mb2", 30, 5, 0.45, openImagesClasses(601))
	var stepLR []reports.XYSeries
	for g, base := range map[string]float64{"base_net": 0.001, "heads": 0.01} {
		s := reports.XYSeries{Run: "mb2", Name: g}
		for step := 0; step <= 5000; step += 50 {
			s.Points = append(s.Points, reports.XY{X: float64(step), Y: base * 0.5 * (1 + math.Cos(math.Pi*float64(step)/5000))})
		}
		stepLR = append(stepLR, s)
	}
	sort.Slice(stepLR, func(i, j int) bool { return stepLR[i].Name < stepLR[j].Name })
	charts := map[string]func(reports.Charts, io.Writer) error{
		"per_class_voc":  func(ch reports.Charts, w io.Writer) error { return ch.PerClassAP(w, a) },
		"per_class_coco": func(ch reports.Charts, w io.Writer) error { return ch.PerClassAP(w, coco) },
		"compare_voc":    func(ch reports.Charts, w io.Writer) error { return ch.CompareAP(w, []reports.Eval{a, b, c}) },
		"pr_voc":         func(ch reports.Charts, w io.Writer) error { return ch.PRCurves(w, a) },
		"pr_voc_some":    func(ch reports.Charts, w io.Writer) error { return ch.PRCurves(w, a, "cat", "dog", "bottle") },
		"pr_coco":        func(ch reports.Charts, w io.Writer) error { return ch.PRCurves(w, coco) },
		"pr_coco_40": func(ch reports.Charts, w io.Writer) error {
			var names []string
			for _, c := range coco.Classes[:40] {
				names = append(names, c.Class)
			}
			return ch.PRCurves(w, coco, names...)
		},
		"curves_loss": func(ch reports.Charts, w io.Writer) error {
			return ch.Curves(w, "Validation loss", "val_loss", []reports.Series{la, lb, lc})
		},
		"curves_both": func(ch reports.Charts, w io.Writer) error {
			return ch.Curves(w, "Loss and mAP", "value", []reports.Series{la, ma, lb, mb, lc, mc})
		},
		"curves_lr": func(ch reports.Charts, w io.Writer) error {
			return ch.Curves(w, "Learning rate", "lr", []reports.Series{lr})
		},
		"per_class_zero": func(ch reports.Charts, w io.Writer) error {
			return ch.PerClassAP(w, reports.Eval{Run: "untrained", Classes: []reports.ClassAP{{Class: "cat"}, {Class: "dog"}}})
		},
		"pr_empty": func(ch reports.Charts, w io.Writer) error {
			return ch.PRCurves(w, reports.Eval{Run: "untrained", Classes: []reports.ClassAP{{Class: "cat"}, {Class: "dog", Precision: []float64{0.5}, Recall: []float64{0.25}}}})
		},
		"compare_many": func(ch reports.Charts, w io.Writer) error {
			var evals []reports.Eval
			for i := 0; i < 6; i++ {
				evals = append(evals, synthEval("lr-sweep", 10*(i+1), int64(10+i), 0.4+0.05*float64(i), vocClasses[:8]))
			}
			return ch.CompareAP(w, evals)
		},
		"pr_grid_voc":  func(ch reports.Charts, w io.Writer) error { return ch.PRGrid(w, a) },
		"pr_grid_coco": func(ch reports.Charts, w io.Writer) error { return ch.PRGrid(w, coco) },
		"pr_grid_one": func(ch reports.Charts, w io.Writer) error {
			return ch.PRGrid(w, reports.Eval{Run: "one", Classes: a.Classes[:1], MAP: a.Classes[0].AP})
		},
		"pr_grid_oi":   func(ch reports.Charts, w io.Writer) error { return ch.PRGrid(w, oi) },
		"per_class_oi": func(ch reports.Charts, w io.Writer) error { return ch.PerClassAP(w, oi) },
		"lines_lr": func(ch reports.Charts, w io.Writer) error {
			return ch.Lines(w, "Learning rate per group over steps", "step", "learning rate", stepLR)
		},
		"curves_single": func(ch reports.Charts, w io.Writer) error {
			return ch.Curves(w, "", "mAP", []reports.Series{{Run: "x", Name: "mAP", Points: []reports.Point{{Epoch: 5, Value: 0}}}})
		},
	}
	for name, draw := range charts {
		for _, f := range []reports.Format{reports.PNG, reports.SVG} {
			path := filepath.Join(dir, name+f.Ext())
			if err := fsutil.WriteFileAtomic(path, 0o644, func(w io.Writer) error { return draw(reports.Charts{Format: f}, w) }); err != nil {
				return fmt.Errorf("%s: %v", path, err)
			}
		}
	}
	return nil
}

func recomputeMAP(e *reports.Eval) {
	e.MAP = 0
	for _, c := range e.Classes {
		e.MAP += c.AP
	}
	e.MAP /= float64(len(e.Classes))
}

// The synthetic data below is the same as reports' test helpers' (helpers_test.go).

var vocClasses = []string{
	"aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
	"diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
}

// synthClass simulates the detections of one class with a detector of the given quality and
// returns its PR curve (recall ascending) and its all-point-interpolated AP.
func synthClass(rng *rand.Rand, name string, quality float64) reports.ClassAP {
	positives := 20 + rng.Intn(200)
	nDet := positives + rng.Intn(3*positives)
	type det struct {
		score float64
		tp    bool
	}
	dets := make([]det, nDet)
	for i := range dets {
		tp := i < positives && rng.Float64() < 0.5+0.45*quality
		score := 0.75 * rng.Float64()
		if tp {
			score = 0.45*rng.Float64() + 0.55*quality
		}
		dets[i] = det{score, tp}
	}
	sort.SliceStable(dets, func(a, b int) bool { return dets[a].score > dets[b].score })
	c := reports.ClassAP{Class: name}
	tp, fp := 0, 0
	for _, d := range dets {
		if d.tp {
			tp++
		} else {
			fp++
		}
		c.Precision = append(c.Precision, float64(tp)/float64(tp+fp))
		c.Recall = append(c.Recall, float64(tp)/float64(positives))
	}
	// All-point AP: area under the precision envelope.
	env := append([]float64(nil), c.Precision...)
	for i := len(env) - 2; i >= 0; i-- {
		env[i] = max(env[i], env[i+1])
	}
	prev := 0.0
	for i, r := range c.Recall {
		c.AP += (r - prev) * env[i]
		prev = r
	}
	return c
}

// vocEval builds a deterministic synthetic evaluation over the 20 VOC classes.
func vocEval(run string, epoch int, seed int64, quality float64) reports.Eval {
	return synthEval(run, epoch, seed, quality, vocClasses)
}

func synthEval(run string, epoch int, seed int64, quality float64, classes []string) reports.Eval {
	rng := rand.New(rand.NewSource(seed))
	e := reports.Eval{Run: run, Epoch: epoch}
	for _, name := range classes {
		q := min(1, max(0, quality+0.3*(rng.Float64()-0.5)))
		c := synthClass(rng, name, q)
		e.Classes = append(e.Classes, c)
		e.MAP += c.AP
	}
	e.MAP /= float64(len(classes))
	return e
}

// cocoClasses returns n class names, some long.
func cocoClasses(n int) []string {
	base := []string{"person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
		"traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse",
		"sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie",
		"suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove",
		"skateboard", "surfboard", "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon",
		"bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut",
		"cake", "chair", "couch", "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse",
		"remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book",
		"clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush"}
	out := make([]string, n)
	for i := range out {
		out[i] = base[i%len(base)]
		if i >= len(base) {
			out[i] = fmt.Sprintf("%s %d", base[i%len(base)], i/len(base))
		}
	}
	if n > 3 {
		out[3] = "Vehicle registration plate (Open Images)"
	}
	return out
}

// trainingSeries simulates val_loss and mAP of a run.
func trainingSeries(run string, epochs int, speed float64) (loss, mAP reports.Series) {
	loss = reports.Series{Run: run, Name: "val_loss"}
	mAP = reports.Series{Run: run, Name: "mAP"}
	for ep := 0; ep < epochs; ep++ {
		t := float64(ep+1) * speed
		loss.Points = append(loss.Points, reports.Point{Epoch: ep, Value: 2.2 + 6/(1+t) + 0.05*float64(ep%3)})
		mAP.Points = append(mAP.Points, reports.Point{Epoch: ep, Value: 0.75 * t / (t + 8)})
	}
	return loss, mAP
}

// openImagesClasses returns n made-up class names of Open Images' kind (long, with spaces).
func openImagesClasses(n int) []string {
	words := []string{"Vehicle", "registration", "plate", "Kitchen", "appliance", "Musical", "instrument", "Personal", "care", "Sports", "equipment", "Office", "supplies", "Human", "face"}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s %s %d", words[i%len(words)], words[(i*7+3)%len(words)], i)
	}
	return out
}
