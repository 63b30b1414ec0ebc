package backbone

import (
	"fmt"

	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/nn"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
)

// MobileNetV2Config holds the options of the mobilenet_v2 backbone.
type MobileNetV2Config struct {
	WidthMult    float64 `hcl:"width_mult,optional" doc:"channel multiplier of the base net; the first feature map has 6·int(96·width_mult) channels (576 at 1), the second 1280 (int(1280·width_mult) above 1, which the reference cannot run)"`
	UseBatchNorm bool    `hcl:"use_batch_norm,optional" doc:"batch norm after the base net's convolutions (as in the reference, the first convolution and the extra layers keep theirs, and without it the first feature map is taken after layer 14's stride-2 depthwise convolution, halving its size)"`
	Activation   string  `hcl:"activation,optional" doc:"activation of the base net: \"relu6\" or \"relu\" (the reference's onnx_compatible; the extra layers keep nn.ReLU6, as in the reference)"`
	Extras       string  `hcl:"extras,optional" doc:"extra layers: \"ssd_lite\" (mb2-ssd-lite: four inverted residual blocks of stride 2 giving 512, 256, 256 and 64 channels)"`
}

// Validate checks the options.
func (c *MobileNetV2Config) Validate() error {
	if !(c.WidthMult > 0 && c.WidthMult <= 4) {
		return fmt.Errorf("width_mult must be in (0, 4], got %v", c.WidthMult)
	}
	if int(16*c.WidthMult) < 1 {
		return fmt.Errorf("width_mult %v leaves the 16-channel stage of the base net without channels (at least 0.0625)", c.WidthMult)
	}
	if c.Activation != "relu6" && c.Activation != "relu" {
		return fmt.Errorf("activation must be \"relu6\" or \"relu\", got %q", c.Activation)
	}
	if c.Extras != "ssd_lite" {
		return fmt.Errorf("extras must be \"ssd_lite\", got %q", c.Extras)
	}
	return nil
}

func init() {
	Registry.Register(registry.Spec{
		Name: "mobilenet_v2",
		Summary: "MobileNetV2 base net (feature maps inside layer 14, after its expansion: 576 channels, " +
			"and after the last layer: 1280) with the mb2-ssd-lite inverted-residual extra layers",
		Config: func() any {
			return &MobileNetV2Config{WidthMult: 1, UseBatchNorm: true, Activation: "relu6", Extras: "ssd_lite"}
		},
	}, func(cfg any, root *gnn.Path) (Backbone, error) {
		return NewMobileNetV2(root, *registry.As[MobileNetV2Config](cfg))
	})
}

