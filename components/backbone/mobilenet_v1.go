package backbone

import (
	"fmt"

	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/nn"
	"github.com/ssdrunner/ssdrunner/registry"
)

// MobileNetV1Config holds the options of the mobilenet_v1 backbone.
type MobileNetV1Config struct {
	WidthMult float64 `hcl:"width_mult,optional" doc:"channel multiplier of the base net (only 1.0 loads the reference's mb1-ssd checkpoints)"`
	Extras    string  `hcl:"extras,optional" doc:"extra layers: \"ssd\" (mb1-ssd: 1x1 and 3x3 convolutions) or \"ssd_lite\" (mb1-ssd-lite: 1x1 and separable 3x3 convolutions)"`
	// SourceLayers are the base-net indexes after which feature maps are taken, the
	// reference's source_layer_indexes; the last must be 14 (the extras read it).
	SourceLayers []int `hcl:"source_layers,optional" doc:"base-net indexes after which feature maps are taken, increasing, ending at 14 (default [12, 14], the reference's; e.g. [6, 12, 14] adds the stride-8 map of base_net[:6], 38x38 at 300, for small objects)"`
	// Stem chooses base_net.1 and the stride of base_net.2; see MobileNetV1.
	Stem string `hcl:"stem,optional" doc:"base_net.1: \"separable\" (the reference's depthwise-separable block at half the input's resolution) or \"fused\" (a dense 3x3 convolution of stride 2 in its place, base_net.2's depthwise convolution then of stride 1: the same feature maps, the backbone about a quarter faster on a CPU and quicker to learn (the quickstart's); the reference's checkpoints load only into \"separable\")"`
	// TopDown adds an FPN-style top-down path over the base net's feature maps; see
	// MobileNetV1.
	TopDown bool `hcl:"top_down,optional" doc:"FPN-style top-down path (not the reference's): each base-net feature map but the last gets the next one, through a 1x1 convolution and batch norm to its channels, upsampled (nearest) to its size and added, so a fine map for small objects also carries the deeper map's features (variables top_down.N, the batch norms' weights starting at 0 so that a fresh path adds nothing; the channels of every map stay the same)"`
}

// Stems of mobilenet_v1.
const (
	StemSeparable = "separable"
	StemFused     = "fused"
)

// Validate checks the options.
func (c *MobileNetV1Config) Validate() error {
	if !(c.WidthMult > 0 && c.WidthMult <= 4) {
		return fmt.Errorf("width_mult must be in (0, 4], got %v", c.WidthMult)
	}
	if c.Extras != "ssd" && c.Extras != "ssd_lite" {
		return fmt.Errorf("extras must be \"ssd\" or \"ssd_lite\", got %q", c.Extras)
	}
	if c.Stem != StemSeparable && c.Stem != StemFused {
		return fmt.Errorf("stem must be %q or %q, got %q", StemSeparable, StemFused, c.Stem)
	}
	taps := c.taps()
	for i, t := range taps {
		if t < 2 || t > len(mobileNetV1Plan)+1 || (i > 0 && t <= taps[i-1]) {
			return fmt.Errorf("source_layers must be increasing base-net indexes in [2, %d], got %v", len(mobileNetV1Plan)+1, taps)
		}
	}
	if taps[len(taps)-1] != len(mobileNetV1Plan)+1 {
		return fmt.Errorf("source_layers must end at %d (the extra layers read the whole base net), got %v", len(mobileNetV1Plan)+1, taps)
	}
	if c.TopDown && len(taps) < 2 {
		return fmt.Errorf("top_down needs at least two source_layers (it adds each base-net map to the one before it), got %v", taps)
	}
	return nil
}

// taps returns the source layers, the reference's when none are configured.
func (c *MobileNetV1Config) taps() []int {
	if len(c.SourceLayers) == 0 {
		return mobileNetV1Taps
	}
	return c.SourceLayers
}

func init() {
	Registry.Register(registry.Spec{
		Name:    "mobilenet_v1",
		Summary: "MobileNetV1 base net (feature maps after layers 12 and 14: 512 and 1024 channels) with the mb1-ssd or mb1-ssd-lite extra layers",
		Config:  func() any { return &MobileNetV1Config{WidthMult: 1, Extras: "ssd", Stem: StemSeparable} },
	}, func(cfg any, root *gnn.Path) (Backbone, error) {
		return NewMobileNetV1(root, *registry.As[MobileNetV1Config](cfg))
	})
}

