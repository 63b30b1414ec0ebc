package backbone

import (
	"fmt"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/nn"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
)

// VGG16Config holds the options of the vgg16 backbone.
type VGG16Config struct {
	Norm string `hcl:"norm,optional" doc:"normalisation of the conv4_3 feature map: \"batch_norm\" (the reference's vgg16-ssd: nn.BatchNorm2d(512)) or \"l2\" (the SSD paper's channel-wise L2 norm with a learned per-channel scale starting at 20, variable source_layer_add_ons.0.weight)"`
}

// Validate checks the options.
func (c *VGG16Config) Validate() error {
	if c.Norm != "batch_norm" && c.Norm != "l2" {
		return fmt.Errorf("norm must be \"batch_norm\" or \"l2\", got %q", c.Norm)
	}
	return nil
}

func init() {
	Registry.Register(registry.Spec{
		Name: "vgg16",
		Summary: "VGG16 base net with reduced fc6/fc7 (dilated 3x3 and 1x1 convolutions; feature maps after " +
			"a normalised conv4_3: 512 channels, and fc7: 1024) with the vgg16-ssd extra layers",
		Config: func() any { return &VGG16Config{Norm: "batch_norm"} },
	}, func(cfg any, root *gnn.Path) (Backbone, error) {
		return NewVGG16(root, *registry.As[VGG16Config](cfg))
	})
}

// vgg16Plan is the base net up to conv5_3: output channels of a 3x3 convolution
// (padding 1) followed by a ReLU, or a 2x2 max pooling of stride 2: vggPool floors,
// vggCeilPool rounds up (pool3, so that 75 becomes 38 for a 300×300 input).
var vgg16Plan = []int{64, 64, vggPool, 128, 128, vggPool, 256, 256, 256, vggCeilPool,
	512, 512, 512, vggPool, 512, 512, 512}

const (
	vggPool     = -1
	vggCeilPool = -2
	// vgg16Tap is the base-net index where the first feature map is taken: after
	// conv4_3's ReLU, before pool4 (the reference's source layer 23).
	vgg16Tap = 23
)

// vgg16Extras are the extra stages: a 1x1 convolution to mid channels, a ReLU, a 3x3
// convolution to out channels (stride 2 and padding 1, or stride 1 without padding)
// and a ReLU.
var vgg16Extras = []struct {
	mid, out int
	down     bool
}{{256, 512, true}, {128, 256, true}, {128, 256, false}, {128, 256, false}}

// VGG16 is the feature extractor of the reference's vgg16-ssd.
//
// base_net.0…34 is VGG16 through conv5_3 (convolutions with bias, each followed by a
// ReLU at the next index; pools at 4, 9, 16 (ceil mode) and 23), then pool5 (3x3,
// stride 1, padding 1) at 30, fc6 as a 3x3 convolution to 1024 channels with dilation
// and padding 6 at 31, a ReLU, fc7 as a 1x1 convolution at 33 and a ReLU. Feature maps:
// conv4_3 after the source-layer add-on (512 channels, 38×38 for a 300×300 input), fc7
// (1024, 19×19) and the four extra stages (512, 256, 256, 256; 10, 5, 3, 1). The
// two 3x3 extra convolutions without padding need an input of at least 268×268.
type VGG16 struct {
	Base   *nn.Seq
	AddOn  nn.Layer // batch norm or L2 norm of conv4_3, under source_layer_add_ons.0
	Extras []*nn.Seq
}

// NewVGG16 creates the backbone's variables under root.Sub("base_net"),
// root.Sub("source_layer_add_ons") and root.Sub("extras"), initialised as torch does by
// default (the reference applies no init of its own).
func NewVGG16(root *gnn.Path, c VGG16Config) (*VGG16, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m := &VGG16{Base: nn.NewSeq(root.Sub("base_net"))}
	in := 3
	for _, v := range vgg16Plan {
		switch v {
		case vggPool, vggCeilPool:
			m.Base.MaxPool(nn.MaxPool2d{Kernel: 2, Stride: 2, CeilMode: v == vggCeilPool})
		default:
			m.Base.Conv(nn.ConvSpec{In: in, Out: v, Kernel: 3, Padding: 1}).ReLU()
			in = v
		}
	}
	m.Base.MaxPool(nn.MaxPool2d{Kernel: 3, Stride: 1, Padding: 1}).
		Conv(nn.ConvSpec{In: 512, Out: 1024, Kernel: 3, Padding: 6, Dilation: 6}).ReLU().
		Conv(nn.ConvSpec{In: 1024, Out: 1024, Kernel: 1}).ReLU()

	addOn := root.Sub("source_layer_add_ons").Sub("0")
	if c.Norm == "l2" {
		m.AddOn = newL2Norm(addOn, 512, 20)
	} else {
		m.AddOn = nn.NewBatchNorm2d(addOn, 512)
	}

	extras := root.Sub("extras")
	in = 1024
	for i, e := range vgg16Extras {
		s := nn.NewSeq(extras.Sub(fmt.Sprint(i)))
		down := nn.ConvSpec{In: e.mid, Out: e.out, Kernel: 3}
		if e.down {
			down.Stride, down.Padding = 2, 1
		}
		s.Conv(nn.ConvSpec{In: in, Out: e.mid, Kernel: 1}).ReLU().Conv(down).ReLU()
		m.Extras = append(m.Extras, s)
		in = e.out
	}
	return m, nil
}

