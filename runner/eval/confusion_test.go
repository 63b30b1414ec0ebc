package eval

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ssdrunner/ssdrunner/components/metric"
	"github.com/ssdrunner/ssdrunner/reports"
)

// confusionCase is two images with every kind of outcome the matrix counts, each noted
// beside its detection.
func confusionCase() ([]string, []metric.GroundTruth, []metric.Detection) {
	classes := []string{"BACKGROUND", "cat", "dog", "bird"}
	gts := []metric.GroundTruth{
		{ImageID: "a", Boxes: [][4]float64{{0, 0, 100, 100}, {200, 200, 300, 300}, {400, 0, 500, 100}, {0, 400, 50, 450}},
			Labels: []int{1, 2, 3, 1}, Difficult: []bool{false, false, false, true}},
		{ImageID: "b", Boxes: [][4]float64{{10, 10, 60, 60}}, Labels: []int{2}},
		{ImageID: "c"}, // no objects
	}
	dets := []metric.Detection{
		{ImageID: "a", Label: 1, Score: 0.9, Box: [4]float64{0, 0, 100, 100}},     // cat right
		{ImageID: "a", Label: 1, Score: 0.8, Box: [4]float64{0, 0, 100, 95}},      // a second box on the same cat: false positive
		{ImageID: "a", Label: 3, Score: 0.7, Box: [4]float64{200, 200, 300, 290}}, // the dog, detected as a bird
		{ImageID: "a", Label: 2, Score: 0.6, Box: [4]float64{215, 200, 300, 300}}, // IoU 0.85 with the dog, below the bird box's 0.9: false positive
		{ImageID: "a", Label: 3, Score: 0.1, Box: [4]float64{400, 0, 500, 100}},   // below the score: ignored, so the bird is missed
		{ImageID: "a", Label: 2, Score: 0.5, Box: [4]float64{0, 400, 50, 450}},    // on the difficult cat: neither counted nor a false positive
		{ImageID: "b", Label: 2, Score: 0.4, Box: [4]float64{35, 10, 85, 60}},     // IoU 1/3 with the dog: a false positive, the dog missed
		{ImageID: "c", Label: 1, Score: 0.3, Box: [4]float64{0, 0, 10, 10}},       // an image without objects: false positive
	}
	return classes, gts, dets
}