// mobileNetV1Plan lists the base net after its first layer: (output channels, stride)
// of each depthwise-separable block.
var mobileNetV1Plan = [][2]int{
	{64, 1}, {128, 2}, {128, 1}, {256, 2}, {256, 1}, {512, 2},
	{512, 1}, {512, 1}, {512, 1}, {512, 1}, {512, 1}, {1024, 2}, {1024, 1},
}

// mobileNetV1Taps are the base-net indexes after which feature maps are taken (the
// reference's source_layer_indexes): the outputs of base_net[11] and base_net[13].
var mobileNetV1Taps = []int{12, 14}

// MobileNetV1 is the MobileNetV1 feature extractor of the reference's mb1-ssd and
// mb1-ssd-lite: base_net.0 is conv3x3(stride 2)+BN+ReLU, base_net.1…13 are depthwise
// 3x3 conv+BN+ReLU then pointwise 1x1 conv+BN+ReLU (convolutions without bias), followed
// by four extra stages that halve the spatial size. Feature maps: base_net[:12] (512
// channels), base_net[12:14] (1024), then each extra stage (512, 256, 256, 256); for a
// 300×300 input their sizes are 19, 10, 5, 3, 2, 1. Other source layers (the config's
// source_layers) split the base net elsewhere: [6, 12, 14] adds base_net[:6] (256
// channels, 38×38 at 300) in front.
//
// The "fused" stem (not the reference's) makes base_net.1 one dense 3x3 convolution of
// stride 2 (+BN+ReLU; 32·width_mult channels in, 64·width_mult out) and base_net.2's depthwise
// convolution one of stride 1: the separable block that ran at half the input's
// resolution (the costliest layer on a CPU: little arithmetic over the largest
// activations, forward and backward) becomes a convolution whose output is already at a
// quarter, and every later layer and feature map keeps its size, channels and index.
//
// The top_down option (not the reference's; FPN's top-down pathway, Lin et al. 2017, with
// the heads' own 3x3 convolutions as the smoothing) replaces each base-net feature map but
// the last, from the deepest down, by itself plus the next (already replaced) one passed
// through top_down.i (1x1 convolution to its channels, batch norm) and upsampled to its
// size by nearest neighbour. The last base-net map and the extras are unchanged; a
// stride-8 map (source_layers [6, 12, 14]) then sees the stride-16 features too. The
// batch norms' weights start at 0 (zero-gamma), so a fresh path adds nothing and training
// starts from the plain model's maps (on the quickstart at seed 0: mAP 0.471, against
// 0.414 with weights at 1 and 0.498 without the path).
type MobileNetV1 struct {
	Base   *nn.Seq
	Extras []*nn.Seq
	// TopDown[i] maps feature map i+1 to feature map i's channels (1x1 convolution
	// without bias, batch norm); empty without the top_down option.
	TopDown  []*nn.Seq
	taps     []int
	channels []int
}

