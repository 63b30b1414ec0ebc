package backbone

import (
	"github.com/ssdrunner/ssdrunner/components/nn"
	"github.com/ssdrunner/ssdrunner/internal/onnx"
)

// This file gives the backbones and their own layers an ONNX form (see components/nn's
// ONNX): each EmitONNX follows its Forward step by step, in evaluation mode.

// ONNXBackbone is a backbone with an ONNX form: EmitONNX appends to the export the nodes
// that compute its feature maps from the image batch x and returns their names, in the
// order of Forward's.
type ONNXBackbone interface {
	EmitONNX(e *nn.ONNX, x string) []string
}

// Every registered backbone has an ONNX form.
var (
	_ ONNXBackbone = (*MobileNetV1)(nil)
	_ ONNXBackbone = (*MobileNetV2)(nil)
	_ ONNXBackbone = (*MobileNetV3)(nil)
	_ ONNXBackbone = (*SqueezeNet)(nil)
	_ ONNXBackbone = (*VGG16)(nil)
	_ ONNXBackbone = (*VGG16x512)(nil)
	_ ONNXBackbone = (*ResNet50)(nil)
	_ ONNXBackbone = (*SSD7)(nil)
)

// EmitONNX emits the feature maps.
func (m *MobileNetV1) EmitONNX(e *nn.ONNX, x string) []string {
	var feats []string
	from := 0
	for _, t := range m.taps {
		x = m.Base.EmitRange(e, x, from, t)
		feats = append(feats, x)
		from = t
	}
	for i := len(m.TopDown) - 1; i >= 0; i-- {
		// Resize to the fine map's own shape: nearest with asymmetric coordinates and
		// floor rounding is torch's upsample_nearest2d, for any ratio of sizes.
		l := e.Emit(m.TopDown[i], feats[i+1])
		size := e.G.Add("Shape", []string{feats[i]})
		up := e.G.Add("Resize", []string{l, "", "", size},
			onnx.String("mode", "nearest"),
			onnx.String("coordinate_transformation_mode", "asymmetric"),
			onnx.String("nearest_mode", "floor"))
		feats[i] = e.G.Add("Add", []string{feats[i], up})
	}
	return emitExtras(e, x, feats, m.Extras)
}

// emitExtras emits each extra stage after x, appending its output to feats.
func emitExtras[L nn.Layer](e *nn.ONNX, x string, feats []string, extras []L) []string {
	for _, s := range extras {
		x = e.Emit(s, x)
		feats = append(feats, x)
	}
	return feats
}

// EmitONNX emits the six feature maps, tapping layer 14 as Forward does (with the
// in-place activations that follow the tap applied to the feature map too).
func (m *MobileNetV2) EmitONNX(e *nn.ONNX, x string) []string {
	tapped := m.Base.Layers[mobileNetV2TapLayer].(*invertedResidual).Conv
	pre := m.Base.EmitRange(e, x, 0, mobileNetV2TapLayer)
	expanded := tapped.EmitRange(e, pre, 0, mobileNetV2TapSub)
	next := mobileNetV2TapSub
	for ; next < tapped.Len(); next++ {
		if _, ok := tapped.Layers[next].(nn.InPlacer); !ok {
			break
		}
		expanded = e.Emit(tapped.Layers[next], expanded)
	}
	feats := []string{expanded}
	rest := tapped.EmitRange(e, expanded, next, tapped.Len())
	cur := m.Base.EmitRange(e, rest, mobileNetV2TapLayer+1, m.Base.Len())
	feats = append(feats, cur)
	return emitExtras(e, cur, feats, m.Extras)
}

// EmitONNX emits the block, with its residual sum.
func (b *invertedResidual) EmitONNX(e *nn.ONNX, x string) string {
	y := b.Conv.EmitONNX(e, x)
	if b.Residual {
		y = e.G.Add("Add", []string{y, x})
	}
	return y
}

// EmitONNX emits the six feature maps.
func (m *MobileNetV3) EmitONNX(e *nn.ONNX, x string) []string {
	cur := m.Base.EmitRange(e, x, 0, m.firstTap)
	feats := []string{cur}
	cur = m.Base.EmitRange(e, cur, m.firstTap, m.Base.Len())
	feats = append(feats, cur)
	return emitExtras(e, cur, feats, m.Extras)
}

// EmitONNX emits x·HardSigmoid(x), which is torch's hardswish x·relu6(x+3)/6 (HardSwish
// itself is an operator from opset 14 on).
func (HardSwish) EmitONNX(e *nn.ONNX, x string) string {
	return e.G.Add("Mul", []string{x, HardSigmoid{}.EmitONNX(e, x)})
}

// EmitONNX emits HardSigmoid with torch's constants: max(0, min(1, x/6 + 1/2)).
func (HardSigmoid) EmitONNX(e *nn.ONNX, x string) string {
	return e.G.Add("HardSigmoid", []string{x}, onnx.Float("alpha", 1.0/6), onnx.Float("beta", 0.5))
}

// EmitONNX emits a GlobalAveragePool node (adaptive average pooling to 1×1).
func (GlobalAvgPool) EmitONNX(e *nn.ONNX, x string) string {
	return e.G.Add("GlobalAveragePool", []string{x})
}

