package model

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/reftest"
	"github.com/ssdrunner/ssdrunner/internal/torch"

	_ "github.com/ssdrunner/ssdrunner/components/head"
)

// tolerance bounds max |ours - reference| / max |reference| (reftest.Compare) on the
// whole-model outputs: they are float32 convolutional networks whose sums run in an order
// that depends on the CPU, the BLAS kernel and the thread count (train-mode batch norm
// included), which reftest.Float32Net bounds.
const tolerance = reftest.Float32Net

type referenceInfo map[string]struct {
	Keys   [][2]json.RawMessage `json:"keys"`
	Params map[string]int64     `json:"params"`
}

func loadReferenceInfo(t *testing.T) referenceInfo {
	t.Helper()
	b, err := os.ReadFile(golden("reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var info referenceInfo
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatal(err)
	}
	return info
}

// TestNamesShapesAndParamCounts checks that the variables are exactly the reference's
// state_dict entries (less num_batches_tracked) and that per-module parameter counts
// equal the reference's.
func TestNamesShapesAndParamCounts(t *testing.T) {
	info := loadReferenceInfo(t)
	for kind := range variants {
		t.Run(kind, func(t *testing.T) {
			ref := info[kind]
			want := map[string]string{}
			for _, kv := range ref.Keys {
				var name string
				if err := json.Unmarshal(kv[0], &name); err != nil {
					t.Fatal(err)
				}
				if strings.HasSuffix(name, ".num_batches_tracked") {
					continue
				}
				var shape []int64
				if err := json.Unmarshal(kv[1], &shape); err != nil {
					t.Fatal(err)
				}
				b, _ := json.Marshal(shape)
				want[name] = string(b)
			}
			m := buildVariant(t, kind)
			root := m.VarStore().Root()
			got := map[string]string{}
			for _, name := range m.VariableNames() {
				b, _ := json.Marshal(root.MustGet(name).MustSize())
				got[name] = string(b)
			}
			for name, shape := range want {
				if g, ok := got[name]; !ok {
					t.Errorf("missing variable %s %s", name, shape)
				} else if g != shape {
					t.Errorf("%s: shape %s, reference %s", name, g, shape)
				}
			}
			for name := range got {
				if _, ok := want[name]; !ok {
					t.Errorf("variable %s is not in the reference's state_dict", name)
				}
			}
			counts := m.ParamCounts()
			var mods []string
			for _, c := range counts {
				mods = append(mods, c.Module)
				if c.Params != ref.Params[c.Module] || c.Trainable != c.Params {
					t.Errorf("%s: %d parameters (%d trainable), reference %d", c.Module, c.Params, c.Trainable, ref.Params[c.Module])
				}
			}
			for mod, n := range ref.Params {
				if n > 0 && !slices.Contains(mods, mod) {
					t.Errorf("module %s (%d parameters) missing from ParamCounts", mod, n)
				}
			}
			if !slices.Equal(mods, m.Modules()) {
				t.Errorf("ParamCounts modules %v, Modules %v", mods, m.Modules())
			}
			t.Logf("%s parameters: %v", kind, counts[0].Params+counts[1].Params+counts[2].Params+counts[3].Params)
		})
	}
}

// TestGoldenHashInit compares eval- and train-mode outputs with the reference's on the
// same hash-derived weights and input (testdata/gen_golden.py, default mode).
func TestGoldenHashInit(t *testing.T) {
	kinds := []string{"mb1_ssd", "mb1_ssd_lite"}
	sort.Strings(kinds)
	x := hashInput()
	defer x.MustDrop()
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			m := buildVariant(t, kind)
			hashInit(t, m.VarStore())
			var conf, loc *ts.Tensor
			var err error
			err = torch.NoGrad(func() (err error) { conf, loc, err = m.Forward(x, false); return err })
			if err != nil {
				t.Fatal(err)
			}
			defer conf.MustDrop()
			defer loc.MustDrop()
			compareFile(t, kind+" eval conf", conf, golden(kind+"_conf.npy"))
			compareFile(t, kind+" eval loc", loc, golden(kind+"_loc.npy"))

			var tconf, tloc *ts.Tensor
			err = torch.NoGrad(func() (err error) { tconf, tloc, err = m.Forward(x, true); return err })
			if err != nil {
				t.Fatal(err)
			}
			defer tconf.MustDrop()
			defer tloc.MustDrop()
			compareFile(t, kind+" train loc", tloc, golden(kind+"_train_loc.npy"))
			root := m.VarStore().Root()
			stats := ts.MustStack([]ts.Tensor{*root.MustGet("base_net.1.1.running_mean"), *root.MustGet("base_net.1.1.running_var")}, 0)
			defer stats.MustDrop()
			compareFile(t, kind+" running stats after a train pass", stats, golden(kind+"_train_stats.npy"))
		})
	}
}

func compareFile(t *testing.T, what string, got *ts.Tensor, path string) {
	t.Helper()
	if dir, name := filepath.Split(path); filepath.Clean(dir) == "testdata" {
		reftest.Provenance(t, "testdata", name)
	}
	want := readNpy(t, path)
	defer want.MustDrop()
	d := diffOf(t, what, got, want)
	t.Logf("%s: %v", what, d)
	if !d.Within(tolerance) {
		t.Errorf("%s: %v > %g", what, d, tolerance)
	}
}
