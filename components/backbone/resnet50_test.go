package backbone_test

import (
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/pickle"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/backbone"
	"github.com/ssdrunner/ssdrunner/components/model"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
)

// TestResNet50StateDictNames checks that the variables are exactly torchvision's
// resnet50 state_dict entries of conv1, bn1 and layer1…3 under "base_net." plus the
// extra blocks (names and shapes, from testdata/resnet50_golden.json), with the
// parameter counts per module (8,543,296 and 3,773,696) and Channels().
func TestResNet50StateDictNames(t *testing.T) {
	want := readGolden(t, "resnet50_golden.json").Variants["default"]
	bb, vs := build(t, "resnet50", nil)
	checkStructure(t, bb, vs, want)
	if got := bb.Modules(); strings.Join(got, ",") != "base_net,extras" {
		t.Errorf("Modules() = %v", got)
	}
	if want.Params["base_net"] != 8543296 || want.Params["extras"] != 3773696 {
		t.Errorf("golden parameter counts %v, want base_net 8543296 and extras 3773696", want.Params)
	}
}

// TestResNet50Synthetic compares the six feature maps computed from formula weights
// with those of torchvision's layers (eval mode, 300×300).
func TestResNet50Synthetic(t *testing.T) {
	want := readGolden(t, "resnet50_golden.json").Variants["default"]
	if want.Synthetic == nil {
		t.Fatal("golden has no synthetic features")
	}
	bb, vs := build(t, "resnet50", nil)
	fillSynthetic(vs)
	hw := int64(want.Synthetic.InputHW)
	x := syntheticTensor("input", []int64{1, 3, hw, hw})
	defer x.MustDrop()
	var feats []*ts.Tensor
	var err error
	start := time.Now()
	gradMode(t, false, func() { feats, err = bb.Forward(x, false) })
	if err != nil {
		t.Fatal(err)
	}
	defer dropAll(feats)
	t.Logf("eval forward, batch 1, 300×300: %v", time.Since(start))
	if d := compareSynthetic(t, feats, want.Synthetic.Features); d > syntheticTolerance {
		t.Errorf("max |diff| / max(1, max |ref|) = %.3g, want ≤ %g", d, syntheticTolerance)
	} else {
		t.Logf("max |diff| / max(1, max |ref|) = %.3g", d)
	}
}

// TestResNet50TorchvisionState loads a whole torchvision resnet50 state_dict (what an
// ImageNet checkpoint holds, layer4 and fc included) with the prefix "base_net." and
// compares layer3's output with torchvision's (eval, 300×300, layer3's first block at
// stride 1): max |diff| ≤ 1e-4. The state_dict (~100 MB) is written by
// testdata/gen_golden_resnet50.py --set full at test time; the test is skipped without
// /usr/bin/python3 and torchvision, and in -short mode.
func TestResNet50TorchvisionState(t *testing.T) {
	if testing.Short() {
		t.Skip("torchvision comparison skipped in -short mode (it runs python3)")
	}
	if out, err := exec.Command(referencePython, "-c", "import torchvision").CombinedOutput(); err != nil {
		t.Skipf("torchvision comparison skipped: %s cannot import torchvision: %v %s", referencePython, err, lastLine(out))
	}
	dir := t.TempDir()
	if out, err := exec.Command(referencePython, filepath.Join("testdata", "gen_golden_resnet50.py"), dir, "--set", "full").CombinedOutput(); err != nil {
		t.Fatalf("gen_golden_resnet50.py: %v\n%s", err, out)
	}
	bb, vs := build(t, "resnet50", nil)
	rep, err := model.LoadPTH(vs, filepath.Join(dir, "resnet50_state.pth"), model.LoadOptions{AddPrefix: "base_net."})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Missing) > 0 || len(rep.Mismatched) > 0 {
		t.Fatalf("load: %v", rep)
	}
	for _, k := range rep.Unexpected {
		if !strings.HasPrefix(k, "base_net.layer4.") && !strings.HasPrefix(k, "base_net.fc.") {
			t.Errorf("unexpected key %s (only layer4 and fc may be left over)", k)
		}
	}
	for _, k := range rep.Ignored {
		if !strings.HasSuffix(k, ".num_batches_tracked") {
			t.Errorf("ignored key %s", k)
		}
	}
	t.Logf("loaded %d tensors; %d keys of layer4 and fc left over", len(rep.Loaded), len(rep.Unexpected))

	want, err := pickle.Decode(filepath.Join(dir, "resnet50_layer3.pth"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, x := range want {
			x.MustDrop()
		}
	}()
	var feats []*ts.Tensor
	gradMode(t, false, func() { feats, err = bb.Forward(want["input"], false) })
	if err != nil {
		t.Fatal(err)
	}
	defer dropAll(feats)
	ref := want["layer3"]
	if got, exp := feats[0].MustSize(), ref.MustSize(); !slices.Equal(got, exp) {
		t.Fatalf("layer3 shape %v, torchvision %v", got, exp)
	}
	d := maxAbsDiff(feats[0], ref)
	mx := ref.MustAbs(false).MustMax(true).Float64Values(true)[0]
	t.Logf("layer3 [1 1024 38 38]: max |diff| %.3g (max |ref| %.3g)", d, mx)
	if d > 1e-4 {
		t.Errorf("layer3: max |diff| %.3g, want ≤ 1e-4", d)
	}
}

