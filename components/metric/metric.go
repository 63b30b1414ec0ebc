// Package metric holds the detection metrics: "voc" (PASCAL VOC average precision as the
// reference eval_ssd.py computes it) and "coco" (COCO AP@[.5:.95] as pycocotools'
// COCOeval computes it for boxes).
//
// A metric takes the ground truths of every evaluated image and the detections made on
// them, all in one coordinate system (the project uses pixels, corner form, as
// dataset.Object does), and returns the headline number, the per-class results with their
// precision–recall curves, and extra numbers.
//
// The shared work is done once per call: inputs are checked (each error names the first
// offending image, detection or ground truth), the IoU of every detection with every
// ground truth of the same image and class is computed by libtorch in one batch, and the
// greedy, inherently sequential matching then runs in Go over those values.
package metric

import (
	"github.com/ssdrunner/ssdrunner/registry"
)

// GroundTruth holds the annotated objects of one image.
type GroundTruth struct {
	ImageID string
	// Boxes are corner form (xmin, ymin, xmax, ymax), pixels.
	Boxes [][4]float64
	// Labels index the class names; 0 (background) is not a valid object label.
	Labels []int
	// Difficult marks objects that are neither required nor penalised (VOC's "difficult";
	// "coco" treats them as crowd regions). Empty means none is difficult.
	Difficult []bool
}

// Detection is one detected box.
type Detection struct {
	ImageID string
	Box     [4]float64 // corner form, the ground truths' coordinate system
	Label   int        // class index, >= 1
	Score   float64
}

// Result is the outcome of one evaluation.
type Result struct {
	Metric string  // the metric's registered name
	Value  float64 // headline number (mean AP), in [0, 1]
	// PerClass holds the classes that have at least one non-difficult ground truth, in
	// class-index order; classes without any are left out of Value too.
	PerClass []ClassResult
	Extra    map[string]float64 // further numbers, e.g. "AP50" and "AP75" for "coco"
}

// ClassResult is the evaluation result of one class.
type ClassResult struct {
	Class string  // class name
	AP    float64 // average precision in [0, 1]
	// Precision and Recall are the points of the class's precision–recall curve, of equal
	// length, values in [0, 1], Recall non-decreasing. They are empty without detections.
	Precision, Recall []float64
}

// Metric evaluates detections against ground truths.
type Metric interface {
	// Evaluate scores dets against gts. classNames[0] is the background; every image a
	// detection names must appear in gts (possibly with no objects).
	Evaluate(classNames []string, gts []GroundTruth, dets []Detection) (Result, error)
}

// Factory builds a metric from its decoded config.
type Factory func(cfg any) (Metric, error)

// Registry holds the metrics, by the name experiment files use.
var Registry = registry.New[Factory]("metric", "evaluation metrics")

// Build resolves ref (name and options) and builds the metric.
func Build(ref registry.Ref) (Metric, error) {
	e, cfg, err := Registry.Resolve(ref)
	if err != nil {
		return nil, err
	}
	return e.Factory(cfg)
}
