// Package reports turns evaluation results into charts for people: AP per class, AP of several
// runs side by side, precision–recall curves (in one chart or as small multiples), detection
// confusion matrices, and metrics over epochs or over any real-valued x (steps).
//
// Charts are drawn with the renderers of github.com/wcharczuk/go-chart/v2 (its PNG rasteriser or
// its SVG writer, and its embedded Roboto font); the layout (axes, ticks, bars, legends) is done
// here so that long class lists stay readable. Every function validates its input first and
// returns an error, never panics, on empty input, NaN/Inf or out-of-range values, or mismatched
// curve lengths. Output is deterministic: the same input gives the same bytes.
//
// The package-level functions write PNG; use a Charts value to choose SVG. They write to an
// io.Writer: to write a chart file without ever leaving a half-written one behind, give them
// the writer of the project's internal/fsutil.WriteFileAtomic (reports imports nothing of
// the project itself).
package reports

// ClassAP is the evaluation result of one class.
type ClassAP struct {
	Class string  // class name, unique within an Eval
	AP    float64 // average precision in [0, 1]
	// Precision and Recall are the points of the class's precision–recall curve, of equal
	// length, values in [0, 1], Recall non-decreasing. They may be empty (no detections).
	Precision, Recall []float64
}

// Eval is one evaluation of one run.
type Eval struct {
	Run     string    // run name, shown in titles and legends
	Epoch   int       // epoch the evaluated weights come from
	MAP     float64   // mean average precision in [0, 1]
	Classes []ClassAP // per-class results, in display order
}

// Point is one value of a metric at one epoch.
type Point struct {
	Epoch int
	Value float64
}

// Series is one metric of one run over epochs, e.g. val_loss, mAP or lr.
type Series struct {
	Run, Name string
	Points    []Point
}

// ConfusionMatrix is a detection confusion matrix: for each true class, how many of its
// objects were detected as each class and how many were missed, and for each class how many
// of its detections met no object.
type ConfusionMatrix struct {
	Run   string // run name, shown in the title
	Epoch int    // epoch the evaluated weights come from; negative when unknown (not shown)
	// Classes are the class names, unique; index 0 is the background: as a row, the
	// detections that met no object (false positives); as a column, the objects that no
	// detection met (missed). At least one class besides the background.
	Classes []string
	// ScoreThreshold is the score from which detections were counted and IoUThreshold the
	// overlap at which a detection met an object (both shown in the title).
	ScoreThreshold, IoUThreshold float64
	// Counts[t][d] is how many objects of class t were detected as class d, both indexing
	// Classes, len(Classes) rows of len(Classes) counts. Counts[0][0] counts nothing and
	// must be 0.
	Counts [][]int
}
