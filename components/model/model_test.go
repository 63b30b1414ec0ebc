package model

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
)

func TestFeatureMapSizes(t *testing.T) {
	for kind := range variants {
		m := buildVariant(t, kind)
		got, err := m.FeatureMapSizes(300)
		if err != nil {
			t.Fatal(err)
		}
		if want := []int{19, 10, 5, 3, 2, 1}; !slices.Equal(got, want) {
			t.Errorf("%s: feature maps for 300: %v, want %v", kind, got, want)
		}
		if got, err := m.FeatureMapSizes(16); err != nil || len(got) != 6 || got[0] != 1 {
			t.Errorf("%s: feature maps for 16: %v, %v", kind, got, err)
		}
		if _, err := m.FeatureMapSizes(0); err == nil {
			t.Errorf("%s: image size 0 accepted", kind)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	vs := nn.NewVarStore(gotch.CPU)
	bb := registry.Ref{Type: "mobilenet_v1"}
	if _, err := Build(vs, bb, registry.Ref{Type: "ssd"}, []int{6, 6}, 21); err == nil || !strings.Contains(err.Error(), "6 feature maps") {
		t.Errorf("wrong number of boxes-per-location values: %v", err)
	}
	if _, err := Build(nn.NewVarStore(gotch.CPU), bb, registry.Ref{Type: "ssd_lit"}, sixBoxes, 21); err == nil || !strings.Contains(err.Error(), `did you mean "ssd_lite"`) {
		t.Errorf("unknown head: %v", err)
	}
	if _, err := Build(nn.NewVarStore(gotch.CPU), registry.Ref{Type: "mobilenet_v1", Options: map[string]any{"extras": "lite"}}, registry.Ref{Type: "ssd"}, sixBoxes, 21); err == nil || !strings.Contains(err.Error(), "extras") {
		t.Errorf("bad extras: %v", err)
	}
	m := buildVariant(t, "mb1_ssd_lite")
	x := ts.MustZeros([]int64{1, 4, 64, 64}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	if _, _, err := m.Forward(x, false); err == nil || !strings.Contains(err.Error(), "[B,3,H,W]") {
		t.Errorf("4-channel input: %v", err)
	}
}

// TestForwardBackward runs a training step's forward and backward passes and checks
// that every parameter gets a gradient and that batch norms update their statistics.
func TestForwardBackward(t *testing.T) {
	defer withGrad(t)()
	m := buildVariant(t, "mb1_ssd_lite")
	root := m.VarStore().Root()
	before := cloneValues(root.MustGet("base_net.3.4.running_var"))
	defer before.MustDrop()
	x := ts.MustRandn([]int64{2, 3, 160, 160}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	conf, loc, err := m.Forward(x, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := conf.MustSize(); !slices.Equal(got, []int64{2, 6 * (10*10 + 5*5 + 3*3 + 2*2 + 1 + 1), 21}) {
		t.Errorf("conf shape %v", got)
	}
	if !conf.MustRequiresGrad() || !loc.MustRequiresGrad() {
		t.Fatal("outputs do not require grad")
	}
	a := conf.MustSum(gotch.Float, true)
	b := loc.MustSum(gotch.Float, true)
	loss := a.MustAdd(b, true)
	b.MustDrop()
	loss.MustBackward()
	loss.MustDrop()
	names, params := m.Parameters("")
	if len(names) == 0 {
		t.Fatal("no parameters")
	}
	for i, p := range params {
		g := p.MustGrad(false)
		if !g.MustDefined() {
			t.Errorf("%s has no gradient", names[i])
			continue
		}
		s := g.MustAbs(true).MustSum(gotch.Float, true)
		if v := s.Float64Values()[0]; !(v > 0) {
			t.Errorf("%s: |grad| sums to %v", names[i], v)
		}
		s.MustDrop()
	}
	if d := diffOf(t, "running_var", root.MustGet("base_net.3.4.running_var"), before).Abs; d == 0 {
		t.Error("train-mode forward left the running variance unchanged")
	}
	baseNames, _ := m.Parameters("base_net")
	if len(baseNames) != 27*3 { // 27 convolutions (no bias), 27 batch norms
		t.Errorf("base_net has %d parameters, want 81", len(baseNames))
	}
}

// TestForwardFreesIntermediates checks that repeated training-mode forward passes do
// not grow the C heap: leaking the intermediates of one 1×3×128×128 pass would add
// megabytes per pass (measured here: under 1.2 KB per pass, noise).
func TestForwardFreesIntermediates(t *testing.T) {
	defer withGrad(t)()
	m := buildVariant(t, "mb1_ssd")
	x := ts.MustRandn([]int64{1, 3, 128, 128}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	g, err := torch.MeasureGrowth(5, 20, func(int) error { return forwardDrop(m, x, true) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("per forward pass: C heap %+.0f bytes, RSS %+.0f bytes", g.MallocPerStep(), g.RSSPerStep())
	if g.MallocPerStep() > 16<<10 {
		t.Errorf("C heap grew by %.0f bytes per forward pass", g.MallocPerStep())
	}
}

// TestLoadStateDictReport feeds a state_dict with missing, unexpected and mis-shaped
// keys and checks the report (and that nothing else is touched).
func TestLoadStateDictReport(t *testing.T) {
	src := buildVariant(t, "mb1_ssd_lite")
	hashInit(t, src.VarStore())
	dst := buildVariant(t, "mb1_ssd_lite")
	named := map[string]*ts.Tensor{}
	srcRoot := src.VarStore().Root()
	for _, n := range src.VariableNames() {
		named[n] = srcRoot.MustGet(n)
	}
	delete(named, "extras.0.0.bias")
	wrong := ts.MustZeros([]int64{3, 3}, gotch.Float, gotch.CPU)
	defer wrong.MustDrop()
	named["base_net.0.0.weight"] = wrong
	named["base_net.0.1.num_batches_tracked"] = wrong
	named["fc.weight"] = wrong
	named["extras.0.0.num_batches_tracked"] = wrong // not a batch norm here: unexpected

	dstRoot := dst.VarStore().Root()
	keep := cloneValues(dstRoot.MustGet("base_net.0.0.weight"))
	defer keep.MustDrop()
	rep, err := LoadStateDict(dst.VarStore(), named, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Missing, []string{"extras.0.0.bias"}) {
		t.Errorf("missing %v", rep.Missing)
	}
	if !slices.Equal(rep.Unexpected, []string{"extras.0.0.num_batches_tracked", "fc.weight"}) {
		t.Errorf("unexpected %v", rep.Unexpected)
	}
	if len(rep.Mismatched) != 1 || rep.Mismatched[0].Name != "base_net.0.0.weight" || !slices.Equal(rep.Mismatched[0].File, []int64{3, 3}) {
		t.Errorf("mismatched %+v", rep.Mismatched)
	}
	if !slices.Equal(rep.Ignored, []string{"base_net.0.1.num_batches_tracked"}) {
		t.Errorf("ignored %v", rep.Ignored)
	}
	if len(rep.Loaded) != len(src.VariableNames())-2 || rep.Complete() || rep.Err() == nil {
		t.Errorf("report %v", rep)
	}
	t.Log(rep.Err())
	if d := diffOf(t, "kept weight", dstRoot.MustGet("base_net.0.0.weight"), keep).Abs; d != 0 {
		t.Error("a mis-shaped key changed the variable")
	}
	if d := diffOf(t, "loaded", dstRoot.MustGet("extras.1.0.weight"), srcRoot.MustGet("extras.1.0.weight")).Abs; d != 0 {
		t.Error("a matching key was not copied")
	}
	if dstRoot.MustGet("extras.1.0.weight").MustRequiresGrad() == false {
		t.Error("loading turned off requires_grad")
	}
}

func TestLoadOptions(t *testing.T) {
	src := buildVariant(t, "mb1_ssd")
	hashInit(t, src.VarStore())
	srcRoot := src.VarStore().Root()

	// A base-net-only checkpoint (keys without "base_net."), as the reference's --base_net.
	base := map[string]*ts.Tensor{}
	for _, n := range src.VariableNames() {
		if k, ok := strings.CutPrefix(n, "base_net."); ok {
			base[k] = srcRoot.MustGet(n)
		}
	}
	dst := buildVariant(t, "mb1_ssd")
	rep, err := LoadStateDict(dst.VarStore(), base, LoadOptions{AddPrefix: "base_net."})
	if err != nil || !rep.Complete() || len(rep.Loaded) != len(base) {
		t.Errorf("base-net load: %v, %v", rep, err)
	}

	// A DataParallel checkpoint of another SSD, heads skipped (--pretrained_ssd).
	wrapped := map[string]*ts.Tensor{}
	for _, n := range src.VariableNames() {
		wrapped["module."+n] = srcRoot.MustGet(n)
	}
	dst2 := buildVariant(t, "mb1_ssd")
	rep, err = LoadStateDict(dst2.VarStore(), wrapped, LoadOptions{Skip: []string{"classification_headers", "regression_headers."}})
	if err != nil || !rep.Complete() {
		t.Fatalf("pretrained-ssd load: %v, %v", rep, err)
	}
	for _, n := range rep.Loaded {
		if strings.Contains(n, "headers") {
			t.Errorf("loaded skipped %s", n)
		}
	}
	if len(rep.Ignored) != 24 {
		t.Errorf("ignored %d head keys, want 24", len(rep.Ignored))
	}
}

func TestLoadPTHErrors(t *testing.T) {
	m := buildVariant(t, "mb1_ssd_lite")
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pth")
	if err := os.WriteFile(bad, []byte("not a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{bad, filepath.Join(dir, "absent.pth")} {
		if _, err := LoadPTH(m.VarStore(), p, LoadOptions{}); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("LoadPTH(%s): %v", p, err)
		}
	}
}

// TestVarStoreRoundTrip saves with gotch's VarStore.Save and loads into a fresh model.
func TestVarStoreRoundTrip(t *testing.T) {
	// VarStore.Load copies under gotch's ts.NoGrad, which switches grad mode off on the
	// calling OS thread only: the goroutine must not move threads in between (CI saw the
	// copy run with grad mode on once: "a leaf Variable that requires grad is being used in
	// an in-place operation").
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	a := buildVariant(t, "mb1_ssd_lite")
	hashInit(t, a.VarStore())
	path := filepath.Join(t.TempDir(), "model.ot")
	if err := a.VarStore().Save(path); err != nil {
		t.Fatal(err)
	}
	b := buildVariant(t, "mb1_ssd_lite")
	if err := b.VarStore().Load(path); err != nil {
		t.Fatal(err)
	}
	ra, rb := a.VarStore().Root(), b.VarStore().Root()
	for _, n := range a.VariableNames() {
		if d := diffOf(t, n, ra.MustGet(n), rb.MustGet(n)).Abs; d != 0 {
			t.Errorf("%s differs by %g after the round trip", n, d)
		}
	}
	if len(a.VariableNames()) != len(b.VariableNames()) {
		t.Errorf("%d vs %d variables", len(a.VariableNames()), len(b.VariableNames()))
	}
}

// TestFoldBatchNormsFreed: Close frees the kernels and biases that FoldBatchNorms made
// (mb1-ssd: 27 folded kernels, 13 MB, per model; leaking them would grow the C heap by
// that much per model built, folded, run and closed).
func TestFoldBatchNormsFreed(t *testing.T) {
	x := ts.MustRandn([]int64{1, 3, 128, 128}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	g, err := torch.MeasureGrowth(2, 6, func(int) error {
		m := buildVariant(t, "mb1_ssd")
		defer m.Close()
		if n, err := m.FoldBatchNorms(); err != nil || n != 27 {
			return fmt.Errorf("FoldBatchNorms: %d folded, %v", n, err)
		}
		return torch.NoGrad(func() error { return forwardDrop(m, x, false) })
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("per model: C heap %+.0f bytes, RSS %+.0f bytes", g.MallocPerStep(), g.RSSPerStep())
	if g.MallocPerStep() > 1<<20 {
		t.Errorf("C heap grew by %.0f bytes per folded model", g.MallocPerStep())
	}
}

// forwardDrop runs m on x and frees the outputs.
func forwardDrop(m *SSD, x *ts.Tensor, train bool) error {
	conf, loc, err := m.Forward(x, train)
	if err != nil {
		return err
	}
	conf.MustDrop()
	loc.MustDrop()
	return nil
}
