package backbone

import (
	"fmt"

	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/nn"
	"github.com/ssdrunner/ssdrunner/registry"
)

// mb3Variant is one of the reference's MobileNetV3 feature extractors.
type mb3Variant struct {
	name, title string
	blocks      []mb3BlockSpec
	// last is the width of the final 1x1 convolution of the base net.
	last int
	// firstTap is the base-net index before which the first feature map is taken (the
	// reference's first source_layer_index): the output of the block at firstTap-1.
	firstTap int
}

// mb3Large and mb3Small are the reference's MobileNetV3_Large and MobileNetV3_Small
// bottleneck tables, with the taps of its mb3-large-ssd-lite (15, 21) and
// mb3-small-ssd-lite (11, 17).
var (
	mb3Large = mb3Variant{
		name:  "mobilenet_v3_large",
		title: "Large",
		blocks: []mb3BlockSpec{
			{3, 16, 16, false, false, 1}, {3, 64, 24, false, false, 2}, {3, 72, 24, false, false, 1},
			{5, 72, 40, false, true, 2}, {5, 120, 40, false, true, 1}, {5, 120, 40, false, true, 1},
			{3, 240, 80, true, false, 2}, {3, 200, 80, true, false, 1}, {3, 184, 80, true, false, 1},
			{3, 184, 80, true, false, 1}, {3, 480, 112, true, true, 1}, {3, 672, 112, true, true, 1},
			{5, 672, 160, true, true, 1}, {5, 672, 160, true, true, 2}, {5, 960, 160, true, true, 1},
		},
		last:     960,
		firstTap: 15,
	}
	mb3Small = mb3Variant{
		name:  "mobilenet_v3_small",
		title: "Small",
		blocks: []mb3BlockSpec{
			{3, 16, 16, false, true, 2}, {3, 72, 24, false, false, 2}, {3, 88, 24, false, false, 1},
			{5, 96, 40, true, true, 2}, {5, 240, 40, true, true, 1}, {5, 240, 40, true, true, 1},
			{5, 120, 48, true, true, 1}, {5, 144, 48, true, true, 1}, {5, 288, 96, true, true, 2},
			{5, 576, 96, true, true, 1}, {5, 576, 96, true, true, 1},
		},
		last:     576,
		firstTap: 11,
	}
)

// mb3Extras are the extra blocks of both mb3 SSD-Lites: expansion width and output
// channels of a kernel-3, stride-2 Block with hard-swish and no squeeze-and-excite.
var mb3Extras = [][2]int{{256, 512}, {128, 256}, {128, 256}, {64, 64}}

// mb3Stem is the width of the base net's first convolution.
const mb3Stem = 16

func init() {
	for _, v := range []mb3Variant{mb3Large, mb3Small} {
		Registry.Register(registry.Spec{
			Name: v.name,
			Summary: fmt.Sprintf("MobileNetV3-%s base net of the reference's mb3-%s-ssd-lite (feature maps after %d bottleneck blocks: "+
				"%d channels, and after the last layer: %d) with its Block extra layers (512, 256, 256, 64 channels)",
				v.title, v.name[len("mobilenet_v3_"):], v.firstTap-3, v.blocks[v.firstTap-4].out, v.last),
		}, func(_ any, root *gnn.Path) (Backbone, error) {
			return NewMobileNetV3(root, v.name)
		})
	}
}

// MobileNetV3 is the feature extractor of the reference's mb3-large-ssd-lite and
// mb3-small-ssd-lite (vision/nn/mobilenetv3.py's features, vision/ssd/mobilenetv3_ssd_lite.py).
//
// base_net.0 is conv3x3(stride 2, 16 channels, no bias), base_net.1 its batch norm,
// base_net.2 a hard-swish, base_net.3… the bottleneck Blocks (variables under
// base_net.i.conv1, .bn1, …, .se.se.j, .shortcut.j), then a 1x1 convolution to 960
// (large) or 576 (small) channels, its batch norm and a hard-swish. Feature maps: the
// base net up to the reference's first source index (large: after 12 blocks, 112
// channels; small: after 8 blocks, 48 channels; 19×19 for a 300×300 input), the end of
// the base net (10×10) and the four extra Blocks (512, 256, 256, 64 channels; 5, 3, 2, 1).
//
// The reference's width_mult, use_batch_norm and onnx_compatible arguments do not change
// its base net (width_mult only resizes the first headers, which then no longer fit), so
// the backbone has no options.
type MobileNetV3 struct {
	Base     *nn.Seq
	Extras   []*mb3Block
	firstTap int
	channels []int
}

