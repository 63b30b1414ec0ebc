package reports

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// samplesDir is where TestSampleCharts leaves its charts for a person to look at:
//
//	go test ./reports -run TestSampleCharts -samples /tmp/charts
var samplesDir = flag.String("samples", "", "TestSampleCharts: write every sample chart (PNG and SVG) into this folder")

// TestSampleCharts draws every kind of chart, in both formats, from synthetic evaluations
// and training curves (VOC's 20 classes, COCO's 80, 601 Open Images-like ones, runs with
// missing classes, empty and untrained ones), checks that each PNG decodes and each SVG is
// a document, and with -samples writes them into that folder.
func TestSampleCharts(t *testing.T) {
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
		lr.Points = append(lr.Points, Point{Epoch: ep, Value: v})
	}
	oi := synthEval("oi-mb2", 30, 5, 0.45, openImagesClasses(601))
	var stepLR []XYSeries
	for g, base := range map[string]float64{"base_net": 0.001, "heads": 0.01} {
		s := XYSeries{Run: "mb2", Name: g}
		for step := 0; step <= 5000; step += 50 {
			s.Points = append(s.Points, XY{X: float64(step), Y: base * 0.5 * (1 + math.Cos(math.Pi*float64(step)/5000))})
		}
		stepLR = append(stepLR, s)
	}
	sort.Slice(stepLR, func(i, j int) bool { return stepLR[i].Name < stepLR[j].Name })
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
		"curves_lr": func(ch Charts, w io.Writer) error {
			return ch.Curves(w, "Learning rate", "lr", []Series{lr})
		},
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
		"pr_grid_voc":  func(ch Charts, w io.Writer) error { return ch.PRGrid(w, a) },
		"pr_grid_coco": func(ch Charts, w io.Writer) error { return ch.PRGrid(w, coco) },
		"pr_grid_one": func(ch Charts, w io.Writer) error {
			return ch.PRGrid(w, Eval{Run: "one", Classes: a.Classes[:1], MAP: a.Classes[0].AP})
		},
		"pr_grid_oi":   func(ch Charts, w io.Writer) error { return ch.PRGrid(w, oi) },
		"per_class_oi": func(ch Charts, w io.Writer) error { return ch.PerClassAP(w, oi) },
		"lines_lr": func(ch Charts, w io.Writer) error {
			return ch.Lines(w, "Learning rate per group over steps", "step", "learning rate", stepLR)
		},
		"curves_single": func(ch Charts, w io.Writer) error {
			return ch.Curves(w, "", "mAP", []Series{{Run: "x", Name: "mAP", Points: []Point{{Epoch: 5, Value: 0}}}})
		},
	}
	names := make([]string, 0, len(charts))
	for name := range charts {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, f := range []Format{PNG, SVG} {
			var buf bytes.Buffer
			if err := charts[name](Charts{Format: f}, &buf); err != nil {
				t.Fatalf("%s%s: %v", name, f.Ext(), err)
			}
			if f == PNG {
				decodePNG(t, buf.Bytes())
			} else if !bytes.Contains(buf.Bytes(), []byte("<svg")) || !bytes.HasSuffix(bytes.TrimSpace(buf.Bytes()), []byte("</svg>")) {
				t.Fatalf("%s%s: not an SVG document", name, f.Ext())
			}
			if *samplesDir != "" {
				if err := os.MkdirAll(*samplesDir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(*samplesDir, name+f.Ext()), buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
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

// openImagesClasses returns n made-up class names of Open Images' kind (long, with spaces).
func openImagesClasses(n int) []string {
	words := []string{"Vehicle", "registration", "plate", "Kitchen", "appliance", "Musical", "instrument", "Personal", "care", "Sports", "equipment", "Office", "supplies", "Human", "face"}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s %s %d", words[i%len(words)], words[(i*7+3)%len(words)], i)
	}
	return out
}
