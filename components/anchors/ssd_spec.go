package anchors

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
)

// SpecBlock describes the priors of one feature map in the PyTorch SSD project's terms
// (sizes in pixels of the input image).
type SpecBlock struct {
	FeatureMapSize int       `hcl:"feature_map_size" doc:"side of the feature map, in cells"`
	Shrinkage      float64   `hcl:"shrinkage" doc:"image pixels per cell: centres are (i+0.5)*shrinkage/image_size"`
	MinSize        float64   `hcl:"min_size" doc:"side of the small square box, in pixels"`
	MaxSize        float64   `hcl:"max_size" doc:"the large square box has side sqrt(min_size*max_size) pixels"`
	AspectRatios   []float64 `hcl:"aspect_ratios,optional" doc:"each ratio r adds (min_size*sqrt(r), min_size/sqrt(r)) and its transpose"`
}

// SSDSpecConfig configures the "ssd_spec" generator.
type SSDSpecConfig struct {
	Preset    string      `hcl:"preset,optional" doc:"mobilenet | vgg | squeezenet: the reference's spec lists (used when no spec block is given; spec blocks win)"`
	ImageSize int         `hcl:"image_size,optional" doc:"input image side in pixels (presets need 300)"`
	Clamp     bool        `hcl:"clamp,optional" doc:"clamp every prior coordinate to [0,1], as the reference does"`
	Specs     []SpecBlock `hcl:"spec,block" doc:"one block per feature map, in head order"`
}

// presetImageSize is the input size the reference's spec lists are written for.
const presetImageSize = 300

// ssdSpecPresets are the spec lists of the reference's vision/ssd/config modules.
// "mobilenet" is also what its MobileNetV2/V3 SSD-Lite and FPN models use.
var ssdSpecPresets = map[string][]SpecBlock{
	"mobilenet": {
		{19, 16, 60, 105, []float64{2, 3}},
		{10, 32, 105, 150, []float64{2, 3}},
		{5, 64, 150, 195, []float64{2, 3}},
		{3, 100, 195, 240, []float64{2, 3}},
		{2, 150, 240, 285, []float64{2, 3}},
		{1, 300, 285, 330, []float64{2, 3}},
	},
	"squeezenet": {
		{17, 16, 60, 105, []float64{2, 3}},
		{10, 32, 105, 150, []float64{2, 3}},
		{5, 64, 150, 195, []float64{2, 3}},
		{3, 100, 195, 240, []float64{2, 3}},
		{2, 150, 240, 285, []float64{2, 3}},
		{1, 300, 285, 330, []float64{2, 3}},
	},
	"vgg": {
		{38, 8, 30, 60, []float64{2}},
		{19, 16, 60, 111, []float64{2, 3}},
		{10, 32, 111, 162, []float64{2, 3}},
		{5, 64, 162, 213, []float64{2, 3}},
		{3, 100, 213, 264, []float64{2}},
		{1, 300, 264, 315, []float64{2}},
	},
}

func init() {
	Registry.Register(registry.Spec{
		Name:    "ssd_spec",
		Summary: "PyTorch SSD project priors: per feature map shrinkage and min/max box sizes in pixels",
		Config:  func() any { return &SSDSpecConfig{ImageSize: presetImageSize, Clamp: true} },
	}, func(cfg any) (Generator, error) { return NewSSDSpec(*registry.As[SSDSpecConfig](cfg)) })
}

// Validate checks the config (called after decoding).
func (c *SSDSpecConfig) Validate() error {
	_, err := c.resolve()
	return err
}

// resolve returns the spec list in effect: the spec blocks, or else the preset's.
func (c *SSDSpecConfig) resolve() ([]SpecBlock, error) {
	if c.ImageSize <= 0 {
		return nil, fmt.Errorf("image_size must be > 0, got %d", c.ImageSize)
	}
	var preset []SpecBlock
	if c.Preset != "" {
		p, ok := ssdSpecPresets[c.Preset]
		if !ok {
			return nil, unknownPreset(c.Preset, keys(ssdSpecPresets))
		}
		preset = p
	}
	specs := c.Specs
	if len(specs) == 0 {
		if preset == nil {
			return nil, fmt.Errorf("give spec blocks or a preset (%s)", strings.Join(keys(ssdSpecPresets), ", "))
		}
		if c.ImageSize != presetImageSize {
			return nil, fmt.Errorf("preset %q is defined for image_size %d, got %d (give spec blocks for other sizes)",
				c.Preset, presetImageSize, c.ImageSize)
		}
		specs = preset
	}
	for i, s := range specs {
		if err := s.check(); err != nil {
			return nil, fmt.Errorf("spec[%d]: %w", i, err)
		}
	}
	return specs, nil
}

func (s SpecBlock) check() error {
	switch {
	case s.FeatureMapSize <= 0:
		return fmt.Errorf("feature_map_size must be > 0, got %d", s.FeatureMapSize)
	case !positive(s.Shrinkage):
		return fmt.Errorf("shrinkage must be > 0, got %g", s.Shrinkage)
	case !positive(s.MinSize):
		return fmt.Errorf("min_size must be > 0, got %g", s.MinSize)
	case !positive(s.MaxSize):
		return fmt.Errorf("max_size must be > 0, got %g", s.MaxSize)
	}
	return checkRatios(s.AspectRatios)
}

// NewSSDSpec builds an "ssd_spec" generator.
func NewSSDSpec(c SSDSpecConfig) (Generator, error) {
	specs, err := c.resolve()
	if err != nil {
		return nil, err
	}
	img := float64(c.ImageSize)
	tilings := make([]tiling, len(specs))
	for i, s := range specs {
		// Same float64 arithmetic as the reference, so the float32 priors match bit for bit.
		w := s.MinSize / img
		big := math.Sqrt(s.MaxSize*s.MinSize) / img
		wh := [][2]float64{{w, w}, {big, big}}
		for _, r := range s.AspectRatios {
			q := math.Sqrt(r)
			wh = append(wh, [2]float64{w * q, w / q}, [2]float64{w / q, w * q})
		}
		tilings[i] = tiling{size: s.FeatureMapSize, shrinkage: s.Shrinkage, centerDiv: img / s.Shrinkage, wh: wh}
	}
	return &ssdSpecGen{imageSize: c.ImageSize, clamp: c.Clamp, tilings: tilings}, nil
}

type ssdSpecGen struct {
	imageSize int
	clamp     bool
	tilings   []tiling
}

func (g *ssdSpecGen) ImageSize() int            { return g.imageSize }
func (g *ssdSpecGen) FeatureMaps() []FeatureMap { return featureMaps(g.tilings) }

// Priors computes in float64 and rounds to float32 at the end, as the reference does.
func (g *ssdSpecGen) Priors() (*ts.Tensor, error) {
	s := torch.NewScope()
	defer s.Close()
	p, err := tilePriors(g.tilings, gotch.Double)
	if err != nil {
		return nil, err
	}
	out := s.T(s.T(p).MustTotype(gotch.Float, false))
	if g.clamp {
		out = s.T(clamp01(out))
	}
	return s.Keep(out), nil
}

func positive(v float64) bool { return v > 0 && !math.IsInf(v, 1) }

func checkRatios(ratios []float64) error {
	for i, r := range ratios {
		if !positive(r) {
			return fmt.Errorf("aspect_ratios[%d] must be > 0, got %g", i, r)
		}
	}
	return nil
}

func unknownPreset(name string, known []string) error {
	msg := fmt.Sprintf("unknown preset %q", name)
	if s := registry.Suggest(name, known); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return fmt.Errorf("%s (known: %s)", msg, strings.Join(known, ", "))
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