// mobileNetV2Plan is the base net's inverted-residual settings: expansion t, output
// channels c (before width_mult), repeats n, stride s of the first repeat.
var mobileNetV2Plan = [][4]int{
	{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
	{6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1},
}

// mobileNetV2Extras are the ssd_lite extra blocks: output channels and expansion ratio,
// each of stride 2.
var mobileNetV2Extras = []struct {
	out    int
	expand float64
}{{512, 0.2}, {256, 0.25}, {256, 0.5}, {64, 0.25}}

const (
	// mobileNetV2TapLayer is the base-net block whose expansion output is the first
	// feature map (the reference's GraphPath(14, "conv", 3)).
	mobileNetV2TapLayer = 14
	// mobileNetV2TapSub is the number of that block's conv elements run before tapping
	// (conv[:3]): the 1x1 expansion, its batch norm and its activation (without batch
	// norm: the expansion, its activation and the depthwise convolution).
	mobileNetV2TapSub = 3
	// mobileNetV2LastChannel is the width of the base net's final 1x1 convolution.
	mobileNetV2LastChannel = 1280
)

// MobileNetV2 is the feature extractor of the reference's mb2-ssd-lite.
//
// base_net.0 is conv3x3(stride 2, no bias)+BN+activation, base_net.1…17 are inverted
// residual blocks (variables under base_net.i.conv.j), base_net.18 is conv1x1(no
// bias)+BN+activation. Feature maps: the output of base_net[14].conv[0:3] (the expanded
// input of layer 14's depthwise convolution, 6·int(96·width_mult) channels, 19×19 for a
// 300×300 input), the end of the base net (1280 channels, 10×10) and each of the four
// extra blocks (512, 256, 256, 64 channels; 5, 3, 2, 1). Layer 14 has stride 2, so it
// has no residual connection to skip when it is run in two parts.
//
// Without batch norm the block's layers shift (conv, activation, depthwise conv, …) and,
// as in the reference, which counts layers, the first map becomes the activated output
// of layer 14's depthwise convolution: same channels, but 10×10 for a 300×300 input.
type MobileNetV2 struct {
	Base     *nn.Seq
	Extras   []*invertedResidual
	channels []int
	halvings int // stride-2 layers between the input and the last feature map
}

// NewMobileNetV2 creates the backbone's variables under root.Sub("base_net") and
// root.Sub("extras"). Base-net convolutions are initialised as the reference's
// MobileNetV2 does (N(0, 2/(K·K·Out)), batch norms 1 and 0); the extra layers keep
// torch's defaults.
func NewMobileNetV2(root *gnn.Path, c MobileNetV2Config) (*MobileNetV2, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var act nn.Layer = nn.ReLU6{}
	if c.Activation == "relu" {
		act = nn.ReLU{}
	}
	baseOpts := irOptions{batchNorm: c.UseBatchNorm, act: act, init: mobileNetV2Init}
	scale := func(ch int) int { return int(float64(ch) * c.WidthMult) }

	m := &MobileNetV2{Base: nn.NewSeq(root.Sub("base_net")), halvings: 1}
	in := scale(32)
	// The reference builds the first layer with batch norm whatever use_batch_norm says.
	first := m.Base.Sub()
	stem := nn.ConvSpec{In: 3, Out: in, Kernel: 3, Stride: 2, Padding: 1, NoBias: true}
	first.Add(newConv2dInit(first.Next(), stem, mobileNetV2Init(stem))).BatchNorm(in).Add(act)
	for _, st := range mobileNetV2Plan {
		t, out, n, s := st[0], scale(st[1]), st[2], st[3]
		for i := 0; i < n; i++ {
			stride := 1
			if i == 0 {
				stride = s
			}
			b, err := newInvertedResidual(m.Base.Next(), in, out, stride, float64(t), baseOpts)
			if err != nil {
				return nil, fmt.Errorf("mobilenet_v2: base_net.%d: %w", m.Base.Len(), err)
			}
			if m.Base.Len() == mobileNetV2TapLayer {
				if b.Residual {
					return nil, fmt.Errorf("mobilenet_v2: base_net.%d has a residual connection and cannot be tapped", m.Base.Len())
				}
				m.channels = append(m.channels, b.Hidden)
			}
			m.Base.Add(b)
			if stride == 2 {
				m.halvings++
			}
			in = out
		}
	}
	last := mobileNetV2LastChannel
	if c.WidthMult > 1 {
		last = scale(mobileNetV2LastChannel)
	}
	head := m.Base.Sub()
	proj := nn.ConvSpec{In: in, Out: last, Kernel: 1, NoBias: true}
	head.Add(newConv2dInit(head.Next(), proj, mobileNetV2Init(proj)))
	if c.UseBatchNorm {
		head.BatchNorm(last)
	}
	head.Add(act)
	m.channels = append(m.channels, last)

	extras := root.Sub("extras")
	in = last
	for i, e := range mobileNetV2Extras {
		b, err := newInvertedResidual(extras.Sub(fmt.Sprint(i)), in, e.out, 2, e.expand, irOptions{batchNorm: true, act: nn.ReLU6{}})
		if err != nil {
			return nil, fmt.Errorf("mobilenet_v2: extras.%d: %w", i, err)
		}
		m.Extras = append(m.Extras, b)
		m.halvings++
		m.channels = append(m.channels, e.out)
		in = e.out
	}
	return m, nil
}

// Channels returns the channels of each feature map.
func (m *MobileNetV2) Channels() []int { return append([]int(nil), m.channels...) }

// Modules returns "base_net" and "extras".
func (m *MobileNetV2) Modules() []string { return []string{"base_net", "extras"} }

// Forward returns the six feature maps; the caller owns them. Every intermediate tensor
// is freed before it returns.
func (m *MobileNetV2) Forward(x *ts.Tensor, train bool) (feats []*ts.Tensor, err error) {
	if err := CheckInput(x); err != nil {
		return nil, err
	}
	if train {
		if err := checkTrainBatch(x, m.halvings); err != nil {
			return nil, fmt.Errorf("mobilenet_v2: %w", err)
		}
	}
	s := torch.NewScope()
	defer s.Close()
	defer recoverForward(&feats, &err)
	tapped := m.Base.Layers[mobileNetV2TapLayer].(*invertedResidual).Conv
	pre := s.T(m.Base.ForwardRange(x, train, 0, mobileNetV2TapLayer))
	expanded := tapped.ForwardRange(pre, train, 0, mobileNetV2TapSub)
	feats = append(make([]*ts.Tensor, 0, len(m.channels)), expanded)
	// The reference continues from the tapped tensor itself, so an in-place activation
	// right after the tap (without batch norm: the depthwise convolution's ReLU) also
	// changes the feature map it hands to the heads.
	next := mobileNetV2TapSub
	for ; next < tapped.Len(); next++ {
		a, ok := tapped.Layers[next].(nn.InPlacer)
		if !ok {
			break
		}
		a.ForwardInPlace(expanded)
	}
	rest := s.T(tapped.ForwardRange(expanded, train, next, tapped.Len()))
	cur := m.Base.ForwardRange(rest, train, mobileNetV2TapLayer+1, m.Base.Len())
	feats = append(feats, cur)
	for _, e := range m.Extras {
		cur = e.Forward(cur, train)
		feats = append(feats, cur)
	}
	return feats, nil
}

// checkTrainBatch returns an error when a batch norm in training mode would see a
// single value per channel, which libtorch rejects with a less telling message. halvings is
// how many stride-2 3x3 convolutions (padding 1) the smallest map has gone through.
func checkTrainBatch(x *ts.Tensor, halvings int) error {
	size := x.MustSize()
	h, w := size[2], size[3]
	for i := 0; i < halvings; i++ {
		h, w = (h-1)/2+1, (w-1)/2+1
	}
	if size[0]*h*w < 2 {
		return fmt.Errorf("training needs a batch of at least 2 for a %dx%d input (the last feature map is %dx%d and batch norm needs more than one value per channel)", size[2], size[3], h, w)
	}
	return nil
}
