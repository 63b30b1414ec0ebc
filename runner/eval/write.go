package eval

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/ssdrunner/ssdrunner/components/metric"
	"github.com/ssdrunner/ssdrunner/internal/fsutil"
	"github.com/ssdrunner/ssdrunner/reports"
	"github.com/ssdrunner/ssdrunner/runner/evalreport"
)

// Report is the JSON summary of an evaluation (results.json, `runner eval --json`).
type Report struct {
	Experiment string  `json:"experiment"`
	Checkpoint string  `json:"checkpoint"`
	Dataset    string  `json:"dataset"`
	Images     int     `json:"images"`
	Metric     string  `json:"metric"` // the headline metric
	MAP        float64 `json:"map"`
	// PerClass is the headline metric's AP of every class with ground truths.
	PerClass []ClassAP `json:"per_class"`
	// Metrics holds every metric's value, and its extra numbers as "<metric>.<name>".
	Metrics map[string]float64 `json:"metrics"`
	// Detections counts the detections kept by the post-processing.
	Detections int      `json:"detections"`
	Skipped    []string `json:"skipped,omitempty"`
	Seconds    float64  `json:"seconds"`
	// Dir is the folder the files were written to (det_test_<class>.txt, charts).
	Dir string `json:"dir,omitempty"`
	// Confusion is the confusion matrix of the detections (see Confusion), and
	// ConfusionPerClass its summary per class; absent when not computed.
	Confusion         *Confusion     `json:"confusion,omitempty"`
	ConfusionPerClass []ClassSummary `json:"confusion_per_class,omitempty"`
}

// ClassAP is one class's average precision.
type ClassAP struct {
	Class        string  `json:"class"`
	AP           float64 `json:"ap"`
	GroundTruths int     `json:"ground_truths"` // non-difficult objects
	Detections   int     `json:"detections"`
}

// NewReport summarises r (experiment, checkpoint and dataset name what was evaluated).
func NewReport(r *Result, classes []string, experiment, checkpoint, datasetName string) Report {
	rep := Report{Experiment: experiment, Checkpoint: checkpoint, Dataset: datasetName, Images: len(r.IDs),
		Metrics: map[string]float64{}, Detections: len(r.Detections), Skipped: r.Skipped, Seconds: r.Seconds}
	positives := make([]int, len(classes))
	for _, g := range r.GroundTruths {
		for k, l := range g.Labels {
			if (len(g.Difficult) == 0 || !g.Difficult[k]) && l > 0 && l < len(classes) {
				positives[l]++
			}
		}
	}
	detections := make([]int, len(classes))
	for _, d := range r.Detections {
		if d.Label > 0 && d.Label < len(classes) {
			detections[d.Label]++
		}
	}
	index := map[string]int{}
	for i, c := range classes {
		index[c] = i
	}
	for i, m := range r.Metrics {
		rep.Metrics[m.Name] = m.Result.Value
		for k, v := range m.Result.Extra {
			rep.Metrics[m.Name+"."+k] = v
		}
		if i > 0 {
			continue
		}
		rep.Metric, rep.MAP = m.Name, m.Result.Value
		for _, c := range m.Result.PerClass {
			j := index[c.Class]
			rep.PerClass = append(rep.PerClass, ClassAP{Class: c.Class, AP: c.AP, GroundTruths: positives[j], Detections: detections[j]})
		}
	}
	return rep
}

// WriteTable prints the per-class AP table and the mean.
func WriteTable(w io.Writer, rep Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "class\tAP\tobjects\tdetections\t")
	for _, c := range rep.PerClass {
		fmt.Fprintf(tw, "%s\t%.4f\t%d\t%d\t\n", c.Class, c.AP, c.GroundTruths, c.Detections)
	}
	fmt.Fprintf(tw, "mean (%s)\t%.4f\t\t\t\n", rep.Metric, rep.MAP)
	tw.Flush()
	for _, k := range sortedKeys(rep.Metrics) {
		if k != rep.Metric {
			fmt.Fprintf(w, "%s: %.4f\n", k, rep.Metrics[k])
		}
	}
}

