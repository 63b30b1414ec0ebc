package export

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	_ "github.com/ssdrunner/ssdrunner/components/all"
	box "github.com/ssdrunner/ssdrunner/components/boxes"
	"github.com/ssdrunner/ssdrunner/components/head"
	"github.com/ssdrunner/ssdrunner/components/nn"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/runner/build"
	"github.com/ssdrunner/ssdrunner/runner/config"
)

// testClasses are the classes of the test models.
var testClasses = []string{"BACKGROUND", "circle", "square", "triangle"}

// customModels are models the tests build that no built-in base names: what they add to
// the model block of the built-in mb1-ssd-lite (labels aside), by the name the tests give
// them.
var customModels = map[string]string{
	"mb1-ssd-lite-stride8": stride8Model,
	// The same with the fused stem and the top-down path (top_down): at 300 pixels the
	// 10x10 map is upsampled to 19x19, a ratio that is not an integer.
	"mb1-ssd-lite-topdown": strings.Replace(stride8Model, "source_layers = [6, 12, 14]\n",
		"source_layers = [6, 12, 14]\n    stem          = \"fused\"\n    top_down      = true\n", 1),
}

// stride8Model is MobileNetV1 SSD-Lite with the stride-8 map of base_net[:6] as well
// (source_layers): seven feature maps, the first 38x38.
const stride8Model = `  backbone "mobilenet_v1" {
    extras        = "ssd_lite"
    source_layers = [6, 12, 14]
  }
  head "ssd_lite" {}
  anchors "ssd_spec" {
    spec {
      feature_map_size = 38
      shrinkage        = 8
      min_size         = 15
      max_size         = 30
      aspect_ratios    = [2]
    }
    spec {
      feature_map_size = 19
      shrinkage        = 16
      min_size         = 60
      max_size         = 105
      aspect_ratios    = [2, 3]
    }
    spec {
      feature_map_size = 10
      shrinkage        = 32
      min_size         = 105
      max_size         = 150
      aspect_ratios    = [2, 3]
    }
    spec {
      feature_map_size = 5
      shrinkage        = 64
      min_size         = 150
      max_size         = 195
      aspect_ratios    = [2, 3]
    }
    spec {
      feature_map_size = 3
      shrinkage        = 100
      min_size         = 195
      max_size         = 240
      aspect_ratios    = [2, 3]
    }
    spec {
      feature_map_size = 2
      shrinkage        = 150
      min_size         = 240
      max_size         = 285
      aspect_ratios    = [2, 3]
    }
    spec {
      feature_map_size = 1
      shrinkage        = 300
      min_size         = 285
      max_size         = 330
      aspect_ratios    = [2, 3]
    }
  }
`

