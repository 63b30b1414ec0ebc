package backbone_test

import (
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"

	"github.com/ssdrunner/ssdrunner/components/model"
	"github.com/ssdrunner/ssdrunner/internal/reftest"
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
	checkModules(t, bb, "base_net", "extras")
	if want.Params["base_net"] != 8543296 || want.Params["extras"] != 3773696 {
		t.Errorf("golden parameter counts %v, want base_net 8543296 and extras 3773696", want.Params)
	}
}

// TestResNet50Synthetic compares the six feature maps computed from formula weights
// with those of torchvision's layers (eval mode, 300×300).
func TestResNet50Synthetic(t *testing.T) {
	want := readGolden(t, "resnet50_golden.json").Variants["default"]
	checkBackboneSynthetic(t, "resnet50", nil, "default", want)
}

// TestResNet50TorchvisionState loads a whole torchvision resnet50 state_dict (what an
// ImageNet checkpoint holds, layer4 and fc included) with the prefix "base_net." and
// compares layer3's output with torchvision's (eval, 300×300, layer3's first block at
// stride 1): max |diff| / max |ref| ≤ reftest.Float32Net. The state_dict (~100 MB) is
// written by testdata/gen_golden_resnet50.py --set full at test time; the test is skipped
// (internal/reftest) without the interpreter with torchvision, and in -short mode.
func TestResNet50TorchvisionState(t *testing.T) {
	reftest.RequirePython(t, "torch", "torchvision")
	dir := t.TempDir()
	if out, err := exec.Command(reftest.Python(), filepath.Join("testdata", "gen_golden_resnet50.py"), dir, "--set", "full").CombinedOutput(); err != nil {
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

	// The same file as an SSD's init.base_net, as the ssd-resnet50 base sets it up:
	// strict but for ignore_keys ["layer4", "fc"].
	ssd, err := model.Build(nn.NewVarStore(gotch.CPU), registry.Ref{Type: "resnet50"}, registry.Ref{Type: "ssd"}, []int{4, 6, 6, 6, 4, 4}, 81)
	if err != nil {
		t.Fatal(err)
	}
	irep, err := ssd.Init(model.InitConfig{BaseNet: filepath.Join(dir, "resnet50_state.pth"), IgnoreKeys: []string{"layer4", "fc"}})
	if err != nil {
		t.Fatalf("init.base_net with ignore_keys: %v", err)
	}
	if len(irep.Loaded) != len(rep.Loaded) || len(irep.Ignored) != len(rep.Unexpected)+len(rep.Ignored) || len(irep.UnmatchedIgnore) != 0 {
		t.Errorf("init.base_net: %v; want %d loaded and %d ignored", irep, len(rep.Loaded), len(rep.Unexpected)+len(rep.Ignored))
	}

	want := readPickle(t, filepath.Join(dir, "resnet50_layer3.pth"))
	feats := evalForward(t, bb, want["input"])
	defer dropAll(feats)
	ref := want["layer3"]
	if got, exp := feats[0].MustSize(), ref.MustSize(); !slices.Equal(got, exp) {
		t.Fatalf("layer3 shape %v, torchvision %v", got, exp)
	}
	// layer3 is 40 float32 convolutions deep, summed in a CPU-dependent order: the
	// bound of such networks, reftest.Float32Net, applies.
	d := reftest.Compare(feats[0].Float64Values(), ref.Float64Values())
	t.Logf("layer3 [1 1024 38 38]: %v", d)
	if !d.Within(reftest.Float32Net) {
		t.Errorf("layer3: %v, want ≤ %g", d, reftest.Float32Net)
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
	std := stdDev(w)
	if want := math.Sqrt(2.0 / (9 * 256)); math.Abs(std-want) > 0.02*want {
		t.Errorf("base_net.layer3.0.conv2.weight std %.5g, want %.5g (kaiming_normal_, fan_out)", std, want)
	}
}

// TestResNet50ForwardBackward runs forward and backward in training mode at the smallest
// input (257×257, batch 2): feature shapes match Channels() and every parameter gets a
// finite, non-zero gradient.
func TestResNet50ForwardBackward(t *testing.T) {
	skipShort(t, "ResNet-50 backward pass")
	bb, vs := build(t, "resnet50", nil)
	checkBackboneBackward(t, bb, vs, []int64{2, 3, 257, 257}, []int64{33, 17, 9, 5, 3, 1}, "")
}

// TestResNet50Errors checks option validation and the inputs Forward refuses.
func TestResNet50Errors(t *testing.T) {
	root := nn.NewVarStore(gotch.CPU).Root()
	checkBuildError(t, root, "resnet50", map[string]any{"extras_init": "kaiming"}, `extras_init must be "xavier_uniform" or "torch"`)
	bb, _ := build(t, "resnet50", nil)
	checkForwardError(t, bb, []int64{1, 3, 256, 300}, false, "at least 257x257")
	checkForwardError(t, bb, []int64{1, 3, 257, 257}, true, "batch of at least 2")
}

// TestResNet50ForwardFreesIntermediates runs the eval forward pass repeatedly (batch 1,
// 257×257, 2 + 6 passes) and checks that the C heap stays flat (at most 32 KB a pass):
// leaking the smallest intermediate (256 floats of the last map) a pass would not show,
// but any tensor of the base net (at least 1024×33×33 floats, 4.4 MB) or a whole extra
// block would.
func TestResNet50ForwardFreesIntermediates(t *testing.T) {
	skipShort(t, "memory check")
	bb, _ := build(t, "resnet50", nil)
	checkEvalMemory(t, backboneEval(bb), []int64{1, 3, 257, 257}, 2, 6, 32<<10)
}