// Channels returns the channels of each feature map: 512, 1024, 512, 256, 256, 256.
func (m *VGG16) Channels() []int {
	out := []int{512, 1024}
	for _, e := range vgg16Extras {
		out = append(out, e.out)
	}
	return out
}

// Modules returns "base_net", "source_layer_add_ons" and "extras".
func (m *VGG16) Modules() []string {
	return []string{"base_net", "source_layer_add_ons", "extras"}
}

// Forward returns the six feature maps; the caller owns them. Every intermediate tensor
// is freed before it returns.
func (m *VGG16) Forward(x *ts.Tensor, train bool) (feats []*ts.Tensor, err error) {
	if err := CheckInput(x); err != nil {
		return nil, err
	}
	size := x.MustSize()
	if err := vgg16CheckSize(size[2], size[3]); err != nil {
		return nil, err
	}
	return vggFeatures(m.Base, m.AddOn, m.Extras, x, train)
}

// vggFeatures runs a VGG16 base net and its extras (vgg16 and vgg16_512 share it): the
// normalised conv4_3 map, fc7, then each extra layer's output.
func vggFeatures(base *nn.Seq, addOn nn.Layer, extras []*nn.Seq, x *ts.Tensor, train bool) (feats []*ts.Tensor, err error) {
	s := torch.NewScope()
	defer s.Close()
	defer recoverForward(&feats, &err)
	conv43 := s.T(base.ForwardRange(x, train, 0, vgg16Tap))
	feats = append(make([]*ts.Tensor, 0, 2+len(extras)), addOn.Forward(conv43, train))
	cur := base.ForwardRange(conv43, train, vgg16Tap, base.Len())
	feats = append(feats, cur)
	for _, e := range extras {
		cur = e.Forward(cur, train)
		feats = append(feats, cur)
	}
	return feats, nil
}

// vgg16CheckSize returns an error unless an h×w input goes through every layer: the
// last extra stage's unpadded 3x3 convolution needs a 3×3 input.
func vgg16CheckSize(h, w int64) error {
	last := func(n int64) int64 {
		n /= 2           // pool1
		n /= 2           // pool2
		n = (n + 1) / 2  // pool3, ceil mode
		n /= 2           // pool4; pool5, fc6 and fc7 keep the size
		n = (n-1)/2 + 1  // extras.0
		n = (n-1)/2 + 1  // extras.1
		return n - 2 - 2 // extras.2 and extras.3
	}
	if h < 2 || w < 2 || last(h) < 1 || last(w) < 1 {
		return fmt.Errorf("vgg16: a %dx%d input is too small: the extra layers need at least 268x268", h, w)
	}
	return nil
}

// l2Norm is the SSD paper's normalisation of conv4_3: each location's channel vector is
// divided by its L2 norm (at least 1e-12, as torch's F.normalize) and multiplied by a
// learned per-channel scale, the variable "weight" (initially scale).
type l2Norm struct {
	Weight *ts.Tensor
}

func newL2Norm(p *gnn.Path, channels int, scale float64) *l2Norm {
	return &l2Norm{Weight: p.MustNewVar("weight", []int64{int64(channels)}, floatConst(scale))}
}

// floatConst is a gotch nn.Init filling float32 tensors with one value. gotch's
// NewConstInit makes a float64 tensor for any value but 0 and 1, which would turn the
// L2 norm's output, and every layer after it, into float64.
type floatConst float64

// InitTensor returns a new float32 tensor of the given shape filled with the value.
func (c floatConst) InitTensor(dims []int64, device gotch.Device) *ts.Tensor {
	v := ts.FloatScalar(float64(c))
	defer v.MustDrop()
	return ts.MustFull(dims, v, gotch.Float, device)
}

// Set refills t with the value.
func (c floatConst) Set(t *ts.Tensor) { reinit(t, c) }

// Forward normalises x [B,C,H,W]; the caller owns the result.
func (l *l2Norm) Forward(x *ts.Tensor, _ bool) *ts.Tensor {
	s := torch.NewScope()
	defer s.Close()
	two, eps := ts.FloatScalar(2), ts.FloatScalar(1e-12)
	defer two.MustDrop()
	defer eps.MustDrop()
	norm := s.T(nn.Must("norm")(x.NormScalaroptDim(two, []int64{1}, true, false)))
	norm = s.T(nn.Must("clamp_min")(norm.ClampMin(eps, false)))
	unit := s.T(nn.Must("div")(x.Div(norm, false)))
	w := s.T(nn.Must("view")(l.Weight.View([]int64{1, -1, 1, 1}, false)))
	return nn.Must("mul")(unit.Mul(w, false))
}