// experimentFor loads an experiment inheriting the built-in base of a named model, with
// testClasses (the synthetic training set only satisfies the loader).
func experimentFor(t *testing.T, base string) *config.Result {
	t.Helper()
	dir := t.TempDir()
	labels := filepath.Join(dir, "labels.txt")
	if err := os.WriteFile(labels, []byte(strings.Join(testClasses, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := `inherits = "builtin:` + base + `"
model {
  labels = "` + labels + `"
}
data {
  train "shapes" {
    count = 4
  }
}
`
	if model, ok := customModels[base]; ok {
		src = strings.Replace(src, base, "mb1-ssd-lite", 1)
		src = strings.Replace(src, "}\n", model+"}\n", 1)
	}
	path := filepath.Join(dir, "exp.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	res, diags := config.Load(path, config.Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return res
}

// newModel builds the network of e for classes, freshly initialised (from the
// experiment's seed), with its priors.
func newModel(e *config.Experiment, classes []string) (_ *Model, err error) {
	res := &config.Result{Experiment: *e}
	run, err := build.Build(res, build.Options{Log: zerolog.Nop(), NoOptimizer: true, SkipWeights: true, NoData: true, Classes: classes})
	if err != nil {
		return nil, err
	}
	return fromRun(run)
}

// randomModel builds the model of base with fresh weights and batch norms whose
// statistics and affine parameters are drawn away from their initial 1 and 0 (so that a
// mix-up of the four batch-norm inputs shows).
func randomModel(t *testing.T, base string) *Model {
	t.Helper()
	res := experimentFor(t, base)
	m, err := newModel(&res.Experiment, testClasses)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	vars := m.SSD.VarStore().Variables()
	for name := range vars {
		prefix, ok := strings.CutSuffix(name, ".running_mean")
		if !ok {
			continue
		}
		for suffix, r := range map[string][2]float64{"weight": {0.5, 1.5}, "bias": {-0.2, 0.2}, "running_mean": {-0.2, 0.2}, "running_var": {0.5, 1.5}} {
			v, ok := vars[prefix+"."+suffix]
			if !ok {
				t.Fatalf("%s has no %s", prefix, suffix)
			}
			fillUniform(t, &v, r[0], r[1])
		}
	}
	return m
}

// fillUniform overwrites v with U(lo, hi) values, recording no gradient.
func fillUniform(t *testing.T, v *ts.Tensor, lo, hi float64) {
	t.Helper()
	err := torch.NoGrad(func() (err error) {
		defer torch.Recover(&err)
		u := ts.MustRand(v.MustSize(), gotch.Float, gotch.CPU)
		defer u.MustDrop()
		w := torch.AddScalar(torch.MulScalar(u, hi-lo), lo)
		defer w.MustDrop()
		v.Copy_(w)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// conditionHeads divides the weights of each plain-convolution header (the ssd head) by
// the largest magnitude of its feature map for the input x, so that logits and box
// offsets are of order 1, as in a trained network. With random weights the features of
// the deep backbones reach 1e3 (ResNet-50) and beyond, where a saturated softmax and
// exp(offset) turn float32 rounding of the logits into visible differences of scores and
// boxes that say nothing about the export.
func conditionHeads(t *testing.T, m *Model, x *ts.Tensor) {
	t.Helper()
	h, ok := m.SSD.Head.(*head.PerMap)
	if !ok {
		return
	}
	err := torch.NoGrad(func() (err error) {
		defer torch.Recover(&err)
		feats, err := m.SSD.Backbone.Forward(x, false)
		if err != nil {
			return err
		}
		defer func() {
			for _, f := range feats {
				f.MustDrop()
			}
		}()
		for i, f := range feats {
			a := f.MustAbs(false)
			big := a.MustMax(true).Float64Values()[0]
			if big <= 1 {
				continue
			}
			for _, l := range []nn.Layer{h.Classification[i], h.Regression[i]} {
				if c, ok := l.(*nn.Conv2d); ok {
					w := torch.MulScalar(c.Weight, 1/big)
					c.Weight.Copy_(w)
					w.MustDrop()
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// randomInput returns a [b,3,size,size] batch of U(-1, 1) values (normalised pixels).
func randomInput(t *testing.T, b, size int) *ts.Tensor {
	t.Helper()
	u := ts.MustRand([]int64{int64(b), 3, int64(size), int64(size)}, gotch.Float, gotch.CPU)
	defer u.MustDrop()
	two := torch.MulScalar(u, 2)
	defer two.MustDrop()
	return torch.AddScalar(two, -1)
}

// ourOutputs runs the model in evaluation mode and returns what the exported graph
// computes: softmax scores and corner-form decoded boxes.
func ourOutputs(t *testing.T, m *Model, x *ts.Tensor) (scores, boxes []float32) {
	t.Helper()
	err := torch.NoGrad(func() (err error) {
		defer torch.Recover(&err)
		s := torch.NewScope()
		defer s.Close()
		conf, loc, err := m.SSD.Forward(x, false)
		if err != nil {
			return err
		}
		s.Ts(conf, loc)
		probs := s.T(conf.MustSoftmax(2, gotch.Float, false))
		center, err := box.Decode(loc, m.Priors, m.Variances)
		if err != nil {
			return err
		}
		corner, err := box.CenterToCorner(s.T(center))
		if err != nil {
			return err
		}
		s.T(corner)
		scores = make([]float32, probs.Numel())
		boxes = make([]float32, corner.Numel())
		if err := torch.CopyTo(probs, scores); err != nil {
			return err
		}
		return torch.CopyTo(corner, boxes)
	})
	if err != nil {
		t.Fatal(err)
	}
	return scores, boxes
}

func writeFloats(t *testing.T, path string, v []float32) {
	t.Helper()
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFloats(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b)%4 != 0 {
		t.Fatalf("%s: %d bytes, not float32 values", path, len(b))
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

func float64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, f := range v {
		out[i] = float64(f)
	}
	return out
}

// moduleRoot returns the folder of go.mod above the test's folder.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's folder")
		}
		dir = parent
	}
}

// floatValues returns a tensor's dimensions and float32 values.
func floatValues(x *ts.Tensor) ([]int64, []float32, error) { return nn.Float32Values(x) }
