package reports

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestSamples writes example charts (PNG and SVG) to $REPORTS_SAMPLES for people to look at.
func TestSamples(t *testing.T) {
	dir := os.Getenv("REPORTS_SAMPLES")
	if dir == "" {
		t.Skip("set REPORTS_SAMPLES to a folder to write sample charts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
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
	lr := Series{Run: "vgg16-ssd", Name: "lr"}
	for ep := 0; ep < 60; ep++ {
		v := 0.01
		if ep >= 40 {
			v = 0.001
		}
		lr.Points = append(lr.Points, Point{ep, v})
	}
	charts := map[string]func(Charts, io.Writer) error{
		"per_class_voc":  func(ch Charts, w io.Writer) error { return ch.PerClassAP(w, a) },
		"per_class_coco": func(ch Charts, w io.Writer) error { return ch.PerClassAP(w, coco) },
		"compare_voc":    func(ch Charts, w io.Writer) error { return ch.CompareAP(w, []Eval{a, b, c}) },
		"pr_voc":         func(ch Charts, w io.Writer) error { return ch.PRCurves(w, a) },
		"pr_voc_some":    func(ch Charts, w io.Writer) error { return ch.PRCurves(w, a, "cat", "dog", "bottle") },
		"pr_coco":        func(ch Charts, w io.Writer) error { return ch.PRCurves(w, coco) },
		"pr_coco_40": func(ch Charts, w io.Writer) error {
			var names []string
			for _, c := range coco.Classes[:40] {
				names = append(names, c.Class)
			}
			return ch.PRCurves(w, coco, names...)
		},
		"curves_loss": func(ch Charts, w io.Writer) error {
			return ch.Curves(w, "Validation loss", "val_loss", []Series{la, lb, lc})
		},
		"curves_both": func(ch Charts, w io.Writer) error {
			return ch.Curves(w, "Loss and mAP", "value", []Series{la, ma, lb, mb, lc, mc})
		},
		"curves_lr": func(ch Charts, w io.Writer) error { return ch.Curves(w, "Learning rate", "lr", []Series{lr}) },
		"per_class_zero": func(ch Charts, w io.Writer) error {
			return ch.PerClassAP(w, Eval{Run: "untrained", Classes: []ClassAP{{Class: "cat"}, {Class: "dog"}}})
		},
		"pr_empty": func(ch Charts, w io.Writer) error {
			return ch.PRCurves(w, Eval{Run: "untrained", Classes: []ClassAP{{Class: "cat"}, {Class: "dog", Precision: []float64{0.5}, Recall: []float64{0.25}}}})
		},
		"compare_many": func(ch Charts, w io.Writer) error {
			var evals []Eval
			for i := 0; i < 6; i++ {
				evals = append(evals, synthEval("lr-sweep", 10*(i+1), int64(10+i), 0.4+0.05*float64(i), vocClasses[:8]))
			}
			return ch.CompareAP(w, evals)
		},
		"curves_single": func(ch Charts, w io.Writer) error {
			return ch.Curves(w, "", "mAP", []Series{{Run: "x", Name: "mAP", Points: []Point{{5, 0}}}})
		},
	}
	for name, draw := range charts {
		for _, f := range []Format{PNG, SVG} {
			path := filepath.Join(dir, name+f.Ext())
			var b bytes.Buffer
			if err := draw(Charts{Format: f}, &b); err != nil {
				t.Errorf("%s: %v", path, err)
				continue
			}
			if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
				t.Error(err)
			}
		}
	}
}

func recomputeMAP(e *Eval) {
	e.MAP = 0
	for _, c := range e.Classes {
		e.MAP += c.AP
	}
	e.MAP /= float64(len(e.Classes))
}