// TestResNet50Init checks the initialisation: base-net convolutions N(0, 2/(K·K·Out))
// (torchvision), extra convolutions xavier_uniform (NVIDIA) or torch's default.
func TestResNet50Init(t *testing.T) {
	for _, c := range []struct {
		init  string
		bound func(in, out, k float64) float64
	}{
		{"xavier_uniform", func(in, out, k float64) float64 { return math.Sqrt(6 / (in*k*k + out*k*k)) }},
		{"torch", func(in, _, k float64) float64 { return 1 / math.Sqrt(in*k*k) }},
	} {
		_, vs := build(t, "resnet50", map[string]any{"extras_init": c.init})
		w := mustGet(t, vs, "extras.0.3.weight") // 256 -> 512, 3x3
		b := c.bound(256, 512, 3)
		if mx := absMax(w); mx > b*(1+1e-6) || mx < 0.95*b {
			t.Errorf("%s: extras.0.3.weight max |w| %.4g, want just under %.4g", c.init, mx, b)
		}
	}
	_, vs := build(t, "resnet50", nil)
	w := mustGet(t, vs, "base_net.layer3.0.conv2.weight") // 256 -> 256, 3x3
	std := w.MustStd(true, false).Float64Values(true)[0]
	if want := math.Sqrt(2.0 / (9 * 256)); math.Abs(std-want) > 0.02*want {
		t.Errorf("base_net.layer3.0.conv2.weight std %.5g, want %.5g (kaiming_normal_, fan_out)", std, want)
	}
}

// TestResNet50ForwardBackward runs forward and backward in training mode at the smallest
// input (257×257, batch 2): feature shapes match Channels() and every parameter gets a
// finite, non-zero gradient.
func TestResNet50ForwardBackward(t *testing.T) {
	if testing.Short() {
		t.Skip("ResNet-50 backward pass skipped in -short mode")
	}
	bb, vs := build(t, "resnet50", nil)
	x := ts.MustRandn([]int64{2, 3, 257, 257}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	start := time.Now()
	gradMode(t, true, func() {
		feats, err := bb.Forward(x, true)
		if err != nil {
			t.Fatal(err)
		}
		defer dropAll(feats)
		checkShapes(t, feats, 2, bb.Channels(), []int64{33, 17, 9, 5, 3, 1})
		backwardAll(t, vs, feats)
	})
	t.Logf("forward+backward, batch 2, 257×257: %v", time.Since(start))
}

// TestResNet50Errors checks option validation and the inputs Forward refuses.
func TestResNet50Errors(t *testing.T) {
	root := nn.NewVarStore(gotch.CPU).Root()
	if _, err := backbone.Build(registry.Ref{Type: "resnet50", Options: map[string]any{"extras_init": "kaiming"}}, root); err == nil ||
		!strings.Contains(err.Error(), `extras_init must be "xavier_uniform" or "torch"`) {
		t.Errorf("bad extras_init: error %v", err)
	}
	bb, _ := build(t, "resnet50", nil)
	small := ts.MustZeros([]int64{1, 3, 256, 300}, gotch.Float, gotch.CPU)
	defer small.MustDrop()
	if _, err := bb.Forward(small, false); err == nil || !strings.Contains(err.Error(), "at least 257x257") {
		t.Errorf("256x300 input: error %v", err)
	}
	one := ts.MustZeros([]int64{1, 3, 257, 257}, gotch.Float, gotch.CPU)
	defer one.MustDrop()
	if _, err := bb.Forward(one, true); err == nil || !strings.Contains(err.Error(), "batch of at least 2") {
		t.Errorf("training on one 257x257 image: error %v", err)
	}
}

// TestResNet50ForwardFreesIntermediates runs the eval forward pass repeatedly (batch 1,
// 257×257) and checks that the C heap stays flat: leaking the smallest intermediate
// (256 floats of the last map) a pass would not show, but any tensor of the base net
// (at least 1024×33×33 floats, 4.4 MB) or a whole extra block would.
func TestResNet50ForwardFreesIntermediates(t *testing.T) {
	if testing.Short() {
		t.Skip("memory check skipped in -short mode")
	}
	bb, _ := build(t, "resnet50", nil)
	x := ts.MustRandn([]int64{1, 3, 257, 257}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	var g torch.Growth
	gradMode(t, false, func() {
		var err error
		g, err = torch.MeasureGrowth(2, 6, func(int) error {
			feats, err := bb.Forward(x, false)
			dropAll(feats)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("per pass: C heap %+.1f KB, RSS %+.1f KB", g.MallocPerStep()/1024, g.RSSPerStep()/1024)
	if g.MallocPerStep() > 32<<10 {
		t.Errorf("the C heap grew by %.1f KB per forward pass", g.MallocPerStep()/1024)
	}
}

// checkShapes checks that feature map i is [batch, channels[i], hw[i], hw[i]].
func checkShapes(t *testing.T, feats []*ts.Tensor, batch int64, channels []int, hw []int64) {
	t.Helper()
	if len(feats) != len(hw) {
		t.Fatalf("%d feature maps, want %d", len(feats), len(hw))
	}
	for i, f := range feats {
		sz := f.MustSize()
		if len(sz) != 4 || sz[0] != batch || sz[1] != int64(channels[i]) || sz[2] != hw[i] || sz[3] != hw[i] {
			t.Errorf("feature %d: shape %v, want [%d %d %d %d]", i, sz, batch, channels[i], hw[i], hw[i])
		}
	}
}

func mustGet(t *testing.T, vs *nn.VarStore, name string) *ts.Tensor {
	t.Helper()
	v, err := vs.Root().Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func absMax(x *ts.Tensor) float64 {
	return x.MustAbs(false).MustMax(true).Float64Values(true)[0]
}
