package eval

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"text/tabwriter"

	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/boxes"
	"github.com/ssdrunner/ssdrunner/components/metric"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/reports"
)

// Default thresholds of the confusion matrix: a detection counts from score 0.25 (as
// Ultralytics' confusion matrix), and it meets an object at IoU 0.5 (the VOC metric's
// true-positive criterion, so the matrix explains the AP table beside it).
const (
	DefaultConfusionScore = 0.25
	DefaultConfusionIoU   = 0.5
)

// Confusion is a detection confusion matrix: which class each object was detected as,
// which objects were missed, and which detections met no object. It tells a detector that
// finds objects but names them wrongly from one that does not find them, which the AP of
// each class alone does not.
//
// Counting, image by image: the detections scoring at least ScoreThreshold are paired
// with the image's objects whose box they overlap at IoU >= IoUThreshold, greedily by
// decreasing IoU (ties by decreasing score), each object and each detection at most once,
// whatever their classes. A paired object of class t detected as p counts in Counts[t][p];
// an object left unpaired counts in Counts[t][0] (missed); a detection of class p left
// unpaired counts in Counts[0][p] (a false positive on the background). Difficult objects
// are paired like the others, so that a detection on one is not a false positive, but
// neither they nor their detection are counted (as the VOC metric neither requires nor
// penalises them).
type Confusion struct {
	// Classes are the class names; index 0 is the background (row: no object, column:
	// not detected).
	Classes        []string `json:"classes"`
	ScoreThreshold float64  `json:"score_threshold"`
	IoUThreshold   float64  `json:"iou_threshold"`
	// Counts[true class][detected class], both indexing Classes.
	Counts [][]int `json:"counts"`
}

