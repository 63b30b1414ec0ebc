package anchors

import (
	"fmt"
	"math"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/registry"
)

// Default scale range of torchvision's DefaultBoxGenerator, used when neither scales nor
// min_ratio/max_ratio (nor a preset) say otherwise.
const (
	DefaultMinRatio = 0.15
	DefaultMaxRatio = 0.9
)

// LayerBlock describes one feature map of the "min_max_scale" generator.
type LayerBlock struct {
	FeatureMapSize int       `hcl:"feature_map_size" doc:"side of the feature map, in cells"`
	Step           float64   `hcl:"step,optional" doc:"image pixels between centres: centres are (i+0.5)*step/image_size; 0 (default) spreads them over the image, (i+0.5)/feature_map_size"`
	AspectRatios   []float64 `hcl:"aspect_ratios,optional" doc:"each ratio r adds (s_k*sqrt(r), s_k/sqrt(r)) and its transpose"`
}

// MinMaxScaleConfig configures the "min_max_scale" generator: the SSD paper's default
// boxes as torchvision's DefaultBoxGenerator computes them. Layer k has the scale s_k; its
// boxes per location are s_k and sqrt(s_k*s_{k+1}) squares, then two boxes per aspect ratio.
type MinMaxScaleConfig struct {
	Preset    string       `hcl:"preset,optional" doc:"ssd300 | ssd512 | ssdlite320: supplies image_size, the layer blocks and the scales; each of these you set replaces the preset's"`
	ImageSize int          `hcl:"image_size,optional" doc:"input image side in pixels (required without a preset)"`
	MinRatio  float64      `hcl:"min_ratio,optional" doc:"scale of the first layer when scales is not given (default 0.15)"`
	MaxRatio  float64      `hcl:"max_ratio,optional" doc:"scale of the last layer when scales is not given (default 0.9); s_{m+1} is 1"`
	Scales    []float64    `hcl:"scales,optional" doc:"explicit scales s_1..s_{m+1}, relative to the image (one more than layers)"`
	Clip      bool         `hcl:"clip,optional" doc:"clamp box widths and heights to [0,1] (centres are not clamped)"`
	Layers    []LayerBlock `hcl:"layer,block" doc:"one block per feature map, in head order"`
}

type mmsPreset struct {
	imageSize          int
	layers             []LayerBlock
	scales             []float64 // when nil: linear between minRatio and maxRatio
	minRatio, maxRatio float64
}

// mmsPresets are torchvision's ssd300_vgg16 and ssdlite320_mobilenet_v3_large anchor
// configurations and the original SSD512 (VOC) one.
var mmsPresets = map[string]mmsPreset{
	"ssd300": {
		imageSize: 300,
		layers: []LayerBlock{
			{38, 8, []float64{2}}, {19, 16, []float64{2, 3}}, {10, 32, []float64{2, 3}},
			{5, 64, []float64{2, 3}}, {3, 100, []float64{2}}, {1, 300, []float64{2}},
		},
		scales: []float64{0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05},
	},
	"ssd512": {
		imageSize: 512,
		layers: []LayerBlock{
			{64, 8, []float64{2}}, {32, 16, []float64{2, 3}}, {16, 32, []float64{2, 3}}, {8, 64, []float64{2, 3}},
			{4, 128, []float64{2, 3}}, {2, 256, []float64{2}}, {1, 512, []float64{2}},
		},
		scales: []float64{0.07, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 1.05},
	},
	"ssdlite320": {
		imageSize: 320,
		layers: []LayerBlock{
			{20, 0, []float64{2, 3}}, {10, 0, []float64{2, 3}}, {5, 0, []float64{2, 3}},
			{3, 0, []float64{2, 3}}, {2, 0, []float64{2, 3}}, {1, 0, []float64{2, 3}},
		},
		minRatio: 0.2, maxRatio: 0.95,
	},
}

func init() {
	Registry.Register(registry.Spec{
		Name:    "min_max_scale",
		Summary: "SSD paper / torchvision DefaultBoxGenerator priors: per-layer scales relative to the image",
		Config:  func() any { return &MinMaxScaleConfig{Clip: true} },
	}, func(cfg any) (Generator, error) { return NewMinMaxScale(*registry.As[MinMaxScaleConfig](cfg)) })
}

// Validate checks the config (called after decoding).
func (c *MinMaxScaleConfig) Validate() error {
	_, err := c.resolve()
	return err
}

type mmsResolved struct {
	imageSize int
	layers    []LayerBlock
	scales    []float64
}

