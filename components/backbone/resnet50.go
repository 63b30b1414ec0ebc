package backbone

import (
	"fmt"
	"math"

	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/nn"
	"github.com/ssdrunner/ssdrunner/registry"
)

// ResNet50Config holds the options of the resnet50 backbone.
type ResNet50Config struct {
	ExtrasInit string `hcl:"extras_init,optional" doc:"weight init of the extra layers' convolutions: \"xavier_uniform\" (NVIDIA's SSD300 v1.1, which also xavier-initialises its heads) or \"torch\" (gnn.Conv2d's default, kaiming_uniform with a=sqrt(5)); batch norms start at weight 1, bias 0 either way"`
}

// Validate checks the options.
func (c *ResNet50Config) Validate() error {
	if c.ExtrasInit != "xavier_uniform" && c.ExtrasInit != "torch" {
		return fmt.Errorf("extras_init must be \"xavier_uniform\" or \"torch\", got %q", c.ExtrasInit)
	}
	return nil
}

func init() {
	Registry.Register(registry.Spec{
		Name: "resnet50",
		Summary: "ResNet-50 through layer3 with layer3's stride set to 1 (feature map: 1024 channels, 38x38 at 300) and " +
			"NVIDIA SSD300 v1.1's conv+BN+nn.ReLU extra layers (512, 512, 256, 256, 256); torchvision's parameter names under base_net",
		Config: func() any { return &ResNet50Config{ExtrasInit: "xavier_uniform"} },
	}, func(cfg any, root *gnn.Path) (Backbone, error) {
		return NewResNet50(root, *registry.As[ResNet50Config](cfg))
	})
}

// resNet50Stages are torchvision's resnet50 layer1…layer3: bottleneck width, blocks and
// the stride of the first block. layer3's stride is 1 here (torchvision: 2), as in
// NVIDIA's SSD300, so that its output keeps layer2's resolution. layer4 is not built.
var resNet50Stages = []struct{ width, blocks, stride int }{
	{64, 3, 1}, {128, 4, 2}, {256, 6, 1},
}

// resNet50Extras are NVIDIA SSD300's additional blocks: a 1x1 convolution to mid
// channels, a 3x3 convolution to out channels (stride 2 and padding 1, or stride 1
// without padding), each without bias and followed by a batch norm and a ReLU.
var resNet50Extras = []struct {
	mid, out int
	down     bool
}{{256, 512, true}, {256, 512, true}, {128, 256, true}, {128, 256, false}, {128, 256, false}}

const (
	// bottleneckExpansion is the ratio of a bottleneck's output channels to its width.
	bottleneckExpansion = 4
	// resNet50MinInput is the smallest input side that reaches the last extra layer
	// (which needs a 3x3 input): 257.
	resNet50MinInput = 257
)

// ResNet50 is the feature extractor of NVIDIA's SSD300 v1.1 (DeepLearningExamples
// PyTorch/Detection/SSD): torchvision's ResNet-50 cut after layer3, whose first block
// has stride 1 in its 3x3 convolution and its downsample, followed by five extra blocks.
//
// Variables carry torchvision's resnet50 names under base_net (base_net.conv1.weight,
// base_net.bn1.*, base_net.layer1.0.conv1.weight, base_net.layer1.0.downsample.0.weight,
// …), so that an ImageNet resnet50 state_dict restricted to conv1, bn1 and layer1…3
// loads with the prefix "base_net."; the extra blocks are extras.i.{0,1,3,4} (NVIDIA's
// additional_blocks.i.*). Feature maps: layer3's output (1024 channels, 38×38 for a
// 300×300 input) and each extra block (512, 512, 256, 256, 256 channels; 19, 10, 5, 3,
// 1). Inputs must be at least 257×257.
type ResNet50 struct {
	Conv1  *nn.Conv2d
	BN1    *nn.BatchNorm2d
	Layers [][]*bottleneck // layer1…layer3
	Extras []*nn.Seq
}

