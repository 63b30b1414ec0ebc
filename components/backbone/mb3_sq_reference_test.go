package backbone_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/model"
)

// TestMb3SqReferenceGolden loads the reference's own state_dicts of mb3-large-ssd-lite,
// mb3-small-ssd-lite and sq-ssd-lite (batch norms and convolution biases redrawn so that
// each variable matters) into the models built from this project's components, strictly
// (with model.LoadPTH), and compares every value of the six feature maps and of the
// whole model's conf and loc with the reference's, eval mode, 300×300: max |diff| /
// max |ref| ≤ reftest.Float32Net.
// testdata/gen_golden_mb3_sq.py writes them at test time (full set: state dicts of
// 5–10 MB and outputs of about 2 MB per model).
func TestMb3SqReferenceGolden(t *testing.T) {
	dir := referenceGolden(t, "gen_golden_mb3_sq.py")
	for _, name := range []string{"mb3_large", "mb3_small", "sq"} {
		t.Run(name, func(t *testing.T) {
			m := buildSSD(t, name)
			rep := loadReference(t, m.VarStore(), filepath.Join(dir, name+"_state.pth"), model.LoadOptions{})
			if len(rep.Loaded) != len(m.VariableNames()) {
				t.Errorf("loaded %d of %d variables", len(rep.Loaded), len(m.VariableNames()))
			}
			want := readPickle(t, filepath.Join(dir, name+"_outputs.pth"))
			x := want["input"]
			if x == nil {
				t.Fatalf("%s_outputs.pth has no input", name)
			}
			start := time.Now()
			feats, conf, loc := ssdEval(t, m, x)
			elapsed := time.Since(start)
			defer dropAll(append(feats, conf, loc))
			// The files hold conf and loc without their batch dimension (see the script).
			conf2, loc2 := conf.MustView([]int64{-1, 21}, false), loc.MustView([]int64{-1, 4}, false)
			defer conf2.MustDrop()
			defer loc2.MustDrop()
			got := map[string]*ts.Tensor{"conf": conf2, "loc": loc2}
			keys := []string{}
			for i, f := range feats {
				got[fmt.Sprint(i)] = f
				keys = append(keys, fmt.Sprint(i))
			}
			keys = append(keys, "conf", "loc")
			var cmp refComparison
			for _, k := range keys {
				ref, ok := want[k]
				if !ok {
					t.Errorf("%s_outputs.pth has no %q", name, k)
					continue
				}
				cmp.add(t, k, k, got[k], ref)
			}
			cmp.check(t, fmt.Sprintf("backbone + model eval forward %v; max |diff| / max |ref|: ", elapsed))
		})
	}
}