// NewMobileNetV1 creates the backbone's variables under root.Sub("base_net") and
// root.Sub("extras").
func NewMobileNetV1(root *gnn.Path, c MobileNetV1Config) (*MobileNetV1, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	scale := func(ch int) int { return max(1, int(float64(ch)*c.WidthMult)) }
	base := root.Sub("base_net")
	m := &MobileNetV1{Base: nn.NewSeq(base), taps: append([]int(nil), c.taps()...)}
	in := scale(32)
	m.Base.Sub().Conv(nn.ConvSpec{In: 3, Out: in, Kernel: 3, Stride: 2, Padding: 1, NoBias: true}).BatchNorm(in).ReLU()
	var tapChannels []int
	for i, b := range mobileNetV1Plan {
		out, stride := scale(b[0]), b[1]
		if c.Stem == StemFused && i == 1 {
			stride = 1 // base_net.1 has halved the resolution already
		}
		if c.Stem == StemFused && i == 0 {
			// base_net.1: one dense 3x3 convolution that also halves the resolution
			m.Base.Sub().Conv(nn.ConvSpec{In: in, Out: out, Kernel: 3, Stride: 2, Padding: 1, NoBias: true}).BatchNorm(out).ReLU()
		} else {
			m.Base.Sub().
				Conv(nn.ConvSpec{In: in, Out: in, Kernel: 3, Stride: stride, Padding: 1, Groups: in, NoBias: true}).BatchNorm(in).ReLU().
				Conv(nn.ConvSpec{In: in, Out: out, Kernel: 1, NoBias: true}).BatchNorm(out).ReLU()
		}
		in = out
		for _, t := range m.taps {
			if i+2 == t {
				tapChannels = append(tapChannels, out)
			}
		}
	}
	m.channels = tapChannels
	if c.TopDown {
		td := root.Sub("top_down")
		for i := 0; i+1 < len(tapChannels); i++ {
			s := nn.NewSeq(td.Sub(fmt.Sprint(i)))
			s.Conv(nn.ConvSpec{In: tapChannels[i+1], Out: tapChannels[i], Kernel: 1, NoBias: true}).
				Add(nn.NewBatchNorm2dGamma(s.Next(), tapChannels[i], 0))
			m.TopDown = append(m.TopDown, s)
		}
	}
	extras := root.Sub("extras")
	for i, st := range [][2]int{{256, 512}, {128, 256}, {128, 256}, {128, 256}} {
		mid, out := st[0], st[1]
		s := nn.NewSeq(extras.Sub(fmt.Sprint(i)))
		s.Conv(nn.ConvSpec{In: in, Out: mid, Kernel: 1}).ReLU()
		if c.Extras == "ssd" {
			s.Conv(nn.ConvSpec{In: mid, Out: out, Kernel: 3, Stride: 2, Padding: 1}).ReLU()
		} else {
			// Separable: depthwise 3x3 (with bias), ReLU, pointwise 1x1; no batch norm
			// and no activation after it, as in the reference's mb1-ssd-lite.
			s.Sub().
				Conv(nn.ConvSpec{In: mid, Out: mid, Kernel: 3, Stride: 2, Padding: 1, Groups: mid}).ReLU().
				Conv(nn.ConvSpec{In: mid, Out: out, Kernel: 1})
		}
		m.Extras = append(m.Extras, s)
		m.channels = append(m.channels, out)
		in = out
	}
	return m, nil
}

// Channels returns the channels of each feature map.
func (m *MobileNetV1) Channels() []int { return append([]int(nil), m.channels...) }

// Modules returns "base_net" and "extras", and "top_down" with the top_down option.
func (m *MobileNetV1) Modules() []string {
	if len(m.TopDown) > 0 {
		return []string{"base_net", "top_down", "extras"}
	}
	return []string{"base_net", "extras"}
}

// Forward returns the feature maps (six with the default source layers); the caller owns
// them.
func (m *MobileNetV1) Forward(x *ts.Tensor, train bool) (feats []*ts.Tensor, err error) {
	if err := CheckInput(x); err != nil {
		return nil, err
	}
	defer recoverForward(&feats, &err)
	cur, from := x, 0
	for _, t := range m.taps {
		cur = m.Base.ForwardRange(cur, train, from, t)
		feats = append(feats, cur)
		from = t
	}
	for i := len(m.TopDown) - 1; i >= 0; i-- {
		feats[i] = topDown(m.TopDown[i], feats[i], feats[i+1], train)
	}
	for _, e := range m.Extras {
		cur = e.Forward(cur, train)
		feats = append(feats, cur)
	}
	return feats, nil
}

// topDown returns fine + upsample(lateral(coarse)) to fine's size. fine is dropped once
// the sum exists; coarse stays the caller's.
func topDown(lateral *nn.Seq, fine, coarse *ts.Tensor, train bool) *ts.Tensor {
	l := lateral.Forward(coarse, train)
	defer l.MustDrop()
	size := fine.MustSize()
	up := nn.Must("upsample_nearest2d")(l.UpsampleNearest2d(size[2:], nil, nil, false))
	defer up.MustDrop()
	sum := nn.Must("add")(fine.Add(up, false))
	fine.MustDrop()
	return sum
}
