package backbone_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/anchors"
	"github.com/ssdrunner/ssdrunner/components/backbone"
	"github.com/ssdrunner/ssdrunner/components/boxes"
	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/components/loss"
	"github.com/ssdrunner/ssdrunner/components/model"
	"github.com/ssdrunner/ssdrunner/components/nn"
	"github.com/ssdrunner/ssdrunner/components/optimizer"
	"github.com/ssdrunner/ssdrunner/components/target"
	"github.com/ssdrunner/ssdrunner/components/transform"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
	"github.com/ssdrunner/ssdrunner/runner/loader"
)

// TestSSD7Structure checks the variables (names and shapes) against the Keras SSD7's
// layers (conv1 5x5×32, conv2…7 3x3 with 48, 64, 64, 48, 48, 32 filters, each with bias
// and a batch norm), the parameter counts (81,360 in base_net, 62,592 in extras: 143,952,
// which with the 672 running statistics is Keras' 144,624), Channels() and Modules().
func TestSSD7Structure(t *testing.T) {
	bb, vs := build(t, "ssd7", nil)
	var want []keyShape
	in := int64(3)
	for i, out := range []int64{32, 48, 64, 64, 48, 48, 32} {
		k := int64(3)
		if i == 0 {
			k = 5
		}
		conv, bn := fmt.Sprintf("base_net.%d.0.", 2*i), fmt.Sprintf("base_net.%d.1.", 2*i)
		if i >= 4 {
			conv, bn = fmt.Sprintf("extras.%d.1.", i-4), fmt.Sprintf("extras.%d.2.", i-4)
		}
		want = append(want, keyShape{conv + "weight", []int64{out, in, k, k}}, keyShape{conv + "bias", []int64{out}})
		for _, v := range []string{"weight", "bias", "running_mean", "running_var"} {
			want = append(want, keyShape{bn + v, []int64{out}})
		}
		in = out
	}
	checkStructure(t, bb, vs, goldenVariant{
		Keys:     want,
		Params:   map[string]int64{"base_net": 81360, "extras": 62592},
		Channels: []int{64, 48, 48, 32},
	})
	checkModules(t, bb, "base_net", "extras")
}

// TestSSD7Forward checks the feature-map sizes for the Keras notebook's 300×480 input
// (37×60, 18×30, 9×15, 4×7, its predictor sizes) and a square 300×300 one, that the maps
// come out of an ELU (values ≥ -1, some negative), and the initialisation: zero biases,
// conv weights with the standard deviation sqrt(2/fan_in).
func TestSSD7Forward(t *testing.T) {
	bb, vs := build(t, "ssd7", nil)
	for _, hw := range [][2]int64{{300, 480}, {300, 300}} {
		x := ts.MustRandn([]int64{2, 3, hw[0], hw[1]}, gotch.Float, gotch.CPU)
		feats := evalForward(t, bb, x)
		x.MustDrop()
		var got [][2]int64
		for _, f := range feats {
			sz := f.MustSize()
			got = append(got, [2]int64{sz[2], sz[3]})
			if mn := f.MustMin(false).Float64Values(true)[0]; mn < -1 || mn >= 0 {
				t.Errorf("%v input: feature min %v, want in [-1, 0) after an ELU", hw, mn)
			}
		}
		dropAll(feats)
		want := [][2]int64{{37, 60}, {18, 30}, {9, 15}, {4, 7}}
		if hw[1] == 300 {
			want = [][2]int64{{37, 37}, {18, 18}, {9, 9}, {4, 4}}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%v input: feature sizes %v, want %v", hw, got, want)
		}
	}
	if b := absMax(mustGet(t, vs, "extras.1.1.bias")); b != 0 {
		t.Errorf("extras.1.1.bias max |b| %v, want 0", b)
	}
	w := mustGet(t, vs, "base_net.4.0.weight") // 48 -> 64, 3x3
	std := stdDev(w)
	if want := math.Sqrt(2.0 / (48 * 9)); math.Abs(std-want) > 0.03*want {
		t.Errorf("base_net.4.0.weight std %.5g, want %.5g (he_normal)", std, want)
	}
}

