package config

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/ssdrunner/ssdrunner/registry"
)

// Test components: the config package only needs Specs, so the tests register small
// stand-ins for every kind instead of importing the real components.

type bbCfg struct {
	WidthMult  float64 `hcl:"width_mult,optional"`
	Activation string  `hcl:"activation,optional"`
}

type anchorSpec struct {
	FeatureMapSize int       `hcl:"feature_map_size"`
	AspectRatios   []float64 `hcl:"aspect_ratios,optional"`
}

type anchorsCfg struct {
	ImageSize int          `hcl:"image_size,optional"`
	Specs     []anchorSpec `hcl:"spec,block"`
}

type vocCfg struct {
	Roots         []string `hcl:"roots"`
	KeepDifficult bool     `hcl:"keep_difficult,optional"`
}

type sgdCfg struct {
	LR          float64 `hcl:"lr"`
	Momentum    float64 `hcl:"momentum,optional"`
	WeightDecay float64 `hcl:"weight_decay,optional"`
}

type cosineCfg struct {
	TMax   float64 `hcl:"t_max"`
	EtaMin float64 `hcl:"eta_min,optional"`
}

func (c *cosineCfg) Validate() error {
	if c.TMax <= 0 {
		return fmt.Errorf("t_max must be > 0")
	}
	return nil
}

type msCfg struct {
	Milestones []int   `hcl:"milestones"`
	Gamma      float64 `hcl:"gamma,optional"`
}

type expandCfg struct {
	MaxRatio float64 `hcl:"max_ratio,optional"`
}

type multiboxCfg struct {
	NegPosRatio float64 `hcl:"neg_pos_ratio,optional"`
}

func (c *multiboxCfg) Validate() error {
	if c.NegPosRatio < 0 {
		return fmt.Errorf("neg_pos_ratio must be >= 0")
	}
	return nil
}

type vocMetricCfg struct {
	Use2007 bool `hcl:"use_2007_metric,optional"`
}

func init() {
	reg := func(kind string, specs ...registry.Spec) {
		r := registry.New[func()](kind, kind+"s for tests")
		for _, s := range specs {
			r.Register(s, nil)
		}
	}
	reg("backbone",
		registry.Spec{Name: "mobilenet_v1", Config: func() any { return &bbCfg{WidthMult: 1} }},
		registry.Spec{Name: "mobilenet_v2", Config: func() any { return &bbCfg{WidthMult: 1, Activation: "relu6"} }})
	reg("head", registry.Spec{Name: "ssd"}, registry.Spec{Name: "ssd_lite"})
	reg("anchors", registry.Spec{Name: "ssd_spec", Config: func() any { return &anchorsCfg{ImageSize: 300} }})
	reg("dataset",
		registry.Spec{Name: "voc", Config: func() any { return &vocCfg{} }},
		registry.Spec{Name: "shapes"})
	reg("optimizer", registry.Spec{Name: "sgd", Config: func() any { return &sgdCfg{} }})
	reg("scheduler",
		registry.Spec{Name: "cosine", Config: func() any { return &cosineCfg{} }},
		registry.Spec{Name: "multi_step", Config: func() any { return &msCfg{Gamma: 0.1} }})
	reg("loss", registry.Spec{Name: "multibox", Config: func() any { return &multiboxCfg{NegPosRatio: 3} }})
	reg("metric", registry.Spec{Name: "voc", Config: func() any { return &vocMetricCfg{Use2007: true} }})
	reg("transform",
		registry.Spec{Name: "ssd"}, registry.Spec{Name: "test"}, registry.Spec{Name: "hflip"},
		registry.Spec{Name: "expand", Config: func() any { return &expandCfg{MaxRatio: 4} }})
}

// memFS serves files from a map, so tests never touch the disk.
type memFS map[string]string

func (m memFS) read(path string) ([]byte, error) {
	s, ok := m[path]
	if !ok {
		return nil, fmt.Errorf("open %s: %w", path, os.ErrNotExist)
	}
	return []byte(s), nil
}

func load(t *testing.T, files memFS, path string, opts Options) (*Result, hcl.Diagnostics) {
	t.Helper()
	opts.ReadFile = files.read
	return Load(path, opts)
}

func mustLoad(t *testing.T, files memFS, path string, opts Options) *Result {
	t.Helper()
	res, diags := load(t, files, path, opts)
	if diags.HasErrors() {
		var b strings.Builder
		WriteDiagnostics(&b, diags, res.Files)
		t.Fatalf("unexpected diagnostics:\n%s", b.String())
	}
	return res
}

const fullExperiment = `
name        = "full"
description = "every block"

model {
  backbone "mobilenet_v2" {
    width_mult = 0.75
  }
  head "ssd_lite" {}
  anchors "ssd_spec" {
    image_size = 300
    spec {
      feature_map_size = 19
      aspect_ratios    = [2, 3]
    }
    spec {
      feature_map_size = 10
    }
  }
  num_classes = 21
  labels      = "models/voc-model-labels.txt"
  init {
    base_net = "models/mb2-imagenet-71_8.pth"
  }
}

data {
  train "voc" {
    roots = ["/data/VOC2007", "/data/VOC2012"]
  }
  validation "voc" {
    roots          = ["/data/test/VOC2007"]
    keep_difficult = true
  }
  augmentation  = "ssd"
  mean          = [127, 127, 127]
  std           = [128]
  batch_size    = 24
  workers       = 2
  prefetch      = 3
  shuffle       = false
  on_bad_sample = "skip"
}

optimizer "sgd" {
  lr           = 0.01
  momentum     = 0.9
  weight_decay = 5e-4
}

param_group "base_net" {
  modules = ["base_net"]
  lr      = 0.001
}

param_group "extras" {
  modules      = ["source_layer_add_ons", "extras"]
  weight_decay = 0
  freeze       = true
}

scheduler "cosine" {
  t_max   = 200
  eta_min = 1e-5
}

loss "multibox" {
  neg_pos_ratio = 2
}

training {
  epochs         = 200
  validate_every = 5
  freeze         = "none"
  seed           = 42
  device         = "cpu"
  threads        = 2
  log_every      = 10
  resume         = "auto"
  checkpoint {
    every     = 10
    keep_last = 2
    keep_best = false
    metric    = "map"
  }
}

evaluation {
  metric "voc" {
    use_2007_metric = false
  }
  nms {
    method          = "soft"
    iou_threshold   = 0.5
    score_threshold = 0.05
    candidate_size  = 100
    top_k           = 50
    sigma           = 0.6
    class_agnostic  = true
  }
}

output {
  dir = "out"
}
`
