package backbone_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sugarme/gotch/pickle"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/model"
)

// referenceGoldenMb3Sq extracts the reference into a temporary folder and runs
// testdata/gen_golden_mb3_sq.py there (full set), returning the folder with its output:
// state dicts of 5–10 MB and outputs of about 2 MB per model. It skips the test when
// python3 with torch or the mirror is missing (SSD_REFERENCE_MIRROR overrides its path),
// and in -short mode.
func referenceGoldenMb3Sq(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("reference golden skipped in -short mode (it runs the reference with python3)")
	}
	mirror := referenceMirror
	if m := os.Getenv("SSD_REFERENCE_MIRROR"); m != "" {
		mirror = m
	}
	if _, err := os.Stat(mirror); err != nil {
		t.Skipf("reference golden skipped: no reference mirror at %s (set SSD_REFERENCE_MIRROR): %v", mirror, err)
	}
	if out, err := exec.Command(referencePython, "-c", "import torch").CombinedOutput(); err != nil {
		t.Skipf("reference golden skipped: %s cannot import torch: %v %s", referencePython, err, lastLine(out))
	}
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref")
	if err := os.Mkdir(ref, 0o755); err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(dir, "ref.tar")
	start := time.Now()
	for _, s := range [][]string{
		{"git", "--git-dir", mirror, "archive", "--format=tar", "-o", tarball, "HEAD"},
		{"tar", "-xf", tarball, "-C", ref},
		{referencePython, filepath.Join("testdata", "gen_golden_mb3_sq.py"), ref, dir},
	} {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(s, " "), err, out)
		}
	}
	t.Logf("reference golden generated in %v", time.Since(start))
	return dir
}

// TestMb3SqReferenceGolden loads the reference's own state_dicts of mb3-large-ssd-lite,
// mb3-small-ssd-lite and sq-ssd-lite (batch norms and convolution biases redrawn so that
// each variable matters) into the models built from this project's components, strictly
// (with model.LoadPTH), and compares every value of the six feature maps and of the
// whole model's conf and loc with the reference's, eval mode, 300×300: max |diff| ≤ 1e-4.
func TestMb3SqReferenceGolden(t *testing.T) {
	dir := referenceGoldenMb3Sq(t)
	for _, name := range []string{"mb3_large", "mb3_small", "sq"} {
		t.Run(name, func(t *testing.T) {
			m := buildSSD(t, name)
			rep, err := model.LoadPTH(m.VarStore(), filepath.Join(dir, name+"_state.pth"), model.LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := rep.Err(); err != nil {
				t.Fatal(err)
			}
			for _, k := range rep.Ignored {
				if !strings.HasSuffix(k, ".num_batches_tracked") {
					t.Errorf("ignored key %s", k)
				}
			}
			if len(rep.Loaded) != len(m.VariableNames()) {
				t.Errorf("loaded %d of %d variables", len(rep.Loaded), len(m.VariableNames()))
			}
			want, err := pickle.Decode(filepath.Join(dir, name+"_outputs.pth"))
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				for _, x := range want {
					x.MustDrop()
				}
			}()
			x := want["input"]
			if x == nil {
				t.Fatalf("%s_outputs.pth has no input", name)
			}
			var feats []*ts.Tensor
			var conf, loc *ts.Tensor
			start := time.Now()
			gradMode(t, false, func() {
				if feats, err = m.Backbone.Forward(x, false); err != nil {
					return
				}
				conf, loc, err = m.Forward(x, false)
			})
			if err != nil {
				dropAll(feats)
				t.Fatal(err)
			}
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
			worst := 0.0
			var report []string
			for _, k := range keys {
				ref, ok := want[k]
				if !ok {
					t.Errorf("%s_outputs.pth has no %q", name, k)
					continue
				}
				if g, r := got[k].MustSize(), ref.MustSize(); fmt.Sprint(g) != fmt.Sprint(r) {
					t.Errorf("%s: shape %v, reference %v", k, g, r)
					continue
				}
				d := maxAbsDiff(got[k], ref)
				mx := ref.MustAbs(false).MustMax(true).Float64Values(true)[0]
				report = append(report, fmt.Sprintf("%s: %.2g (max |ref| %.3g)", k, d, mx))
				worst = max(worst, d)
			}
			t.Logf("backbone + model eval forward %v; max |diff|: %s", elapsed, strings.Join(report, ", "))
			if worst > 1e-4 {
				t.Errorf("max |diff| %.3g > 1e-4", worst)
			}
		})
	}
}