// NewResNet50 creates the backbone's variables under root.Sub("base_net") and
// root.Sub("extras"). Base-net convolutions are initialised as torchvision's ResNet does
// (kaiming_normal_, fan_out: N(0, 2/(K·K·Out))), batch norms at weight 1, bias 0.
func NewResNet50(root *gnn.Path, c ResNet50Config) (*ResNet50, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	base := root.Sub("base_net")
	stem := nn.ConvSpec{In: 3, Out: 64, Kernel: 7, Stride: 2, Padding: 3, NoBias: true}
	m := &ResNet50{
		Conv1: newConv2dInit(base.Sub("conv1"), stem, kaimingFanOut(stem)),
		BN1:   nn.NewBatchNorm2d(base.Sub("bn1"), 64),
	}
	in := 64
	for i, st := range resNet50Stages {
		layer := base.Sub(fmt.Sprintf("layer%d", i+1))
		var blocks []*bottleneck
		for j := 0; j < st.blocks; j++ {
			stride := 1
			if j == 0 {
				stride = st.stride
			}
			b := newBottleneck(layer.Sub(fmt.Sprint(j)), in, st.width, stride)
			blocks = append(blocks, b)
			in = st.width * bottleneckExpansion
		}
		m.Layers = append(m.Layers, blocks)
	}

	extras := root.Sub("extras")
	for i, e := range resNet50Extras {
		s := nn.NewSeq(extras.Sub(fmt.Sprint(i)))
		down := nn.ConvSpec{In: e.mid, Out: e.out, Kernel: 3, NoBias: true}
		if e.down {
			down.Stride, down.Padding = 2, 1
		}
		for _, spec := range []nn.ConvSpec{{In: in, Out: e.mid, Kernel: 1, NoBias: true}, down} {
			if c.ExtrasInit == "xavier_uniform" {
				s.Add(newConv2dInit(s.Next(), spec, xavierUniform(spec)))
			} else {
				s.Conv(spec)
			}
			s.BatchNorm(spec.Out).ReLU()
		}
		m.Extras = append(m.Extras, s)
		in = e.out
	}
	return m, nil
}

// kaimingFanOut is torchvision's ResNet convolution init: N(0, 2/fan_out), fan_out =
// K·K·Out.
func kaimingFanOut(s nn.ConvSpec) gnn.Init {
	return normalInit{std: math.Sqrt(2 / float64(s.Kernel*s.Kernel*s.Out))}
}

// xavierUniform is torch's xavier_uniform_ for a convolution weight: U(±sqrt(6/(fan_in +
// fan_out))), fan_in = In/Groups·K·K, fan_out = Out·K·K.
func xavierUniform(s nn.ConvSpec) gnn.Init {
	k2 := s.Kernel * s.Kernel
	b := math.Sqrt(6 / float64(s.In/one(s.Groups)*k2+s.Out*k2))
	return redraw{nn.Uniform{Lo: -b, Up: b}}
}

// redraw is an nn.Init whose Set also works on a variable that requires grad (a leaf,
// which libtorch refuses to modify in place while recording): it draws a fresh tensor
// and copies it into a detached alias, as normalInit does.
type redraw struct{ gnn.Init }

// Set overwrites t with fresh values.
func (r redraw) Set(t *ts.Tensor) {
	v := r.InitTensor(t.MustSize(), t.MustDevice())
	defer v.MustDrop()
	alias := t.MustDetach(false)
	defer alias.MustDrop()
	alias.Copy_(v)
}

// Channels returns 1024, 512, 512, 256, 256, 256.
func (m *ResNet50) Channels() []int {
	out := []int{resNet50Stages[len(resNet50Stages)-1].width * bottleneckExpansion}
	for _, e := range resNet50Extras {
		out = append(out, e.out)
	}
	return out
}

// Modules returns "base_net" and "extras".
func (m *ResNet50) Modules() []string { return []string{"base_net", "extras"} }

// Forward returns the six feature maps; the caller owns them. Every intermediate tensor
// is freed before it returns.
func (m *ResNet50) Forward(x *ts.Tensor, train bool) (feats []*ts.Tensor, err error) {
	if err := CheckInput(x); err != nil {
		return nil, err
	}
	size := x.MustSize()
	if size[2] < resNet50MinInput || size[3] < resNet50MinInput {
		return nil, fmt.Errorf("resnet50: a %dx%d input is too small: the extra layers need at least %dx%d",
			size[2], size[3], resNet50MinInput, resNet50MinInput)
	}
	if train {
		last := resNet50LastSize(size[2]) * resNet50LastSize(size[3])
		if size[0]*last < 2 {
			return nil, fmt.Errorf("resnet50: training needs a batch of at least 2 for a %dx%d input (the last feature map has one value per channel and batch norm needs more)", size[2], size[3])
		}
	}
	defer recoverForward(&feats, &err)
	cur := m.forwardBase(x, train)
	feats = append(make([]*ts.Tensor, 0, 1+len(m.Extras)), cur)
	for _, e := range m.Extras {
		cur = e.Forward(cur, train)
		feats = append(feats, cur)
	}
	return feats, nil
}