// Write writes the evaluation's files into dir (created if needed), each atomically:
// det_test_<class>.txt per class (see WriteDetFiles), results.json (rep), the
// headline metric's per-class AP chart (ap.png, ap.svg) and precision–recall curves
// (pr.png, pr.svg), and with rep.Confusion the matrix as confusion.csv and as a chart
// (confusion.png, confusion.svg; see reports.Charts.Confusion).
func Write(dir string, r *Result, classes []string, rep Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var errs []error
	if err := WriteDetFiles(dir, classes, r.Detections); err != nil {
		errs = append(errs, err)
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err == nil {
		err = fsutil.WriteBytesAtomic(filepath.Join(dir, "results.json"), 0o644, append(js, '\n'))
	}
	if err != nil {
		errs = append(errs, err)
	}
	if rep.Confusion != nil {
		if err := fsutil.WriteFileAtomic(filepath.Join(dir, "confusion.csv"), 0o644, rep.Confusion.CSV); err != nil {
			errs = append(errs, err)
		}
		// The epoch of the weights is not known here: the chart shows none.
		cm := rep.Confusion.Chart(rep.Experiment, -1)
		errs = append(errs, writeChart(dir, "confusion", func(c reports.Charts, w io.Writer) error { return c.Confusion(w, cm) })...)
	}
	if len(r.Metrics) > 0 {
		ev := evalreport.Eval(rep.Experiment, 0, r.Metrics[0].Result)
		errs = append(errs, writeChart(dir, "ap", func(c reports.Charts, w io.Writer) error { return c.PerClassAP(w, ev) })...)
		if len(ev.Classes) > 0 {
			errs = append(errs, writeChart(dir, "pr", func(c reports.Charts, w io.Writer) error { return c.PRCurves(w, ev) })...)
		}
	}
	return errors.Join(errs...)
}

// writeChart writes dir/name.png and dir/name.svg atomically with draw, and returns the
// errors of the two.
func writeChart(dir, name string, draw func(reports.Charts, io.Writer) error) []error {
	var errs []error
	for _, f := range []reports.Format{reports.PNG, reports.SVG} {
		c := reports.Charts{Format: f}
		path := filepath.Join(dir, name+f.Ext())
		if err := fsutil.WriteFileAtomic(path, 0o644, func(w io.Writer) error { return draw(c, w) }); err != nil {
			errs = append(errs, fmt.Errorf("chart %s: %w", path, err))
		}
	}
	return errs
}

// DetFileName is the file of a class's detections: det_test_<class>.txt, as the
// reference's eval_ssd.py names it (a path separator in the name becomes "_").
func DetFileName(class string) string {
	return "det_test_" + strings.NewReplacer("/", "_", `\`, "_").Replace(class) + ".txt"
}

// WriteDetFiles writes one file per class (background excluded, every class even
// without detections) in the VOC devkit's format, as eval_ssd.py writes them: a line per
// detection, "<image id> <score> <xmin> <ymin> <xmax> <ymax>", coordinates one-based
// (pixels + 1, the devkit's MATLAB convention), detections in image order and, within an
// image, in the post-processing's order. Numbers are written as NumPy prints a float32:
// the shortest decimal that reads back to the same float32.
func WriteDetFiles(dir string, classes []string, dets []metric.Detection) error {
	byClass := make([][]int, len(classes))
	for i, d := range dets {
		if d.Label > 0 && d.Label < len(classes) {
			byClass[d.Label] = append(byClass[d.Label], i)
		}
	}
	var errs []error
	for c := 1; c < len(classes); c++ {
		path := filepath.Join(dir, DetFileName(classes[c]))
		err := fsutil.WriteFileAtomic(path, 0o644, func(w io.Writer) error {
			bw := bufio.NewWriter(w)
			for _, i := range byClass[c] {
				d := dets[i]
				bw.WriteString(d.ImageID)
				for _, v := range []float64{d.Score, d.Box[0] + 1, d.Box[1] + 1, d.Box[2] + 1, d.Box[3] + 1} {
					bw.WriteByte(' ')
					bw.WriteString(NumpyFloat32(v))
				}
				bw.WriteByte('\n')
			}
			return bw.Flush()
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// NumpyFloat32 formats v as str(numpy.float32(v)) does: the shortest decimal that reads
// back to the same float32, positional with ".0" for whole numbers when 1e-4 <= |v| <
// 1e16, scientific otherwise ("1e-05", "1.5e+16").
func NumpyFloat32(v float64) string {
	f := float64(float32(v))
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	if a := math.Abs(f); a >= 1e-4 && a < 1e16 {
		s := strconv.FormatFloat(f, 'f', -1, 32)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'e', -1, 32) // e.g. 1e-05, 1.5e+16
	return s
}

func sortedKeys(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