// resolve merges the config with its preset and checks the result.
func (c *MinMaxScaleConfig) resolve() (mmsResolved, error) {
	var p *mmsPreset
	if c.Preset != "" {
		pp, ok := mmsPresets[c.Preset]
		if !ok {
			return mmsResolved{}, unknownPreset(c.Preset, keys(mmsPresets))
		}
		p = &pp
	}
	r := mmsResolved{imageSize: c.ImageSize, layers: c.Layers}
	if len(r.layers) == 0 {
		if p == nil {
			return r, fmt.Errorf("give layer blocks or a preset (%s)", strings.Join(keys(mmsPresets), ", "))
		}
		r.layers = p.layers
		if c.ImageSize != 0 && c.ImageSize != p.imageSize {
			return r, fmt.Errorf("preset %q's layers are for image_size %d, got %d (give layer blocks for other sizes)",
				c.Preset, p.imageSize, c.ImageSize)
		}
	}
	if r.imageSize == 0 && p != nil {
		r.imageSize = p.imageSize
	}
	if r.imageSize <= 0 {
		return r, fmt.Errorf("image_size must be > 0, got %d", r.imageSize)
	}
	for i, l := range r.layers {
		if err := l.check(); err != nil {
			return r, fmt.Errorf("layer[%d]: %w", i, err)
		}
	}

	from := "scales"
	switch {
	case len(c.Scales) > 0:
		r.scales = c.Scales
	case c.MinRatio != 0 || c.MaxRatio != 0:
		lo, hi := c.MinRatio, c.MaxRatio
		if lo == 0 {
			lo = DefaultMinRatio
		}
		if hi == 0 {
			hi = DefaultMaxRatio
		}
		if !positive(lo) || !positive(hi) {
			return r, fmt.Errorf("min_ratio and max_ratio must be > 0, got %g and %g", lo, hi)
		}
		r.scales = LinearScales(lo, hi, len(r.layers))
	case p != nil && p.scales != nil:
		r.scales, from = p.scales, fmt.Sprintf("preset %q's scales", c.Preset)
	case p != nil:
		r.scales = LinearScales(p.minRatio, p.maxRatio, len(r.layers))
	default:
		r.scales = LinearScales(DefaultMinRatio, DefaultMaxRatio, len(r.layers))
	}
	if len(r.scales) != len(r.layers)+1 {
		return r, fmt.Errorf("%s: %d values for %d layers (need one more than layers)", from, len(r.scales), len(r.layers))
	}
	for i, s := range r.scales {
		if !positive(s) {
			return r, fmt.Errorf("%s[%d] must be > 0, got %g", from, i, s)
		}
	}
	return r, nil
}

func (l LayerBlock) check() error {
	if l.FeatureMapSize <= 0 {
		return fmt.Errorf("feature_map_size must be > 0, got %d", l.FeatureMapSize)
	}
	if l.Step < 0 || math.IsNaN(l.Step) || math.IsInf(l.Step, 0) {
		return fmt.Errorf("step must be >= 0, got %g", l.Step)
	}
	return checkRatios(l.AspectRatios)
}

// LinearScales returns torchvision's scales for n layers: min + (max-min)*k/(n-1) for
// k = 0..n-1, then 1; for a single layer, [min, max].
func LinearScales(minRatio, maxRatio float64, n int) []float64 {
	if n <= 1 {
		return []float64{minRatio, maxRatio}
	}
	out := make([]float64, 0, n+1)
	rng := maxRatio - minRatio
	for k := 0; k < n; k++ {
		out = append(out, minRatio+rng*float64(k)/(float64(n)-1))
	}
	return append(out, 1)
}

// NewMinMaxScale builds a "min_max_scale" generator.
func NewMinMaxScale(c MinMaxScaleConfig) (Generator, error) {
	r, err := c.resolve()
	if err != nil {
		return nil, err
	}
	img := float64(r.imageSize)
	tilings := make([]tiling, len(r.layers))
	for k, l := range r.layers {
		sk := r.scales[k]
		big := math.Sqrt(r.scales[k] * r.scales[k+1])
		wh := [][2]float64{{sk, sk}, {big, big}}
		for _, ar := range l.AspectRatios {
			q := math.Sqrt(ar)
			w, h := sk*q, sk/q
			wh = append(wh, [2]float64{w, h}, [2]float64{h, w})
		}
		if c.Clip {
			for i := range wh {
				wh[i] = [2]float64{clip01(wh[i][0]), clip01(wh[i][1])}
			}
		}
		t := tiling{size: l.FeatureMapSize, wh: wh, centerDiv: float64(l.FeatureMapSize), shrinkage: img / float64(l.FeatureMapSize)}
		if l.Step > 0 {
			t.centerDiv, t.shrinkage = img/l.Step, l.Step
		}
		tilings[k] = t
	}
	return &minMaxScaleGen{imageSize: r.imageSize, tilings: tilings}, nil
}

type minMaxScaleGen struct {
	imageSize int
	tilings   []tiling
}

func (g *minMaxScaleGen) ImageSize() int            { return g.imageSize }
func (g *minMaxScaleGen) FeatureMaps() []FeatureMap { return featureMaps(g.tilings) }

// Priors computes the centres in float32, as torchvision does.
func (g *minMaxScaleGen) Priors() (*ts.Tensor, error) { return tilePriors(g.tilings, gotch.Float) }

func clip01(v float64) float64 { return math.Min(math.Max(v, 0), 1) }