// NewMobileNetV3 creates the backbone named "mobilenet_v3_large" or "mobilenet_v3_small"
// with its variables under root.Sub("base_net") and root.Sub("extras"). Base-net
// convolutions are initialised as the reference's MobileNetV3 does (kaiming normal, fan
// out: N(0, 2/(K·K·Out)); batch norms 1 and 0); the extra Blocks keep torch's defaults.
func NewMobileNetV3(root *gnn.Path, name string) (*MobileNetV3, error) {
	var v mb3Variant
	switch name {
	case mb3Large.name:
		v = mb3Large
	case mb3Small.name:
		v = mb3Small
	default:
		return nil, fmt.Errorf("mobilenet_v3: unknown variant %q (want %q or %q)", name, mb3Large.name, mb3Small.name)
	}
	init := mobileNetV2Init // the same N(0, 2/(K·K·Out))
	m := &MobileNetV3{Base: nn.NewSeq(root.Sub("base_net")), firstTap: v.firstTap}
	addConv(m.Base, nn.ConvSpec{In: 3, Out: mb3Stem, Kernel: 3, Stride: 2, Padding: 1, NoBias: true}, init)
	m.Base.BatchNorm(mb3Stem).Add(HardSwish{})
	in := mb3Stem
	for _, b := range v.blocks {
		m.Base.Add(newMb3Block(m.Base.Next(), in, b, init))
		in = b.out
		if m.Base.Len() == v.firstTap {
			m.channels = append(m.channels, in)
		}
	}
	addConv(m.Base, nn.ConvSpec{In: in, Out: v.last, Kernel: 1, NoBias: true}, init)
	m.Base.BatchNorm(v.last).Add(HardSwish{})
	m.channels = append(m.channels, v.last)

	extras := root.Sub("extras")
	in = v.last
	for i, e := range mb3Extras {
		spec := mb3BlockSpec{kernel: 3, expand: e[0], out: e[1], hswish: true, stride: 2}
		m.Extras = append(m.Extras, newMb3Block(extras.Sub(fmt.Sprint(i)), in, spec, nil))
		m.channels = append(m.channels, e[1])
		in = e[1]
	}
	return m, nil
}

// Channels returns the channels of each feature map.
func (m *MobileNetV3) Channels() []int { return append([]int(nil), m.channels...) }

// Modules returns "base_net" and "extras".
func (m *MobileNetV3) Modules() []string { return []string{"base_net", "extras"} }

// Forward returns the six feature maps; the caller owns them. Every intermediate tensor
// is freed before it returns. Training needs a batch of at least 2: the
// squeeze-and-excite batch norms see one value per channel and image.
func (m *MobileNetV3) Forward(x *ts.Tensor, train bool) (feats []*ts.Tensor, err error) {
	if err := CheckInput(x); err != nil {
		return nil, err
	}
	if b := x.MustSize()[0]; train && b < 2 {
		return nil, fmt.Errorf("mobilenet_v3: training needs a batch of at least 2, got %d (the squeeze-and-excite batch norms see one value per channel and image)", b)
	}
	defer recoverForward(&feats, &err)
	cur := m.Base.ForwardRange(x, train, 0, m.firstTap)
	feats = append(make([]*ts.Tensor, 0, len(m.channels)), cur)
	cur = m.Base.ForwardRange(cur, train, m.firstTap, m.Base.Len())
	feats = append(feats, cur)
	for _, e := range m.Extras {
		cur = e.Forward(cur, train)
		feats = append(feats, cur)
	}
	return feats, nil
}
