package export

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/backbone"
	"github.com/ssdrunner/ssdrunner/components/head"
	"github.com/ssdrunner/ssdrunner/components/nn"
	"github.com/ssdrunner/ssdrunner/components/postprocess/nmsconfig"
	"github.com/ssdrunner/ssdrunner/internal/onnx"
	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// Opset is the ONNX operator set of the exported graphs (ONNX 1.8, IR version 7): what
// TensorRT 7.1 and later, ONNX Runtime 1.6 and later and OpenCV's dnn module read. Its
// Softmax works on one axis, ReduceSum takes its axes as an input, and it has no
// HardSwish (emitted as x·HardSigmoid(x)).
const Opset = 13

// Names of the graph's inputs and outputs: those of the Jetson fork's onnx_export.py,
// which TensorRT's detectnet expects.
const (
	InputName  = "input_0"
	ScoresName = "scores"
	BoxesName  = "boxes"
)

// ONNXOptions tune the exported graph.
type ONNXOptions struct {
	// Batch fixes the batch size of input_0 and the outputs; 0 leaves it symbolic ("batch"),
	// so one file serves every batch size (TensorRT then needs an optimisation profile).
	Batch int
	// Producer is written as the model's producer_version (empty: none).
	Producer string
	// Postprocess, when set, adds per-class hard NMS to the graph (see emitNMS) with
	// these settings (the experiment's evaluation.nms).
	Postprocess *nmsconfig.Config // (postprocess.Config is the same type)
}

// Names of the outputs that ONNXOptions.Postprocess adds: the K detections of the whole
// batch, grouped by image, then by class, best first within a class.
const (
	DetectionIndicesName = "detection_indices" // [K,3] int64: image, class (>= 1), prior
	DetectionBoxesName   = "detection_boxes"   // [K,4] float32: xmin, ymin, xmax, ymax (relative)
	DetectionScoresName  = "detection_scores"  // [K] float32: the class probability
)

// ONNX returns the model as an ONNX file (opset Opset): input input_0 [N,3,H,W], the
// image normalised as for training ((pixel - mean) / std, RGB, channels first); outputs
// scores [N,P,C], the softmax of the class logits, and boxes [N,P,4], the box offsets
// decoded against the priors in corner form (xmin, ymin, xmax, ymax) relative to the
// image, as the reference's SSD computes them in test mode. Weights are initializers
// named as the state_dict keys; the metadata lists the classes, the input size, the
// normalisation and the variances.
func ONNX(m *Model, opts ONNXOptions) (_ []byte, err error) {
	defer torch.Recover(&err)
	if p := opts.Postprocess; p != nil {
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("post-processing: %w", err)
		}
		if p.Method != nmsconfig.Hard {
			return nil, fmt.Errorf("post-processing: %s NMS has no ONNX operator; only hard NMS can go into the graph", p.Method)
		}
		if p.ClassAgnostic {
			return nil, errors.New("post-processing: class-agnostic NMS cannot go into the graph (ONNX NonMaxSuppression works per class)")
		}
	}
	if opts.Batch < 0 {
		return nil, fmt.Errorf("batch size must be 0 (symbolic) or positive, got %d", opts.Batch)
	}
	bb, ok := m.SSD.Backbone.(backbone.ONNXBackbone)
	if !ok {
		return nil, fmt.Errorf("backbone %T has no ONNX form", m.SSD.Backbone)
	}
	hd, ok := m.SSD.Head.(head.ONNXHead)
	if !ok {
		return nil, fmt.Errorf("head %T has no ONNX form", m.SSD.Head)
	}
	g := onnx.NewGraph("ssd")
	g.Doc = "SSD detector exported by ssdrunner: input_0 is the normalised RGB image batch; scores are class probabilities, boxes corner-form coordinates relative to the image"
	batch := onnx.Dim{Param: "batch"}
	if opts.Batch > 0 {
		batch = onnx.Dim{Value: int64(opts.Batch)}
	}
	size := int64(m.ImageSize)
	np := m.Priors.MustSize()[0]
	nc := int64(len(m.Classes))
	x, err := g.Input(onnx.ValueInfo{Name: InputName, Type: onnx.Float32, Dims: []onnx.Dim{batch, {Value: 3}, {Value: size}, {Value: size}},
		Doc: "images [N,3,H,W], RGB, (pixel - mean) / std"})
	if err != nil {
		return nil, err
	}
	e := nn.NewONNX(g, m.SSD.VarStore().Variables())
	feats := bb.EmitONNX(e, x)
	conf, loc, err := hd.EmitONNX(e, feats)
	if err != nil {
		return nil, err
	}
	scores := g.Add("Softmax", []string{conf}, onnx.Int("axis", 2))
	boxes := emitDecode(e, loc, m)
	if err := g.Rename(scores, ScoresName); err != nil {
		return nil, err
	}
	if err := g.Rename(boxes, BoxesName); err != nil {
		return nil, err
	}
	g.Output(onnx.ValueInfo{Name: ScoresName, Type: onnx.Float32, Dims: []onnx.Dim{batch, {Value: np}, {Value: nc}},
		Doc: "class probabilities [N,P,C] (softmax over C; class 0 is BACKGROUND)"})
	g.Output(onnx.ValueInfo{Name: BoxesName, Type: onnx.Float32, Dims: []onnx.Dim{batch, {Value: np}, {Value: 4}},
		Doc: "boxes [N,P,4]: xmin, ymin, xmax, ymax relative to the image size"})

	if opts.Postprocess != nil {
		if err := emitNMS(e, *opts.Postprocess, int64(np)); err != nil {
			return nil, err
		}
	}

	meta, err := metadata(m)
	if err != nil {
		return nil, err
	}
	model := &onnx.Model{Graph: g, Opset: Opset, ProducerName: "ssdrunner", ProducerVersion: opts.Producer, Metadata: meta}
	return model.Marshal()
}