// forwardBase runs conv1 … layer3; the caller owns the result, x is left alone.
func (m *ResNet50) forwardBase(x *ts.Tensor, train bool) *ts.Tensor {
	h := m.Conv1.Forward(x, train)
	h = forwardDrop(h, m.BN1, train)
	nn.ReLU{}.ForwardInPlace(h)
	h = forwardDrop(h, nn.MaxPool2d{Kernel: 3, Stride: 2, Padding: 1}, train)
	for _, layer := range m.Layers {
		for _, b := range layer {
			h = forwardDrop(h, b, train)
		}
	}
	return h
}

// forwardDrop runs l on x and frees x; the caller owns the result.
func forwardDrop(x *ts.Tensor, l nn.Layer, train bool) *ts.Tensor {
	y := l.Forward(x, train)
	x.MustDrop()
	return y
}

// resNet50LastSize returns the side of the last feature map for an input side n ≥ 257.
func resNet50LastSize(n int64) int64 {
	// A 7x7 or 3x3 convolution or pooling of stride 2 with "same" padding rounds up.
	half := func(n int64) int64 { return (n-1)/2 + 1 }
	n = half(half(half(n))) // conv1, max pool, layer2
	for _, e := range resNet50Extras {
		if e.down {
			n = half(n)
		} else {
			n -= 2
		}
	}
	return n
}

// bottleneck is torchvision's Bottleneck (ResNet v1.5: the stride sits on the 3x3
// convolution): conv1 (1x1 to width), bn1, ReLU, conv2 (3x3, stride), bn2, ReLU, conv3
// (1x1 to 4·width), bn3, plus the input or its downsample (1x1 convolution with the
// stride and a batch norm, under "downsample.0" and "downsample.1") when the shape
// changes, then a ReLU. Convolutions have no bias.
type bottleneck struct {
	Conv1, Conv2, Conv3 *nn.Conv2d
	BN1, BN2, BN3       *nn.BatchNorm2d
	Downsample          *nn.Seq // nil for an identity shortcut
}

func newBottleneck(p *gnn.Path, in, width, stride int) *bottleneck {
	out := width * bottleneckExpansion
	conv := func(name string, s nn.ConvSpec) *nn.Conv2d {
		s.NoBias = true
		return newConv2dInit(p.Sub(name), s, kaimingFanOut(s))
	}
	b := &bottleneck{
		Conv1: conv("conv1", nn.ConvSpec{In: in, Out: width, Kernel: 1}),
		BN1:   nn.NewBatchNorm2d(p.Sub("bn1"), width),
		Conv2: conv("conv2", nn.ConvSpec{In: width, Out: width, Kernel: 3, Stride: stride, Padding: 1}),
		BN2:   nn.NewBatchNorm2d(p.Sub("bn2"), width),
		Conv3: conv("conv3", nn.ConvSpec{In: width, Out: out, Kernel: 1}),
		BN3:   nn.NewBatchNorm2d(p.Sub("bn3"), out),
	}
	if stride != 1 || in != out {
		b.Downsample = nn.NewSeq(p.Sub("downsample"))
		spec := nn.ConvSpec{In: in, Out: out, Kernel: 1, Stride: stride, NoBias: true}
		b.Downsample.Add(newConv2dInit(b.Downsample.Next(), spec, kaimingFanOut(spec))).BatchNorm(out)
	}
	return b
}

// Forward runs the block; the caller owns the result, x is left alone.
func (b *bottleneck) Forward(x *ts.Tensor, train bool) *ts.Tensor {
	h := b.Conv1.Forward(x, train)
	h = forwardDrop(h, b.BN1, train)
	nn.ReLU{}.ForwardInPlace(h)
	h = forwardDrop(h, b.Conv2, train)
	h = forwardDrop(h, b.BN2, train)
	nn.ReLU{}.ForwardInPlace(h)
	h = forwardDrop(h, b.Conv3, train)
	h = forwardDrop(h, b.BN3, train)
	// h is a batch norm's output, which its backward does not need: the sum and the
	// final ReLU may overwrite it, as torchvision's `out += identity; relu(out)` does.
	if b.Downsample != nil {
		identity := b.Downsample.Forward(x, train)
		nn.MustInPlace("add_", h, func(t *ts.Tensor) error { return t.Add_(identity) })
		identity.MustDrop()
	} else {
		nn.MustInPlace("add_", h, func(t *ts.Tensor) error { return t.Add_(x) })
	}
	nn.ReLU{}.ForwardInPlace(h)
	return h
}

var _ nn.Layer = (*bottleneck)(nil)