func TestConfusion(t *testing.T) {
	classes, gts, dets := confusionCase()
	c, err := NewConfusion(classes, gts, dets, 0.25, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]int{
		// missed, cat, dog, bird
		{0, 2, 2, 0}, // background: false positives
		{0, 1, 0, 0}, // cat
		{1, 0, 0, 1}, // dog: one as a bird, one missed
		{1, 0, 0, 0}, // bird: missed
	}
	if !reflect.DeepEqual(c.Counts, want) {
		t.Fatalf("counts %v, want %v", c.Counts, want)
	}
	if n := c.Objects(); n != 4 {
		t.Errorf("Objects() = %d, want 4 (the difficult cat left out)", n)
	}
	sum := c.Summary()
	wantSum := []ClassSummary{
		{Class: "cat", Objects: 1, Right: 1, FalsePositives: 2},
		{Class: "dog", Objects: 2, Other: 1, MostlyAs: "bird", Missed: 1, FalsePositives: 2},
		{Class: "bird", Objects: 1, Missed: 1},
	}
	if !reflect.DeepEqual(sum, wantSum) {
		t.Fatalf("summary %+v, want %+v", sum, wantSum)
	}

	var csv bytes.Buffer
	if err := c.CSV(&csv); err != nil {
		t.Fatal(err)
	}
	wantCSV := "true \\ detected,missed,cat,dog,bird\ncat,0,1,0,0\ndog,1,0,0,1\nbird,1,0,0,0\nbackground,,2,2,0\n"
	if csv.String() != wantCSV {
		t.Fatalf("CSV\n%s\nwant\n%s", csv.String(), wantCSV)
	}
	var table bytes.Buffer
	c.WriteTable(&table)
	for _, s := range []string{"scoring >= 0.25", "IoU >= 0.5", "bird", "all"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, table.String())
		}
	}
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"counts":[[0,2,2,0],[0,1,0,0],[1,0,0,1],[1,0,0,0]]`) {
		t.Errorf("JSON %s", js)
	}
}

// TestConfusionThresholds moves each threshold across a case's value: the count moves
// with it.
func TestConfusionThresholds(t *testing.T) {
	classes, gts, dets := confusionCase()
	// Score 0.05 lets the low bird detection in: the bird is found, right.
	c, err := NewConfusion(classes, gts, dets, 0.05, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if c.Counts[3][3] != 1 || c.Counts[3][0] != 0 {
		t.Errorf("score 0.05: bird row %v, want found as a bird", c.Counts[3])
	}
	// IoU 0.3 pairs image b's offset box (IoU 1/3) with its dog.
	c, err = NewConfusion(classes, gts, dets, 0.25, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	if c.Counts[2][2] != 1 || c.Counts[2][0] != 0 || c.Counts[0][2] != 1 {
		t.Errorf("IoU 0.3: dog row %v, false positives %v", c.Counts[2], c.Counts[0])
	}
}

func TestConfusionErrors(t *testing.T) {
	classes, gts, dets := confusionCase()
	for _, tc := range []struct {
		name       string
		classes    []string
		gts        []metric.GroundTruth
		dets       []metric.Detection
		score, iou float64
		want       string
	}{
		{"score", classes, gts, dets, 1.5, 0.5, "score threshold must be in [0, 1]"},
		{"iou zero", classes, gts, dets, 0.25, 0, "IoU threshold must be in (0, 1]"},
		{"classes", classes[:1], gts, dets, 0.25, 0.5, "want the background and at least one class"},
		{"det label", classes, gts, []metric.Detection{{ImageID: "a", Label: 4, Score: 1}}, 0.25, 0.5, "detection 0 (image \"a\"): label 4 outside 1..3"},
		{"gt label", classes, []metric.GroundTruth{{ImageID: "a", Boxes: [][4]float64{{0, 0, 1, 1}}, Labels: []int{0}}}, nil, 0.25, 0.5, "image \"a\": object 0: label 0"},
		{"unknown image", classes, gts[:1], dets, 0.25, 0.5, "detections on 2 image(s) without ground truth, e.g. \"b\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewConfusion(tc.classes, tc.gts, tc.dets, tc.score, tc.iou)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestConfusionChart checks the conversion for reports: every field carried over, and a
// matrix of NewConfusion (nothing counted in its corner) valid for the chart.
func TestConfusionChart(t *testing.T) {
	classes, gts, dets := confusionCase()
	c, err := NewConfusion(classes, gts, dets, 0.25, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	cm := c.Chart("run1", 7)
	want := reports.ConfusionMatrix{Run: "run1", Epoch: 7, Classes: classes, ScoreThreshold: 0.25, IoUThreshold: 0.5, Counts: c.Counts}
	if !reflect.DeepEqual(cm, want) {
		t.Fatalf("Chart = %+v, want %+v", cm, want)
	}
	if err := cm.Validate(); err != nil {
		t.Fatalf("NewConfusion's matrix cannot be charted: %v", err)
	}
	var b bytes.Buffer
	if err := reports.Confusion(&b, cm); err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(&b); err != nil {
		t.Fatalf("chart: %v", err)
	}
}

// TestWriteConfusion checks the files Write adds for a confusion matrix (the CSV and the
// chart, PNG and SVG) and that it writes none of them without one.
func TestWriteConfusion(t *testing.T) {
	classes, gts, dets := confusionCase()
	c, err := NewConfusion(classes, gts, dets, 0.25, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	res := &Result{IDs: []string{"a", "b", "c"}, GroundTruths: gts, Detections: dets}
	files := []string{"confusion.csv", "confusion.png", "confusion.svg"}
	without := t.TempDir()
	if err := Write(without, res, classes, Report{Experiment: "x"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(without, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("without a matrix: %s written (%v)", f, err)
		}
	}
	dir := t.TempDir()
	if err := Write(dir, res, classes, Report{Experiment: "x<y>", Confusion: c, ConfusionPerClass: c.Summary()}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "confusion.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("confusion.png: %v", err)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "confusion.svg"))
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(svg, new(struct{})); err != nil || !strings.Contains(string(svg), "x&lt;y&gt;") || !strings.Contains(string(svg), "bird") {
		t.Errorf("confusion.svg: %v, or without the run's escaped name and the classes", err)
	}
	if strings.Contains(string(svg), "epoch") {
		t.Errorf("confusion.svg shows an epoch, which eval does not know")
	}
	if _, err := os.Stat(filepath.Join(dir, "confusion.csv")); err != nil {
		t.Error(err)
	}
}