// NewConfusion counts the confusion matrix of the detections against the ground truths
// (the inputs of the metrics; see Confusion for the rule).
func NewConfusion(classes []string, gts []metric.GroundTruth, dets []metric.Detection, scoreThreshold, iouThreshold float64) (*Confusion, error) {
	if len(classes) < 2 {
		return nil, fmt.Errorf("confusion: %d class names, want the background and at least one class", len(classes))
	}
	if err := CheckConfusionThresholds(scoreThreshold, iouThreshold); err != nil {
		return nil, fmt.Errorf("confusion: %w", err)
	}
	c := &Confusion{Classes: classes, ScoreThreshold: scoreThreshold, IoUThreshold: iouThreshold, Counts: make([][]int, len(classes))}
	for i := range c.Counts {
		c.Counts[i] = make([]int, len(classes))
	}
	byImage := map[string][]int{}
	for i, d := range dets {
		if d.Label < 1 || d.Label >= len(classes) {
			return nil, fmt.Errorf("confusion: detection %d (image %q): label %d outside 1..%d", i, d.ImageID, d.Label, len(classes)-1)
		}
		if d.Score >= scoreThreshold {
			byImage[d.ImageID] = append(byImage[d.ImageID], i)
		}
	}
	seen := make(map[string]bool, len(gts))
	for _, g := range gts {
		seen[g.ImageID] = true
		if err := c.addImage(g, dets, byImage[g.ImageID]); err != nil {
			return nil, err
		}
	}
	var unknown []string
	for id := range byImage {
		if !seen[id] {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("confusion: detections on %d image(s) without ground truth, e.g. %q", len(unknown), unknown[0])
	}
	return c, nil
}

// CheckConfusionThresholds checks the thresholds of NewConfusion: a score in [0, 1], an
// IoU in (0, 1].
func CheckConfusionThresholds(score, iou float64) error {
	if !(score >= 0 && score <= 1) {
		return fmt.Errorf("score threshold must be in [0, 1], got %g", score)
	}
	if !(iou > 0 && iou <= 1) {
		return fmt.Errorf("IoU threshold must be in (0, 1], got %g", iou)
	}
	return nil
}

// addImage counts one image: its objects g and the detections dets[idx...].
func (c *Confusion) addImage(g metric.GroundTruth, dets []metric.Detection, idx []int) error {
	hard := func(k int) bool { return len(g.Difficult) != 0 && g.Difficult[k] }
	for k, l := range g.Labels {
		if l < 1 || l >= len(c.Classes) {
			return fmt.Errorf("confusion: image %q: object %d: label %d outside 1..%d", g.ImageID, k, l, len(c.Classes)-1)
		}
	}
	if len(g.Boxes) != len(g.Labels) {
		return fmt.Errorf("confusion: image %q: %d boxes but %d labels", g.ImageID, len(g.Boxes), len(g.Labels))
	}
	pairs, err := c.pairs(g.Boxes, dets, idx)
	if err != nil {
		return fmt.Errorf("confusion: image %q: %w", g.ImageID, err)
	}
	objTaken := make([]bool, len(g.Boxes))
	detTaken := make([]bool, len(idx))
	for _, p := range pairs {
		if objTaken[p.obj] || detTaken[p.det] {
			continue
		}
		objTaken[p.obj], detTaken[p.det] = true, true
		if !hard(p.obj) {
			c.Counts[g.Labels[p.obj]][dets[idx[p.det]].Label]++
		}
	}
	for k, taken := range objTaken {
		if !taken && !hard(k) {
			c.Counts[g.Labels[k]][0]++
		}
	}
	for j, taken := range detTaken {
		if !taken {
			c.Counts[0][dets[idx[j]].Label]++
		}
	}
	return nil
}

// pair is an object and a detection (indices into the image's lists) that overlap enough.
type pair struct {
	obj, det int
	iou      float64
	score    float64
}

// pairs returns the (object, detection) pairs of one image with IoU >= the threshold, in
// matching order: decreasing IoU, then decreasing score, then object and detection index.
// The IoU matrix is one libtorch op over the image's boxes (boxes.IoU, the reference's
// iou_of, as the metrics).
func (c *Confusion) pairs(objs [][4]float64, dets []metric.Detection, idx []int) (out []pair, err error) {
	if len(objs) == 0 || len(idx) == 0 {
		return nil, nil
	}
	defer torch.Recover(&err)
	s := torch.NewScope()
	defer s.Close()
	a := make([]float32, 0, 4*len(objs))
	for _, b := range objs {
		a = append(a, float32(b[0]), float32(b[1]), float32(b[2]), float32(b[3]))
	}
	b := make([]float32, 0, 4*len(idx))
	for _, i := range idx {
		d := dets[i].Box
		b = append(b, float32(d[0]), float32(d[1]), float32(d[2]), float32(d[3]))
	}
	at := s.T(ts.MustOfSlice(a).MustView([]int64{int64(len(objs)), 4}, true))
	bt := s.T(ts.MustOfSlice(b).MustView([]int64{int64(len(idx)), 4}, true))
	iou, err := boxes.IoU(at, bt)
	if err != nil {
		return nil, err
	}
	s.T(iou)
	vals := iou.Float64Values()
	if len(vals) != len(objs)*len(idx) {
		return nil, errors.New("IoU matrix of unexpected size")
	}
	for o := range objs {
		for j := range idx {
			if v := vals[o*len(idx)+j]; v >= c.IoUThreshold {
				out = append(out, pair{obj: o, det: j, iou: v, score: dets[idx[j]].Score})
			}
		}
	}
	sort.SliceStable(out, func(x, y int) bool {
		if out[x].iou != out[y].iou {
			return out[x].iou > out[y].iou
		}
		return out[x].score > out[y].score
	})
	return out, nil
}

// Objects returns the number of objects the matrix counts: the sum of the object classes'
// rows (every non-difficult object is in exactly one cell of them).
func (c *Confusion) Objects() int {
	n := 0
	for _, row := range c.Counts[min(1, len(c.Counts)):] {
		for _, k := range row {
			n += k
		}
	}
	return n
}

// ClassSummary is one class's row of the confusion matrix, summed up.
type ClassSummary struct {
	Class   string `json:"class"`
	Objects int    `json:"objects"` // non-difficult objects of the class
	Right   int    `json:"right"`   // detected as the class
	Other   int    `json:"other"`   // detected as another class
	// MostlyAs is the other class the objects were most often detected as ("" if none).
	MostlyAs       string `json:"mostly_as,omitempty"`
	Missed         int    `json:"missed"`
	FalsePositives int    `json:"false_positives"` // detections of the class on no object
}

// Summary returns a row per class (background excluded), in class order.
func (c *Confusion) Summary() []ClassSummary {
	out := make([]ClassSummary, 0, len(c.Classes)-1)
	for t := 1; t < len(c.Classes); t++ {
		row := c.Counts[t]
		s := ClassSummary{Class: c.Classes[t], Right: row[t], Missed: row[0], FalsePositives: c.Counts[0][t]}
		most := 0
		for p := 1; p < len(row); p++ {
			s.Objects += row[p]
			if p != t {
				s.Other += row[p]
				if row[p] > most {
					most, s.MostlyAs = row[p], c.Classes[p]
				}
			}
		}
		s.Objects += row[0]
		out = append(out, s)
	}
	return out
}

// WriteTable prints the per-class summary of the matrix.
func (c *Confusion) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "Confusion (detections scoring >= %g, matched to objects at IoU >= %g):\n", c.ScoreThreshold, c.IoUThreshold)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "class\tobjects\tright class\tother class\tmostly as\tmissed\tfalse positives\t")
	var right, other, missed, fp, objects int
	for _, s := range c.Summary() {
		mostly := s.MostlyAs
		if mostly == "" {
			mostly = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%d\t%d\t\n", s.Class, s.Objects, s.Right, s.Other, mostly, s.Missed, s.FalsePositives)
		objects, right, other, missed, fp = objects+s.Objects, right+s.Right, other+s.Other, missed+s.Missed, fp+s.FalsePositives
	}
	fmt.Fprintf(tw, "all\t%d\t%d\t%d\t\t%d\t%d\t\n", objects, right, other, missed, fp)
	tw.Flush()
}

// CSV writes the matrix: a row per true class (then "background", the false positives),
// a column per detected class (after "missed", the objects not detected).
func (c *Confusion) CSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write(append([]string{"true \\ detected", "missed"}, c.Classes[1:]...))
	for i := range c.Classes {
		t := (i + 1) % len(c.Classes) // the object classes, then the background
		row := []string{c.Classes[t], ""}
		if t == 0 {
			row[0] = "background"
		} else {
			row[1] = strconv.Itoa(c.Counts[t][0])
		}
		for _, n := range c.Counts[t][1:] {
			row = append(row, strconv.Itoa(n))
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// Chart is the matrix as the input of reports.Charts.Confusion, for the weights of run
// at epoch (negative: unknown, not shown). Classes and Counts are shared, not copied.
func (c *Confusion) Chart(run string, epoch int) reports.ConfusionMatrix {
	return reports.ConfusionMatrix{Run: run, Epoch: epoch, Classes: c.Classes,
		ScoreThreshold: c.ScoreThreshold, IoUThreshold: c.IoUThreshold, Counts: c.Counts}
}
