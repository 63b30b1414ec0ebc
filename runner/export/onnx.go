package export

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/backbone"
	"github.com/ssdrunner/ssdrunner/components/head"
	"github.com/ssdrunner/ssdrunner/components/nn"
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
}

// ONNX returns the model as an ONNX file (opset Opset): input input_0 [N,3,H,W], the
// image normalised as for training ((pixel - mean) / std, RGB, channels first); outputs
// scores [N,P,C], the softmax of the class logits, and boxes [N,P,4], the box offsets
// decoded against the priors in corner form (xmin, ymin, xmax, ymax) relative to the
// image, as the reference's SSD computes them in test mode. Weights are initializers
// named as the state_dict keys; the metadata lists the classes, the input size, the
// normalisation and the variances.
func ONNX(m *Model, opts ONNXOptions) (_ []byte, err error) {
	defer torch.Recover(&err)
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