// emitDecode appends the decoding of the box offsets loc [N,P,4] against the priors into
// corner-form boxes, with the operations of components/boxes.Decode and CenterToCorner
// in the same order: centre = loc_xy·cv·prior_wh + prior_xy, size =
// exp(loc_wh·sv)·prior_wh, corners = centre ∓ size/2.
func emitDecode(e *nn.ONNX, loc string, m *Model) string {
	g := e.G
	pxyT := m.Priors.MustNarrow(1, 0, 2, false)
	defer pxyT.MustDrop()
	pwhT := m.Priors.MustNarrow(1, 2, 2, false)
	defer pwhT.MustDrop()
	pxy, pwh := priorsConst(g, "priors_center", pxyT), priorsConst(g, "priors_size", pwhT)
	two := g.Int64s("split", 2, 2)
	halves := g.AddN("Split", []string{loc, two}, 2, onnx.Int("axis", 2))
	lxy, lwh := halves[0], halves[1]
	scaled := g.Add("Mul", []string{lxy, e.Scalar(float32(m.Variances.Center))})
	center := g.Add("Add", []string{g.Add("Mul", []string{scaled, pwh}), pxy})
	grow := g.Add("Exp", []string{g.Add("Mul", []string{lwh, e.Scalar(float32(m.Variances.Size))})})
	size := g.Add("Mul", []string{grow, pwh})
	half := g.Add("Div", []string{size, e.Scalar(2)})
	lo := g.Add("Sub", []string{center, half})
	hi := g.Add("Add", []string{center, half})
	return g.Add("Concat", []string{lo, hi}, onnx.Int("axis", 2))
}

