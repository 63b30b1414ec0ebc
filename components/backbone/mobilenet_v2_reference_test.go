package backbone_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/model"
)

// TestMb2VggReferenceGolden loads the reference's own state_dicts (mb2-ssd-lite width
// 1 and vgg16-ssd, batch norms redrawn so that each of their variables matters) with
// model.LoadPTH, strictly but for the heads, and compares every value of the six
// feature maps with the reference's, eval mode, 300×300: max |diff| / max |ref| ≤
// reftest.Float32Net. The state
// dicts (~14 and ~105 MB) are written by testdata/gen_golden_mb2_vgg.py at test time.
func TestMb2VggReferenceGolden(t *testing.T) {
	dir := referenceGolden(t, "gen_golden_mb2_vgg.py")
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
			loadReference(t, vs, filepath.Join(dir, c.state), model.LoadOptions{Skip: c.skip})
			want := readPickle(t, filepath.Join(dir, c.features))
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
			start := time.Now()
			feats := evalForward(t, bb, x)
			defer dropAll(feats)
			elapsed := time.Since(start)
			n := 0
			var cmp refComparison
			for i, f := range feats {
				ref, ok := want[fmt.Sprint(i)]
				if !ok {
					continue
				}
				n++
				cmp.add(t, fmt.Sprintf("feature %d", i), fmt.Sprint(i), f, ref)
			}
			if n == 0 {
				t.Fatalf("%s holds no feature maps", c.features)
			}
			cmp.check(t, fmt.Sprintf("eval forward %v; max |diff| per feature map: ", elapsed))
		})
	}
}
