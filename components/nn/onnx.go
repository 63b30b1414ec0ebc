package nn

import (
	"fmt"
	"unsafe"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/onnx"
	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// This file gives the layers their ONNX form: each layer that implements ONNXLayer
// appends to a graph the nodes that compute, in evaluation mode, what its Forward
// computes with train = false (batch norms normalise with their running statistics).
// Exporting a network is then the same walk over its layers as its Forward (gotch cannot
// trace a forward pass).

// ONNX is an export in progress: the graph, and the names of the model's variables,
// which become the initializers' names (the state_dict names, e.g. "base_net.0.0.weight").
// Emitting methods panic with an *OpError when a value cannot be read (see ExportError).
type ONNX struct {
	G     *onnx.Graph
	names map[unsafe.Pointer]string
	added map[unsafe.Pointer]string
	// scalars are the float32 scalar initializers made so far, by value.
	scalars map[float32]string
}

// NewONNX starts an export into g of a model whose variables are vars (its VarStore's
// Variables(): name → tensor).
func NewONNX(g *onnx.Graph, vars map[string]ts.Tensor) *ONNX {
	e := &ONNX{G: g, names: map[unsafe.Pointer]string{}, added: map[unsafe.Pointer]string{}, scalars: map[float32]string{}}
	for name, t := range vars {
		e.names[unsafe.Pointer(t.Ctensor())] = name
	}
	return e
}

// ONNXLayer is a layer with an ONNX form: EmitONNX appends the nodes that compute the
// layer's evaluation-mode Forward of the value x and returns the name of their result.
type ONNXLayer interface {
	EmitONNX(e *ONNX, x string) string
}

// Emit emits l, panicking with an *OpError when l has no ONNX form.
func (e *ONNX) Emit(l Layer, x string) string {
	ol, ok := l.(ONNXLayer)
	if !ok {
		panic(&OpError{Op: "onnx export", Err: fmt.Errorf("layer %T has no ONNX form", l)})
	}
	return ol.EmitONNX(e, x)
}

// Param returns the initializer holding t's values, adding it the first time: named as
// the model variable t is, or "const" for a tensor outside the model. t must be a float32
// CPU tensor.
func (e *ONNX) Param(t *ts.Tensor) string {
	key := unsafe.Pointer(t.Ctensor())
	if name, ok := e.added[key]; ok {
		return name
	}
	stem, ok := e.names[key]
	if !ok {
		stem = "const"
	}
	dims, vals, err := Float32Values(t)
	if err != nil {
		panic(&OpError{Op: "onnx export of " + stem, Err: err})
	}
	name := e.G.Floats32(stem, dims, vals)
	e.added[key] = name
	return name
}

// Float32Values returns t's dimensions and values (converted to float32 on the CPU).
func Float32Values(t *ts.Tensor) (dims []int64, vals []float32, err error) {
	defer torch.Recover(&err)
	dims = t.MustSize()
	c := t.MustTo(gotch.CPU, false).MustTotype(gotch.Float, true).MustDetach(true)
	defer c.MustDrop()
	vals = make([]float32, c.Numel())
	if err := torch.CopyTo(c, vals); err != nil {
		return nil, nil, err
	}
	return dims, vals, nil
}

func pads(p int) onnx.Attr { return onnx.Ints("pads", int64(p), int64(p), int64(p), int64(p)) }

func square(name string, v int) onnx.Attr { return onnx.Ints(name, int64(v), int64(v)) }

// EmitONNX emits a Conv node.
func (c *Conv2d) EmitONNX(e *ONNX, x string) string {
	s := c.Spec
	in := []string{x, e.Param(c.Weight)}
	if c.Bias != nil {
		in = append(in, e.Param(c.Bias))
	}
	return e.G.Add("Conv", in,
		square("kernel_shape", s.Kernel), square("strides", s.Stride), pads(s.Padding),
		square("dilations", s.Dilation), onnx.Int("group", int64(s.Groups)))
}

// EmitBatchNorm emits a BatchNormalization node with b's variables and the given eps
// (torch's momentum only matters in training).
func (b *BatchNorm2d) EmitBatchNorm(e *ONNX, x string, eps float64) string {
	return e.G.Add("BatchNormalization",
		[]string{x, e.Param(b.Weight), e.Param(b.Bias), e.Param(b.RunningMean), e.Param(b.RunningVar)},
		onnx.Float("epsilon", float32(eps)))
}

// EmitONNX emits a BatchNormalization node (evaluation mode: the running statistics).
func (b *BatchNorm2d) EmitONNX(e *ONNX, x string) string {
	return b.EmitBatchNorm(e, x, BatchNormEps)
}

// EmitONNX emits a Relu node.
func (ReLU) EmitONNX(e *ONNX, x string) string { return e.G.Add("Relu", []string{x}) }

// EmitONNX emits a Clip node to [0, 6] (bounds as inputs: opset 11 and later).
func (ReLU6) EmitONNX(e *ONNX, x string) string {
	return e.G.Add("Clip", []string{x, e.Scalar(0), e.Scalar(6)})
}

// Scalar returns a float32 scalar initializer of value v, shared by every node that uses
// the same value.
func (e *ONNX) Scalar(v float32) string {
	if name, ok := e.scalars[v]; ok {
		return name
	}
	name := e.G.Scalar(fmt.Sprintf("scalar_%g", v), v)
	e.scalars[v] = name
	return name
}

// EmitONNX emits a MaxPool node.
func (m MaxPool2d) EmitONNX(e *ONNX, x string) string {
	stride := m.Stride
	if stride == 0 {
		stride = m.Kernel
	}
	ceil := int64(0)
	if m.CeilMode {
		ceil = 1
	}
	return e.G.Add("MaxPool", []string{x},
		square("kernel_shape", m.Kernel), square("strides", stride), pads(m.Padding), onnx.Int("ceil_mode", ceil))
}

// EmitONNX emits every layer in order.
func (s *Seq) EmitONNX(e *ONNX, x string) string { return s.EmitRange(e, x, 0, len(s.Layers)) }

// EmitRange emits layers [from, to), as ForwardRange runs them.
func (s *Seq) EmitRange(e *ONNX, x string, from, to int) string {
	for _, l := range s.Layers[from:to] {
		x = e.Emit(l, x)
	}
	return x
}
