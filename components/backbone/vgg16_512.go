package backbone

import (
	"fmt"

	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/nn"
	"github.com/ssdrunner/ssdrunner/registry"
)

func init() {
	Registry.Register(registry.Spec{
		Name: "vgg16_512",
		Summary: "SSD512's VGG16: the vgg16 base net (normalised conv4_3: 512 channels, fc7: 1024) with five extra layers " +
			"(512, 256, 256, 256, 256; 64, 32, 16, 8, 4, 2, 1 at 512)",
		Config: func() any { return &VGG16Config{Norm: "l2"} },
	}, func(cfg any, root *gnn.Path) (Backbone, error) {
		return NewVGG16x512(root, *registry.As[VGG16Config](cfg))
	})
}

// vgg512Extra5 is the fifth extra stage of SSD512: 1x1 to 128 channels, then a 4x4
// convolution (stride 1, padding 1) to 256 channels.
var vgg512Extra5 = struct{ mid, out, kernel int }{128, 256, 4}

// VGG16x512 is the feature extractor of SSD512 (the SSD paper's Caffe model, as the Keras
// project's ssd512 builds it): the vgg16 backbone's base net and conv4_3 add-on, and its
// extra stages where the third and fourth also halve the size (3x3, stride 2, padding 1)
// instead of shrinking it by 2 without padding, followed by a fifth stage: extras.4.0 (1x1
// to 128), a ReLU, extras.4.2 (4x4, stride 1, padding 1, to 256) and a ReLU. Feature maps:
// conv4_3 after the add-on (512 channels), fc7 (1024), the five extra stages (512, 256,
// 256, 256, 256); 64, 32, 16, 8, 4, 2, 1 for a 512×512 input (38, 19, 10, 5, 3, 2, 1 for
// 300×300). Variable names and shapes are those of vgg16 plus extras.4.*. For inputs whose
// sides are not multiples of 16, pools 1, 2 and 4 round down as in vgg16, where Keras'
// "same" pooling rounds up (no difference at 512×512).
type VGG16x512 struct {
	Base   *nn.Seq
	AddOn  nn.Layer
	Extras []*nn.Seq
}

// NewVGG16x512 creates the backbone's variables under root.Sub("base_net"),
// root.Sub("source_layer_add_ons") and root.Sub("extras"): NewVGG16's, with the last two
// of its extra stages switched to stride 2 and padding 1 (same variables), plus the fifth
// stage, all initialised as torch does by default.
func NewVGG16x512(root *gnn.Path, c VGG16Config) (*VGG16x512, error) {
	v, err := NewVGG16(root, c)
	if err != nil {
		return nil, err
	}
	m := &VGG16x512{Base: v.Base, AddOn: v.AddOn, Extras: v.Extras}
	for i, e := range vgg16Extras {
		if e.down {
			continue
		}
		conv, ok := m.Extras[i].Layers[2].(*nn.Conv2d)
		if !ok || conv.Spec.Kernel != 3 || conv.Spec.Stride != 1 {
			return nil, fmt.Errorf("vgg16_512: extras.%d.2 is not vgg16's unpadded 3x3 convolution", i)
		}
		conv.Spec.Stride, conv.Spec.Padding = 2, 1
	}
	in := vgg16Extras[len(vgg16Extras)-1].out
	e := vgg512Extra5
	s := nn.NewSeq(root.Sub("extras").Sub(fmt.Sprint(len(m.Extras))))
	s.Conv(nn.ConvSpec{In: in, Out: e.mid, Kernel: 1}).ReLU().
		Conv(nn.ConvSpec{In: e.mid, Out: e.out, Kernel: e.kernel, Padding: 1}).ReLU()
	m.Extras = append(m.Extras, s)
	return m, nil
}

// Channels returns 512, 1024, 512, 256, 256, 256, 256.
func (m *VGG16x512) Channels() []int {
	out := []int{512, 1024}
	for _, e := range vgg16Extras {
		out = append(out, e.out)
	}
	return append(out, vgg512Extra5.out)
}

// Modules returns "base_net", "source_layer_add_ons" and "extras".
func (m *VGG16x512) Modules() []string {
	return []string{"base_net", "source_layer_add_ons", "extras"}
}

// Forward returns the seven feature maps; the caller owns them. Every intermediate tensor
// is freed before it returns.
func (m *VGG16x512) Forward(x *ts.Tensor, train bool) (feats []*ts.Tensor, err error) {
	if err := CheckInput(x); err != nil {
		return nil, err
	}
	size := x.MustSize()
	if vgg512LastSize(size[2]) < 1 || vgg512LastSize(size[3]) < 1 {
		return nil, fmt.Errorf("vgg16_512: a %dx%d input is too small: the extra layers need at least 268x268", size[2], size[3])
	}
	return vggFeatures(m.Base, m.AddOn, m.Extras, x, train)
}

// vgg512LastSize returns the side of the last feature map for an input side n (below 1:
// too small).
func vgg512LastSize(n int64) int64 {
	if n < 2 {
		return 0
	}
	n /= 2          // pool1
	n /= 2          // pool2
	n = (n + 1) / 2 // pool3, ceil mode
	n /= 2          // pool4; pool5, fc6 and fc7 keep the size
	for range vgg16Extras {
		n = (n-1)/2 + 1 // 3x3, stride 2, padding 1
	}
	return n + 2 - int64(vgg512Extra5.kernel) + 1
}
