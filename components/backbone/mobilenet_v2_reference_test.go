package backbone_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/pickle"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/model"
)

// Where the reference golden data comes from: Debian's python3 with torch, and a bare
// git mirror of qfgaohao/pytorch-ssd (SSD_REFERENCE_MIRROR overrides its path).
const (
	referencePython = "/usr/bin/python3"
	referenceMirror = "/work/.mirror/qfgaohao+pytorch-ssd/repo"
)

// referenceGolden extracts the reference into a temporary folder and runs
// testdata/gen_golden_mb2_vgg.py there, returning the folder with its output (state
// dicts of ~14 and ~105 MB, too big to commit). It skips the test when python3 with
// torch or the mirror is missing, and in -short mode.
func referenceGolden(t *testing.T) string {
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
	steps := [][]string{
		{"git", "--git-dir", mirror, "archive", "--format=tar", "-o", tarball, "HEAD"},
		{"tar", "-xf", tarball, "-C", ref},
		{referencePython, filepath.Join("testdata", "gen_golden_mb2_vgg.py"), ref, dir},
	}
	for _, s := range steps {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(s, " "), err, out)
		}
	}
	t.Logf("reference golden generated in %v", time.Since(start))
	return dir
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// TestMb2VggReferenceGolden loads the reference's own state_dicts (mb2-ssd-lite width
// 1 and vgg16-ssd, batch norms redrawn so that each of their variables matters) with
// model.LoadPTH, strictly but for the heads, and compares every value of the six
// feature maps with the reference's, eval mode, 300×300: max |diff| ≤ 1e-4.
func TestMb2VggReferenceGolden(t *testing.T) {
	dir := referenceGolden(t)
	heads := []string{"classification_headers", "regression_headers"}
	cases := []struct {
		name, backbone string
		opts           map[string]any
		state          string
		skip           []string
		features       string
		addOn          bool // the features file carries the add-on's weight
	}{
		{"mobilenet_v2", "mobilenet_v2", nil, "mb2_state.pth", heads, "mb2_features.pth", false},
		{"vgg16_batch_norm", "vgg16", nil, "vgg_state.pth", heads, "vgg_bn_features.pth", false},
		{"vgg16_l2", "vgg16", map[string]any{"norm": "l2"}, "vgg_state.pth",
			append([]string{"source_layer_add_ons"}, heads...), "vgg_l2_features.pth", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bb, vs := build(t, c.backbone, c.opts)
			rep, err := model.LoadPTH(vs, filepath.Join(dir, c.state), model.LoadOptions{Skip: c.skip})
			if err != nil {
				t.Fatal(err)
			}
			if err := rep.Err(); err != nil {
				t.Fatal(err)
			}
			for _, k := range rep.Ignored {
				if !strings.HasSuffix(k, ".num_batches_tracked") && !hasAnyPrefix(k, c.skip) {
					t.Errorf("ignored key %s", k)
				}
			}
			want, err := pickle.Decode(filepath.Join(dir, c.features))
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				for _, x := range want {
					x.MustDrop()
				}
			}()
			if c.addOn {
				w := map[string]*ts.Tensor{"0.weight": want["source_layer_add_ons.0.weight"]}
				rep, err := model.LoadStateDict(vs, w, model.LoadOptions{AddPrefix: "source_layer_add_ons."})
				if err == nil {
					err = rep.Err()
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			x := want["input"]
			if x == nil {
				t.Fatalf("%s has no input", c.features)
			}
			var feats []*ts.Tensor
			start := time.Now()
			gradMode(t, false, func() { feats, err = bb.Forward(x, false) })
			if err != nil {
				t.Fatal(err)
			}
			defer dropAll(feats)
			elapsed := time.Since(start)
			n := 0
			worst := 0.0
			var report []string
			for i, f := range feats {
				ref, ok := want[fmt.Sprint(i)]
				if !ok {
					continue
				}
				n++
				if got, exp := f.MustSize(), ref.MustSize(); fmt.Sprint(got) != fmt.Sprint(exp) {
					t.Errorf("feature %d: shape %v, reference %v", i, got, exp)
					continue
				}
				d := maxAbsDiff(f, ref)
				m := ref.MustAbs(false).MustMax(true).Float64Values(true)[0]
				report = append(report, fmt.Sprintf("%d: %.2g (max |ref| %.3g)", i, d, m))
				if d > worst {
					worst = d
				}
			}
			if n == 0 {
				t.Fatalf("%s holds no feature maps", c.features)
			}
			t.Logf("eval forward %v; max |diff| per feature map: %s", elapsed, strings.Join(report, ", "))
			if worst > 1e-4 {
				t.Errorf("max |diff| %.3g > 1e-4", worst)
			}
		})
	}
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p+".") {
			return true
		}
	}
	return false
}

// maxAbsDiff returns max |a - b|.
func maxAbsDiff(a, b *ts.Tensor) float64 {
	d := a.MustSub(b, false).MustAbs(true).MustMax(true)
	return d.MustTotype(gotch.Double, true).Float64Values(true)[0]
}