// EmitONNX emits the gate and the product.
func (s *squeezeExcite) EmitONNX(e *nn.ONNX, x string) string {
	return e.G.Add("Mul", []string{x, s.Gate.EmitONNX(e, x)})
}

// EmitONNX emits the block: body, squeeze-and-excite, shortcut sum.
func (b *mb3Block) EmitONNX(e *nn.ONNX, x string) string {
	y := b.Body.EmitONNX(e, x)
	if b.SE != nil {
		y = b.SE.EmitONNX(e, y)
	}
	if !b.Residual {
		return y
	}
	skip := x
	if b.Shortcut != nil {
		skip = b.Shortcut.EmitONNX(e, x)
	}
	return e.G.Add("Add", []string{y, skip})
}

// EmitONNX emits the six feature maps.
func (m *SqueezeNet) EmitONNX(e *nn.ONNX, x string) []string {
	tap := m.Base.EmitRange(e, x, 0, squeezeNetTap)
	cur := m.Base.EmitRange(e, tap, squeezeNetTap, m.Base.Len())
	return emitExtras(e, cur, []string{tap}, m.Extras)
}

// EmitONNX emits the fire module: squeeze, both expansions, concatenated on channels.
func (f *fire) EmitONNX(e *nn.ONNX, x string) string {
	sq := nn.ReLU{}.EmitONNX(e, f.Squeeze.EmitONNX(e, x))
	a := nn.ReLU{}.EmitONNX(e, f.Expand1x1.EmitONNX(e, sq))
	b := nn.ReLU{}.EmitONNX(e, f.Expand3x3.EmitONNX(e, sq))
	return e.G.Add("Concat", []string{a, b}, onnx.Int("axis", 1))
}

// EmitONNX emits the six feature maps.
func (m *VGG16) EmitONNX(e *nn.ONNX, x string) []string {
	return emitVGG(e, x, m.Base, m.AddOn, m.Extras)
}

// EmitONNX emits the seven feature maps.
func (m *VGG16x512) EmitONNX(e *nn.ONNX, x string) []string {
	return emitVGG(e, x, m.Base, m.AddOn, m.Extras)
}

func emitVGG(e *nn.ONNX, x string, base *nn.Seq, addOn nn.Layer, extras []*nn.Seq) []string {
	conv43 := base.EmitRange(e, x, 0, vgg16Tap)
	feats := []string{e.Emit(addOn, conv43)}
	cur := base.EmitRange(e, conv43, vgg16Tap, base.Len())
	feats = append(feats, cur)
	return emitExtras(e, cur, feats, extras)
}

// EmitONNX emits x / max(‖x‖₂ over channels, 1e-12) · weight, as Forward computes it.
func (l *l2Norm) EmitONNX(e *nn.ONNX, x string) string {
	sq := e.G.Add("Mul", []string{x, x})
	sum := e.G.Add("ReduceSum", []string{sq, e.G.Int64s("axes", 1)}, onnx.Int("keepdims", 1))
	norm := e.G.Add("Sqrt", []string{sum})
	norm = e.G.Add("Max", []string{norm, e.Scalar(1e-12)})
	unit := e.G.Add("Div", []string{x, norm})
	w := e.G.Add("Reshape", []string{e.Param(l.Weight), e.G.Int64s("shape", 1, -1, 1, 1)})
	return e.G.Add("Mul", []string{unit, w})
}

// EmitONNX emits the feature maps.
func (m *ResNet50) EmitONNX(e *nn.ONNX, x string) []string {
	h := m.Conv1.EmitONNX(e, x)
	h = m.BN1.EmitONNX(e, h)
	h = nn.ReLU{}.EmitONNX(e, h)
	h = nn.MaxPool2d{Kernel: 3, Stride: 2, Padding: 1}.EmitONNX(e, h)
	for _, layer := range m.Layers {
		for _, b := range layer {
			h = b.EmitONNX(e, h)
		}
	}
	return emitExtras(e, h, []string{h}, m.Extras)
}

// EmitONNX emits the bottleneck block.
func (b *bottleneck) EmitONNX(e *nn.ONNX, x string) string {
	h := nn.ReLU{}.EmitONNX(e, b.BN1.EmitONNX(e, b.Conv1.EmitONNX(e, x)))
	h = nn.ReLU{}.EmitONNX(e, b.BN2.EmitONNX(e, b.Conv2.EmitONNX(e, h)))
	h = b.BN3.EmitONNX(e, b.Conv3.EmitONNX(e, h))
	identity := x
	if b.Downsample != nil {
		identity = b.Downsample.EmitONNX(e, x)
	}
	return nn.ReLU{}.EmitONNX(e, e.G.Add("Add", []string{h, identity}))
}

// EmitONNX emits the four feature maps.
func (m *SSD7) EmitONNX(e *nn.ONNX, x string) []string {
	cur := m.Base.EmitONNX(e, x)
	return emitExtras(e, cur, []string{cur}, m.Extras)
}

// EmitONNX emits a BatchNormalization node with the layer's eps.
func (b *epsBatchNorm) EmitONNX(e *nn.ONNX, x string) string {
	return b.EmitBatchNorm(e, x, b.eps)
}

// EmitONNX emits an Elu node (alpha 1, torch's default).
func (ELU) EmitONNX(e *nn.ONNX, x string) string {
	return e.G.Add("Elu", []string{x}, onnx.Float("alpha", 1))
}
