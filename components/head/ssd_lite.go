package head

import (
	"fmt"

	gnn "github.com/sugarme/gotch/nn"

	"github.com/ssdrunner/ssdrunner/components/nn"
	"github.com/ssdrunner/ssdrunner/registry"
)

// SSDLiteConfig holds the options of the ssd_lite head.
type SSDLiteConfig struct {
	BatchNorm  bool   `hcl:"batch_norm,optional" doc:"batch norm after each depthwise convolution (true: mb2-ssd-lite; false: mb1-ssd-lite)"`
	Activation string `hcl:"activation,optional" doc:"activation after each depthwise convolution: \"relu6\" (mb2-ssd-lite) or \"relu\" (mb1-ssd-lite, or the reference's onnx_compatible)"`
}

// Validate checks the options.
func (c *SSDLiteConfig) Validate() error {
	if c.Activation != "relu6" && c.Activation != "relu" {
		return fmt.Errorf("activation must be \"relu6\" or \"relu\", got %q", c.Activation)
	}
	return nil
}

func init() {
	Registry.Register(registry.Spec{
		Name: "ssd_lite",
		Summary: "depthwise-separable headers (depthwise 3x3 conv [+ batch norm] + activation + pointwise 1x1 conv), " +
			"the last feature map's a plain 1x1 conv (mb1-ssd-lite, mb2-ssd-lite)",
		Config: func() any { return &SSDLiteConfig{BatchNorm: true, Activation: "relu6"} },
	}, func(cfg any, root *gnn.Path, s Spec) (Head, error) {
		return NewSSDLite(root, s, *registry.As[SSDLiteConfig](cfg))
	})
}

// NewSSDLite creates the SSDLite head. For each feature map but the last, a header is a
// sequence: depthwise 3x3 convolution (padding 1, bias), batch norm if c.BatchNorm, the
// activation, pointwise 1x1 convolution (bias); names follow the sequence indexes
// (classification_headers.i.0 / .1 / .3 with batch norm, .0 / .2 without). The last
// feature map's headers are single 1x1 convolutions (classification_headers.N-1.weight).
func NewSSDLite(root *gnn.Path, s Spec, c SSDLiteConfig) (*PerMap, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	h := &PerMap{Spec: s}
	cls, reg := root.Sub("classification_headers"), root.Sub("regression_headers")
	last := len(s.Channels) - 1
	build := func(p *gnn.Path, in, out int, i int) nn.Layer {
		if i == last {
			return nn.NewConv2d(p, nn.ConvSpec{In: in, Out: out, Kernel: 1})
		}
		q := nn.NewSeq(p).Conv(nn.ConvSpec{In: in, Out: in, Kernel: 3, Padding: 1, Groups: in})
		if c.BatchNorm {
			q.BatchNorm(in)
		}
		if c.Activation == "relu6" {
			q.ReLU6()
		} else {
			q.ReLU()
		}
		return q.Conv(nn.ConvSpec{In: in, Out: out, Kernel: 1})
	}
	for i, ch := range s.Channels {
		b := s.BoxesPerLocation[i]
		name := fmt.Sprint(i)
		h.Classification = append(h.Classification, build(cls.Sub(name), ch, b*s.NumClasses, i))
		h.Regression = append(h.Regression, build(reg.Sub(name), ch, b*4, i))
	}
	return h, nil
}