// TestSSD7BatchNormConstants checks the batch norms' constants: with "keras" a training
// step moves the running mean by 0.01 of the batch mean (Keras momentum 0.99) and
// normalises with eps 1e-3, with "torch" by 0.1 and eps 1e-5.
func TestSSD7BatchNormConstants(t *testing.T) {
	for _, c := range []struct {
		opt           string
		momentum, eps float64
	}{{"keras", 0.01, 1e-3}, {"torch", 0.1, 1e-5}} {
		bb, vs := build(t, "ssd7", map[string]any{"batch_norm": c.opt})
		seq := bb.(*backbone.SSD7).Base.Layers[0].(*nn.Seq)
		x := ts.MustRandn([]int64{2, 3, 64, 64}, gotch.Float, gotch.CPU)
		gradMode(t, false, func() {
			conv := seq.Layers[0].Forward(x, false)
			scale := absMax(conv)
			mean := conv.MustMeanDim([]int64{0, 2, 3}, false, gotch.Float, true)
			feats, err := bb.Forward(x, true)
			if err != nil {
				t.Fatal(err)
			}
			dropAll(feats)
			rm := mustGet(t, vs, "base_net.0.1.running_mean")
			want := torch.MulScalar(mean, c.momentum)
			mean.MustDrop()
			// The batch mean is a float32 sum of 2·64·64 values that batch norm sums in
			// another order than MeanDim: pairwise summation keeps each within about
			// log2(8192)·2^-24 ≈ 8e-7 of max |conv output|, times the momentum, so 1e-5 of
			// that holds with room while a wrong momentum is off by its whole difference.
			if d := maxAbsDiff(rm, want); d > 1e-5*c.momentum*scale {
				t.Errorf("%s: running_mean off by %g from %g × the batch mean", c.opt, d, c.momentum)
			}
			want.MustDrop()

			// eval with running mean 0 and variance 0: y = x / sqrt(eps) · weight + bias.
			bn := seq.Layers[1]
			zero := ts.MustZeros([]int64{1, 32, 1, 1}, gotch.Float, gotch.CPU)
			one := ts.MustOnes([]int64{1, 32, 1, 1}, gotch.Float, gotch.CPU)
			for _, v := range []string{"base_net.0.1.running_mean", "base_net.0.1.running_var"} {
				mustGet(t, vs, v).Copy_(zero.MustView([]int64{32}, false))
			}
			y := bn.Forward(one, false)
			if got := y.MustMax(false).Float64Values(true)[0]; math.Abs(got-1/math.Sqrt(c.eps)) > 1e-3*got {
				t.Errorf("%s: eval output %v for input 1 with zero statistics, want 1/sqrt(%g) = %v", c.opt, got, c.eps, 1/math.Sqrt(c.eps))
			}
			y.MustDrop()
			zero.MustDrop()
			one.MustDrop()
		})
		x.MustDrop()
	}
}

// TestSSD7ForwardBackward runs forward and backward in training mode (batch 2, 300×300):
// shapes and a finite, non-zero gradient for every parameter.
func TestSSD7ForwardBackward(t *testing.T) {
	bb, vs := build(t, "ssd7", nil)
	checkBackboneBackward(t, bb, vs, []int64{2, 3, 300, 300}, []int64{37, 18, 9, 4}, "")
}

// TestSSD7Errors checks option validation and the inputs Forward refuses.
func TestSSD7Errors(t *testing.T) {
	root := gnn.NewVarStore(gotch.CPU).Root()
	checkBuildError(t, root, "ssd7", map[string]any{"batch_norm": "caffe"}, `batch_norm must be "keras" or "torch"`)
	bb, _ := build(t, "ssd7", nil)
	checkForwardError(t, bb, []int64{1, 3, 63, 300}, false, "at least 64x64")
	checkForwardError(t, bb, []int64{1, 3, 64, 127}, true, "batch of at least 2")
}

// TestSSD7ForwardFreesIntermediates runs the eval forward pass repeatedly (batch 1,
// 300×300, 3 + 20 passes) and checks that the C heap stays flat (at most 8 KB a pass).
func TestSSD7ForwardFreesIntermediates(t *testing.T) {
	skipShort(t, "memory check")
	bb, _ := build(t, "ssd7", nil)
	checkEvalMemory(t, backboneEval(bb), []int64{1, 3, 300, 300}, 3, 20, 8<<10)
}

