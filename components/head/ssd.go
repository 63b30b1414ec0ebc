package head

import (
	"fmt"

	gnn "github.com/sugarme/gotch/nn"

	"github.com/ssdrunner/ssdrunner/components/nn"
	"github.com/ssdrunner/ssdrunner/registry"
)

func init() {
	Registry.Register(registry.Spec{
		Name:    "ssd",
		Summary: "a 3x3 convolution (padding 1) per feature map for class logits and one for box offsets (mb1-ssd, vgg16-ssd)",
	}, func(_ any, root *gnn.Path, s Spec) (Head, error) {
		return NewSSD(root, s)
	})
}

// NewSSD creates the plain SSD head: per feature map i, classification_headers.i and
// regression_headers.i are 3x3 convolutions with padding 1 and bias.
func NewSSD(root *gnn.Path, s Spec) (*PerMap, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	h := &PerMap{Spec: s}
	cls, reg := root.Sub("classification_headers"), root.Sub("regression_headers")
	for i, ch := range s.Channels {
		b := s.BoxesPerLocation[i]
		name := fmt.Sprint(i)
		h.Classification = append(h.Classification,
			nn.NewConv2d(cls.Sub(name), nn.ConvSpec{In: ch, Out: b * s.NumClasses, Kernel: 3, Padding: 1}))
		h.Regression = append(h.Regression,
			nn.NewConv2d(reg.Sub(name), nn.ConvSpec{In: ch, Out: b * 4, Kernel: 3, Padding: 1}))
	}
	return h, nil
}
