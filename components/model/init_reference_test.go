package model

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/reftest"
	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// forwardEval runs m in evaluation mode without gradients; the caller owns conf and loc.
func forwardEval(t *testing.T, m *SSD, x *ts.Tensor) (conf, loc *ts.Tensor) {
	t.Helper()
	err := torch.NoGrad(func() (err error) { conf, loc, err = m.Forward(x, false); return err })
	if err != nil {
		t.Fatal(err)
	}
	return conf, loc
}

// channel returns x[..., c] of a [B,N,C] tensor (a new tensor).
func channel(x *ts.Tensor, c int64) *ts.Tensor { return x.MustSelect(2, c, false) }

// TestInitReference compares SSD.Init with the reference's SSD.init_from_base_net,
// load and init_from_pretrained_ssd on the reference's own checkpoints
// (testdata/init_golden.py, run at test time: the files are ~180 MB).
func TestInitReference(t *testing.T) {
	ref := reftest.Reference(t)
	out := t.TempDir()
	cmd := exec.Command(reftest.Python(), filepath.Join("testdata", "init_golden.py"), ref, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("init_golden.py: %v\n%s", err, b)
	}
	file := func(name string) string { return filepath.Join(out, name) }
	x := readNpy(t, file("input.npy"))
	defer x.MustDrop()
	voc := writeLabels(t, vocLabels)

	for _, kind := range []string{"mb1_ssd", "mb1_ssd_lite"} {
		t.Run(kind, func(t *testing.T) {
			full, base := file(kind+"_21.pth"), file(kind+"_base.pth")
			conf21, loc21 := readNpy(t, file(kind+"_conf21.npy")), readNpy(t, file(kind+"_loc21.npy"))
			defer conf21.MustDrop()
			defer loc21.MustDrop()

			// (a) init_from_base_net: the base net as the reference loads it, every
			// other convolution weight xavier-initialised (the reference's too).
			t.Run("base_net", func(t *testing.T) {
				m := buildVariant(t, kind)
				rep, err := m.Init(InitConfig{BaseNet: base})
				if err != nil {
					t.Fatal(err)
				}
				refA, err := decodePTH(file(kind + "_a.pth"))
				if err != nil {
					t.Fatal(err)
				}
				defer dropAll(refA)
				n := equalTo(t, "base net", m, refA, func(n string) bool { return strings.HasPrefix(n, "base_net.") })
				if n != len(rep.Loaded) || n == 0 {
					t.Errorf("compared %d base-net variables, loaded %d", n, len(rep.Loaded))
				}
				var refConvs []string
				for k, v := range refA {
					if !strings.HasPrefix(k, "base_net.") && len(v.MustSize()) == 4 {
						refConvs = append(refConvs, k)
						checkXavier(t, "reference "+k, v)
					}
				}
				slices.Sort(refConvs)
				if !slices.Equal(rep.Reinitialised, refConvs) {
					t.Errorf("re-initialised %v, the reference %v", rep.Reinitialised, refConvs)
				}
				root := m.VarStore().Root()
				for _, k := range rep.Reinitialised {
					checkXavier(t, k, root.MustGet(k))
				}
			})

			// (b) same classes: the reference's load; outputs as the reference's.
			t.Run("pretrained", func(t *testing.T) {
				m := buildVariant(t, kind)
				rep, err := m.Init(InitConfig{Pretrained: full})
				if err != nil || len(rep.Loaded) != len(m.VariableNames()) {
					t.Fatalf("%v, %v", rep, err)
				}
				conf, loc := forwardEval(t, m, x)
				defer conf.MustDrop()
				defer loc.MustDrop()
				for _, c := range []struct {
					what      string
					got, want *ts.Tensor
				}{{"conf", conf, conf21}, {"loc", loc, loc21}} {
					d := diffOf(t, c.what, c.got, c.want)
					t.Logf("%s: %v", c.what, d)
					if !d.Within(tolerance) {
						t.Errorf("%s: %v > %g", c.what, d, tolerance)
					}
				}
			})

			// (c) subsample into BACKGROUND, cat, dog, zebra.
			t.Run("subsample", func(t *testing.T) {
				m := buildClasses(t, kind, 4)
				rep, err := m.Init(InitConfig{Pretrained: full, OnClassMismatch: Subsample, PretrainedLabels: voc, Labels: fourLabels})
				if err != nil {
					t.Fatal(err)
				}
				t.Log(rep)
				conf, loc := forwardEval(t, m, x)
				defer conf.MustDrop()
				defer loc.MustDrop()
				ours21 := buildVariant(t, kind)
				if _, err := ours21.Init(InitConfig{Pretrained: full}); err != nil {
					t.Fatal(err)
				}
				conf21ours, loc21ours := forwardEval(t, ours21, x)
				defer conf21ours.MustDrop()
				defer loc21ours.MustDrop()
				for k, from := range []int64{0, 8, 12} {
					got := channel(conf, int64(k))
					want, same := channel(conf21, from), channel(conf21ours, from)
					// Both bounds are tolerance: our 4-class head sums each output in the
					// order of a GEMM of another shape than the 21-class one, so even our
					// own two models differ by float32 reordering; a wrong row (another
					// class's logits) differs by the logits' own magnitude.
					d := diffOf(t, "conf", got, want)
					e := diffOf(t, "conf", got, same)
					t.Logf("%s ← VOC %d: to the reference %v; to our 21-class model %v", fourLabels[k], from, d, e)
					if !d.Within(tolerance) || !e.Within(tolerance) {
						t.Errorf("%s: to the reference %v, to our 21-class model %v; want ≤ %g", fourLabels[k], d, e, tolerance)
					}
					got.MustDrop()
					want.MustDrop()
					same.MustDrop()
				}
				zebra := channel(conf, 3)
				defer zebra.MustDrop()
				for c := int64(0); c < 21; c++ {
					w := channel(conf21, c)
					// Another class's logits are independent draws: they differ by a
					// fraction of the logits' magnitude, 100 times the tolerance.
					if d := diffOf(t, "zebra", zebra, w); d.Rel < 100*tolerance {
						t.Errorf("zebra's logits are within %v of VOC class %d's", d, c)
					}
					w.MustDrop()
				}
				d := diffOf(t, "loc", loc, loc21)
				t.Logf("loc: %v", d)
				if !d.Within(tolerance) {
					t.Errorf("loc: %v > %g", d, tolerance)
				}
			})

			// (d) reinit: the reference's init_from_pretrained_ssd.
			t.Run("reinit", func(t *testing.T) {
				m := buildClasses(t, kind, 4)
				rep, err := m.Init(InitConfig{Pretrained: full})
				if err != nil {
					t.Fatal(err)
				}
				refD, err := decodePTH(file(kind + "_d.pth"))
				if err != nil {
					t.Fatal(err)
				}
				defer dropAll(refD)
				n := equalTo(t, "outside the heads", m, refD, func(n string) bool { return !isHead(n) })
				if n != len(rep.Loaded) {
					t.Errorf("compared %d variables, loaded %d", n, len(rep.Loaded))
				}
				var refConvs []string
				root := m.VarStore().Root()
				for k, v := range refD {
					if isHead(k) {
						if got, err := root.Get(k); err != nil || !slices.Equal(got.MustSize(), v.MustSize()) {
							t.Errorf("%s: reference shape %v, ours %v", k, v.MustSize(), err)
						}
						if len(v.MustSize()) == 4 {
							refConvs = append(refConvs, k)
							checkXavier(t, "reference "+k, v)
						}
					}
				}
				slices.Sort(refConvs)
				if !slices.Equal(rep.Reinitialised, refConvs) {
					t.Errorf("re-initialised %v, the reference %v", rep.Reinitialised, refConvs)
				}
				for _, k := range rep.Reinitialised {
					checkXavier(t, k, root.MustGet(k))
				}
			})

			t.Run("truncated", func(t *testing.T) {
				bad := truncate(t, full)
				m := buildVariant(t, kind)
				if _, err := m.Init(InitConfig{Pretrained: bad}); err == nil || !strings.Contains(err.Error(), bad) {
					t.Errorf("truncated %s: %v", full, err)
				} else {
					t.Log(err)
				}
			})
		})
	}
}