// TestSSD7TrainsOnShapes trains the ssd7 base's whole model (backbone, ssd head, its
// anchors, the multibox loss) on the first two images of a shapes dataset, batch 2, SGD
// lr 0.01 with momentum 0.9 for 20 steps (weights drawn after torch.ManualSeed(0)), and checks that the loss falls below 60% of its
// start.
func TestSSD7TrainsOnShapes(t *testing.T) {
	if testing.Short() {
		t.Skip("training skipped in -short mode")
	}
	e := loadBase(t, "ssd7")
	torch.ManualSeed(0)
	gen, m := buildBase(t, e)
	priors, err := gen.Priors()
	if err != nil {
		t.Fatal(err)
	}
	defer priors.MustDrop()
	matcher, err := target.NewMatcher(priors, 0.5, boxes.DefaultVariances)
	if err != nil {
		t.Fatal(err)
	}
	defer matcher.Close()
	images, gtLoc, gtLabels := shapesBatch(t, e.Data.Train, 2, gen, matcher, e.Data.Mean, e.Data.Std)
	defer images.MustDrop()
	defer gtLoc.MustDrop()
	defer gtLabels.MustDrop()

	_, params := m.Parameters("")
	opt, err := optimizer.Build(registry.Ref{Type: "sgd", Options: map[string]any{"lr": 0.01, "momentum": 0.9}},
		[]optimizer.Group{{Name: "all", Params: params, LR: 0.01}})
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Close()
	lossFn, err := loss.Build(registry.Ref{Type: "multibox"})
	if err != nil {
		t.Fatal(err)
	}
	var losses []float64
	start := time.Now()
	gradMode(t, true, func() {
		for step := 0; step < 20; step++ {
			opt.ZeroGrad()
			total, err := trainStep(m, lossFn, images, gtLoc, gtLabels)
			if err != nil {
				t.Fatal(err)
			}
			if err := opt.Step(); err != nil {
				t.Fatal(err)
			}
			losses = append(losses, total)
		}
	})
	t.Logf("20 steps in %v; loss %.3f -> %.3f (%v)", time.Since(start), losses[0], losses[len(losses)-1], rounded(losses))
	if !(losses[len(losses)-1] < 0.6*losses[0]) {
		t.Errorf("loss went from %.3f to %.3f, want below 60%% of the start", losses[0], losses[len(losses)-1])
	}
}

// trainStep runs forward, the loss and backward, returning the loss.
func trainStep(m *model.SSD, lossFn loss.Loss, images, gtLoc, gtLabels *ts.Tensor) (float64, error) {
	conf, loc, err := m.Forward(images, true)
	if err != nil {
		return 0, err
	}
	defer conf.MustDrop()
	defer loc.MustDrop()
	reg, cls, err := lossFn.Forward(conf, loc, gtLabels, gtLoc)
	if err != nil {
		return 0, err
	}
	total := reg.MustAdd(cls, true)
	cls.MustDrop()
	defer total.MustDrop()
	total.MustBackward()
	return total.Float64Values()[0], nil
}

// shapesBatch builds one batch of the first n images of a shapes dataset: resized to the
// anchors' image size and normalised ("test" transform), with their targets encoded.
func shapesBatch(t *testing.T, ref registry.Ref, n int, gen anchors.Generator, matcher *target.Matcher, mean, std []float64) (images, loc, labels *ts.Tensor) {
	t.Helper()
	ds, err := dataset.Build(ref, dataset.Env{BaseDir: "."})
	if err != nil {
		t.Fatal(err)
	}
	size := gen.ImageSize()
	tf, err := transform.Build(registry.Ref{Type: "test", Options: map[string]any{"size": size, "mean": mean, "std": std}})
	if err != nil {
		t.Fatal(err)
	}
	var ims, locs, labs []ts.Tensor
	defer func() {
		for _, l := range [][]ts.Tensor{ims, locs, labs} {
			for i := range l {
				l[i].MustDrop()
			}
		}
	}()
	for i := 0; i < min(n, ds.Len()); i++ {
		s, err := ds.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		x := loader.FromImage(s.ID, s.Image, s.Objects)
		if err := tf.Apply(x, rand.New(rand.NewPCG(1, uint64(i)))); err != nil {
			t.Fatal(err)
		}
		var flat []float32
		var lab []int64
		for j, b := range x.Boxes {
			flat = append(flat, b[0]/float32(x.W), b[1]/float32(x.H), b[2]/float32(x.W), b[3]/float32(x.H))
			lab = append(lab, int64(x.Labels[j]))
		}
		gb := ts.MustOfSlice(flat).MustView([]int64{int64(len(lab)), 4}, true)
		gl := ts.MustOfSlice(lab)
		l, c, err := matcher.Match(gb, gl)
		gb.MustDrop()
		gl.MustDrop()
		if err != nil {
			t.Fatal(err)
		}
		locs, labs = append(locs, *l), append(labs, *c)
		im := ts.MustOfSlice(x.Image).MustView([]int64{int64(x.H), int64(x.W), 3}, true)
		ims = append(ims, *im.MustPermute([]int64{2, 0, 1}, true))
	}
	return ts.MustStack(ims, 0), ts.MustStack(locs, 0), ts.MustStack(labs, 0)
}

func rounded(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = math.Round(x*100) / 100
	}
	return out
}