// emitNMS appends per-class hard NMS over the graph's scores and boxes, as the
// reference's Predictor does (and components/postprocess with the same settings): for each
// image and each class but the background, the probabilities > ScoreThreshold among the
// CandidateSize best are candidates, and a candidate is dropped when its IoU with a better
// kept box exceeds IoUThreshold; TopK caps the detections of each class. It uses ONNX
// NonMaxSuppression, whose IoU has no epsilon in its denominator (the reference adds
// 1e-5, which moves IoUs of boxes of a few pixels' area by up to 1e-3: only pairs that
// close to the threshold can be decided differently), and which keeps every candidate
// tied with the CandidateSize-th best.
func emitNMS(e *nn.ONNX, c nmsconfig.Config, np int64) error {
	g := e.G
	// foreground scores, classes first: [N, C-1, P]
	fg := g.Add("Slice", []string{ScoresName, g.Int64s("starts", 1), g.Int64s("ends", math.MaxInt64), g.Int64s("axes", 2)})
	fg = g.Add("Transpose", []string{fg}, onnx.Ints("perm", 0, 2, 1))
	if k := int64(c.CandidateSize); k > 0 && k < np {
		// zero the scores below each class's k-th best, so that they fall below any
		// threshold >= 0 (a candidate needs a probability > ScoreThreshold)
		best := g.AddN("TopK", []string{fg, g.Int64s("k", k)}, 2, onnx.Int("axis", 2))[0]
		kth := g.Add("Slice", []string{best, g.Int64s("starts", k-1), g.Int64s("ends", k), g.Int64s("axes", 2)})
		fg = g.Add("Where", []string{g.Add("Less", []string{fg, kth}), e.Scalar(0), fg})
	}
	maxOut := np
	if c.TopK > 0 {
		maxOut = int64(c.TopK)
	}
	sel := g.Add("NonMaxSuppression", []string{BoxesName, fg, g.Int64s("max_output_boxes_per_class", maxOut),
		g.Floats32("iou_threshold", []int64{1}, []float32{float32(c.IoUThreshold)}),
		g.Floats32("score_threshold", []int64{1}, []float32{float32(c.ScoreThreshold)})})
	col := func(i int64) string {
		return g.Add("Slice", []string{sel, g.Int64s("starts", i), g.Int64s("ends", i+1), g.Int64s("axes", 1)})
	}
	img, cls, prior := col(0), col(1), col(2)
	cls = g.Add("Add", []string{cls, g.Int64s("one", 1)}) // class indices count the background
	indices := g.Add("Concat", []string{img, cls, prior}, onnx.Int("axis", 1))
	boxes := g.Add("GatherND", []string{BoxesName, g.Add("Concat", []string{img, prior}, onnx.Int("axis", 1))})
	scores := g.Add("GatherND", []string{ScoresName, g.Add("Concat", []string{img, prior, cls}, onnx.Int("axis", 1))})
	for _, r := range [][2]string{{indices, DetectionIndicesName}, {boxes, DetectionBoxesName}, {scores, DetectionScoresName}} {
		if err := g.Rename(r[0], r[1]); err != nil {
			return err
		}
	}
	k := onnx.Dim{Param: "detections"}
	g.Output(onnx.ValueInfo{Name: DetectionIndicesName, Type: onnx.Int64, Dims: []onnx.Dim{k, {Value: 3}},
		Doc: "detections [K,3]: image, class (>= 1), prior; by image, then class, best first"})
	g.Output(onnx.ValueInfo{Name: DetectionBoxesName, Type: onnx.Float32, Dims: []onnx.Dim{k, {Value: 4}},
		Doc: "the detections' boxes [K,4]: xmin, ymin, xmax, ymax relative to the image"})
	g.Output(onnx.ValueInfo{Name: DetectionScoresName, Type: onnx.Float32, Dims: []onnx.Dim{k},
		Doc: "the detections' class probabilities [K]"})
	return nil
}

// priorsConst adds a [P,2] slice of the priors as an initializer.
func priorsConst(g *onnx.Graph, name string, t *ts.Tensor) string {
	dims, vals, err := nn.Float32Values(t)
	if err != nil {
		panic(&nn.OpError{Op: "onnx export of " + name, Err: err})
	}
	return g.Floats32(name, dims, vals)
}

// metadata is what a user of the file needs besides the graph, as metadata_props.
func metadata(m *Model) (map[string]string, error) {
	e := m.Experiment
	js := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(b)
	}
	if len(m.Classes) == 0 {
		return nil, errors.New("no classes")
	}
	return map[string]string{
		"classes":         js(m.Classes),
		"image_size":      strconv.Itoa(m.ImageSize),
		"mean":            js(e.Data.Mean),
		"std":             js(e.Data.Std),
		"center_variance": strconv.FormatFloat(m.Variances.Center, 'g', -1, 64),
		"size_variance":   strconv.FormatFloat(m.Variances.Size, 'g', -1, 64),
		"backbone":        e.Model.Backbone.Type,
		"head":            e.Model.Head.Type,
		"boxes":           "corner form (xmin, ymin, xmax, ymax), relative to the image",
		"input":           "RGB, channels first, (pixel - mean) / std",
	}, nil
}
