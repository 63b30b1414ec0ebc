package detect_test

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/reftest"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/runner/build"
	"github.com/ssdrunner/ssdrunner/runner/config"
)

// TestFoldBatchNorms: for every named model family with batch norms, folding them into
// their convolutions (what a detector does by default) leaves the evaluation-mode
// outputs equal to the unfolded network's up to float32 rounding, folds every batch norm
// that follows a convolution in a sequence (the expected counts), changes no variable,
// and leaves training mode as it was. Batch norms get statistics and affine parameters
// away from 1 and 0, so that a fold that drops or repeats a term, or scales the wrong
// axis, moves the outputs by their own size. The tolerance: a folded layer rounds
// kernel·g once where the unfolded one rounds the convolution's output and the norm's
// product, a few units in the last place of each layer's magnitude; 1e-4 of the
// outputs' largest magnitude leaves a factor of about 100 over that through the 20–60
// layers of these networks.
func TestFoldBatchNorms(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	torch.SetThreads(1)
	cases := []struct {
		base  string
		folds int // batch norms that follow a convolution in a sequence
		size  int
	}{
		{"mb1-ssd", 27, 300},      // 27 conv+bn of the base net; extras and heads have none
		{"mb2-ssd-lite", 74, 300}, // 52 base + 12 extras (inverted residuals) + 10 depthwise headers
		{"mb3-large-ssd-lite", 87, 300},
		{"ssd-resnet50", 13, 300}, // 10 in the extras, 3 in the shortcuts; the stem and the bottlenecks hold theirs as fields, not sequences, and keep them apart
	}
	for _, c := range cases {
		t.Run(c.base, func(t *testing.T) {
			if c.base == "ssd-resnet50" && testing.Short() {
				t.Skip("-short: a large model")
			}
			run := buildRandom(t, c.base)
			defer run.Close()
			x := ts.MustRandn([]int64{1, 3, int64(c.size), int64(c.size)}, gotch.Float, gotch.CPU)
			defer x.MustDrop()
			forward := func(train bool) (conf, loc []float64) {
				t.Helper()
				err := torch.NoGrad(func() error {
					cf, lc, err := run.Model.Forward(x, train)
					if err != nil {
						return err
					}
					defer cf.MustDrop()
					defer lc.MustDrop()
					conf, loc = cf.Float64Values(), lc.Float64Values()
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				return conf, loc
			}
			conf0, loc0 := forward(false)
			vars := map[string][]float64{}
			for name, v := range run.Model.VarStore().Variables() {
				vars[name] = v.Float64Values()
			}
			n, err := run.Model.FoldBatchNorms()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d batch norms folded", n)
			if n != c.folds {
				t.Errorf("%d batch norms folded, want %d", n, c.folds)
			}
			conf, loc := forward(false)
			for _, o := range []struct {
				name      string
				got, want []float64
			}{{"conf", conf, conf0}, {"loc", loc, loc0}} {
				d := reftest.Compare(o.got, o.want)
				t.Logf("%s: %v", o.name, d)
				if !d.Within(1e-4) {
					t.Errorf("%s folded against unfolded: %v, want within 1e-4", o.name, d)
				}
			}
			for name, v := range run.Model.VarStore().Variables() {
				for i, f := range v.Float64Values() {
					if math.Float64bits(f) != math.Float64bits(vars[name][i]) {
						t.Fatalf("%s: value %d changed by the fold", name, i)
					}
				}
			}
		})
	}
}

// TestFoldBatchNormsTrainingMode: training-mode forward passes run the unfolded layers
// from their variables, so after a fold they give the very values of an unfolded copy
// of the network, bit for bit (batch statistics, running statistics updated alike).
func TestFoldBatchNormsTrainingMode(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	torch.SetThreads(1)
	a, b := buildRandom(t, "mb2-ssd-lite"), buildRandom(t, "mb2-ssd-lite")
	defer a.Close()
	defer b.Close()
	bv := b.Model.VarStore().Variables()
	err := torch.NoGrad(func() (err error) {
		defer torch.Recover(&err)
		for name, v := range a.Model.VarStore().Variables() {
			w := bv[name]
			w.Copy_(&v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Model.FoldBatchNorms(); err != nil {
		t.Fatal(err)
	}
	x := ts.MustRandn([]int64{2, 3, 300, 300}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	for step := range 2 {
		var outs [2][]float64
		for i, run := range []*build.Run{a, b} {
			conf, loc, err := run.Model.Forward(x, true)
			if err != nil {
				t.Fatal(err)
			}
			outs[i] = append(conf.Float64Values(), loc.Float64Values()...)
			conf.MustDrop()
			loc.MustDrop()
		}
		for i := range outs[0] {
			if math.Float64bits(outs[0][i]) != math.Float64bits(outs[1][i]) {
				t.Fatalf("step %d: output %d is %v folded against %v unfolded", step, i, outs[1][i], outs[0][i])
			}
		}
	}
}

// buildRandom builds the named model base for three classes with its seeded fresh
// weights, and batch norms whose four inputs are drawn from the experiment's seed away
// from their initial values.
func buildRandom(t *testing.T, base string) *build.Run {
	t.Helper()
	dir := t.TempDir()
	labels := filepath.Join(dir, "labels.txt")
	if err := os.WriteFile(labels, []byte("BACKGROUND\ncircle\nsquare\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "exp.hcl")
	src := "inherits = \"builtin:" + base + "\"\nmodel {\n  labels = \"" + labels + "\"\n}\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	res, diags := config.Load(path, config.Options{NoTrainData: true})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	run, err := build.Build(res, build.Options{Log: zerolog.Nop(), NoOptimizer: true, NoData: true})
	if err != nil {
		t.Fatal(err)
	}
	vars := run.Model.VarStore().Variables()
	err = torch.NoGrad(func() (err error) {
		defer torch.Recover(&err)
		for name := range vars {
			prefix, ok := strings.CutSuffix(name, ".running_mean")
			if !ok {
				continue
			}
			for suffix, r := range map[string][2]float64{"weight": {0.5, 1.5}, "bias": {-0.2, 0.2}, "running_mean": {-0.2, 0.2}, "running_var": {0.5, 1.5}} {
				v := vars[prefix+"."+suffix]
				u := ts.MustRand(v.MustSize(), gotch.Float, gotch.CPU)
				w := torch.AddScalar(torch.MulScalar(u, r[1]-r[0]), r[0])
				v.Copy_(w)
				u.MustDrop()
				w.MustDrop()
			}
		}
		return nil
	})
	if err != nil {
		run.Close()
		t.Fatal(err)
	}
	return run
}
