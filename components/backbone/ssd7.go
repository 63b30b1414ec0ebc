package backbone

import (
	"fmt"
	"math"

	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/nn"
	"github.com/ssdrunner/ssdrunner/registry"
)

// SSD7Config holds the options of the ssd7 backbone.
type SSD7Config struct {
	BatchNorm string `hcl:"batch_norm,optional" doc:"batch-norm constants: \"keras\" (the Keras SSD7's BatchNormalization(momentum=0.99): eps 1e-3, running statistics updated with torch momentum 0.01) or \"torch\" (eps 1e-5, momentum 0.1; running statistics settle in fewer steps)"`
}

// Validate checks the options.
func (c *SSD7Config) Validate() error {
	if c.BatchNorm != "keras" && c.BatchNorm != "torch" {
		return fmt.Errorf("batch_norm must be \"keras\" or \"torch\", got %q", c.BatchNorm)
	}
	return nil
}

func init() {
	Registry.Register(registry.Spec{
		Name: "ssd7",
		Summary: "the Keras SSD project's small SSD7: seven 5x5/3x3 conv+BN+ELU layers with 2x2 max pooling between them; " +
			"feature maps after layers 4…7 (64, 48, 48, 32 channels; 37, 18, 9, 4 at 300)",
		Config: func() any { return &SSD7Config{BatchNorm: "keras"} },
	}, func(cfg any, root *gnn.Path) (Backbone, error) {
		return NewSSD7(root, *registry.As[SSD7Config](cfg))
	})
}

// ssd7Channels are the output channels of conv1…conv7; conv1 has a 5x5 kernel, the
// others 3x3, all with "same" padding and stride 1.
var ssd7Channels = []int{32, 48, 64, 64, 48, 48, 32}

// ssd7BaseLayers is how many conv layers make the base net: the first feature map is
// conv4's output, each later one that of an extra stage (conv5, conv6, conv7).
const ssd7BaseLayers = 4

// ssd7MinInput is the smallest input side the six 2x2 poolings leave a pixel of (2⁶).
const ssd7MinInput = 64

// SSD7 is a PyTorch-style re-implementation of the Keras SSD project's SSD7
// (models/keras_ssd7.py, pierluigiferrari/ssd_keras): a small network meant to be
// trained from scratch on small datasets. Each conv layer is a convolution with bias,
// a batch norm and an ELU (alpha 1); a 2x2 max pooling of stride 2 (floor) follows
// every layer but the last. The four predictor layers read conv4…conv7.
//
// Variables: base_net is a sequence of conv1, pool, conv2, pool, conv3, pool, conv4,
// each conv layer a nested sequence (base_net.0.0.weight is conv1's kernel,
// base_net.0.1.* its batch norm; conv2 is base_net.2, conv3 base_net.4, conv4
// base_net.6); extras.0…2 are pool then conv5…conv7 (extras.i.1 the convolution,
// extras.i.2 the batch norm). Feature maps: conv4 (64 channels), conv5 (48), conv6 (48)
// and conv7 (32); 37, 18, 9 and 4 for a 300×300 input. Parameters: 143,952 (143,280 in
// the convolutions, 672 batch-norm weights and biases) besides 672 running statistics;
// Keras counts both, 144,624.
//
// Convolutions are initialised as Keras' he_normal, but from an untruncated normal
// N(0, 2/fan_in) (torch's kaiming_normal_, fan_in), with zero biases.
type SSD7 struct {
	Base   *nn.Seq
	Extras []*nn.Seq
}

// NewSSD7 creates the backbone's variables under root.Sub("base_net") and
// root.Sub("extras").
func NewSSD7(root *gnn.Path, c SSD7Config) (*SSD7, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	eps, momentum := 1e-3, 0.01
	if c.BatchNorm == "torch" {
		eps, momentum = nn.BatchNormEps, nn.BatchNormMomentum
	}
	layer := func(s *nn.Seq, in, out, kernel int) {
		spec := nn.ConvSpec{In: in, Out: out, Kernel: kernel, Padding: kernel / 2}
		conv := newConv2dInit(s.Next(), spec, normalInit{std: math.Sqrt(2 / float64(in*kernel*kernel))})
		redraw{nn.Uniform{Lo: 0, Up: 0}}.Set(conv.Bias)
		s.Add(conv)
		s.Add(&epsBatchNorm{BatchNorm2d: nn.NewBatchNorm2d(s.Next(), out), eps: eps, momentum: momentum})
		s.Add(ELU{})
	}
	pool := nn.MaxPool2d{Kernel: 2, Stride: 2}
	m := &SSD7{Base: nn.NewSeq(root.Sub("base_net"))}
	in := 3
	for i, out := range ssd7Channels {
		var s *nn.Seq
		switch {
		case i < ssd7BaseLayers:
			if i > 0 {
				m.Base.MaxPool(pool)
			}
			s = m.Base.Sub()
		default:
			s = nn.NewSeq(root.Sub("extras").Sub(fmt.Sprint(len(m.Extras))))
			s.MaxPool(pool)
			m.Extras = append(m.Extras, s)
		}
		kernel := 3
		if i == 0 {
			kernel = 5
		}
		layer(s, in, out, kernel)
		in = out
	}
	return m, nil
}

// Channels returns 64, 48, 48, 32.
func (m *SSD7) Channels() []int {
	return append([]int(nil), ssd7Channels[ssd7BaseLayers-1:]...)
}

// Modules returns "base_net" and "extras".
func (m *SSD7) Modules() []string { return []string{"base_net", "extras"} }

// Forward returns the four feature maps; the caller owns them. Every intermediate tensor
// is freed before it returns.
func (m *SSD7) Forward(x *ts.Tensor, train bool) (feats []*ts.Tensor, err error) {
	if err := CheckInput(x); err != nil {
		return nil, err
	}
	size := x.MustSize()
	if size[2] < ssd7MinInput || size[3] < ssd7MinInput {
		return nil, fmt.Errorf("ssd7: a %dx%d input is too small: the six poolings need at least %dx%d", size[2], size[3], ssd7MinInput, ssd7MinInput)
	}
	if train && size[0]*(size[2]>>6)*(size[3]>>6) < 2 {
		return nil, fmt.Errorf("ssd7: training needs a batch of at least 2 for a %dx%d input (the last feature map has one value per channel and batch norm needs more)", size[2], size[3])
	}
	defer recoverForward(&feats, &err)
	cur := m.Base.Forward(x, train)
	feats = append(make([]*ts.Tensor, 0, 1+len(m.Extras)), cur)
	for _, e := range m.Extras {
		cur = e.Forward(cur, train)
		feats = append(feats, cur)
	}
	return feats, nil
}

// epsBatchNorm is a BatchNorm2d with its own eps and momentum (torch's meaning: the
// weight of the batch statistics in the running ones).
type epsBatchNorm struct {
	*nn.BatchNorm2d
	eps, momentum float64
}

// Forward normalises as BatchNorm2d.Forward does, with the layer's constants.
func (b *epsBatchNorm) Forward(x *ts.Tensor, train bool) *ts.Tensor {
	return b.ForwardWith(x, train, b.momentum, b.eps)
}

// ELU is the exponential linear unit with alpha 1: x for x > 0, exp(x) - 1 otherwise.
type ELU struct{}

// Forward applies the activation.
func (ELU) Forward(x *ts.Tensor, _ bool) *ts.Tensor { return nn.Must("elu")(x.Elu(false)) }
