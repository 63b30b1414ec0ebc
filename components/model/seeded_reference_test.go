package model

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/anchors"
	"github.com/ssdrunner/ssdrunner/internal/reftest"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
)

// seededModels are the whole-model checks beyond mb1 (experiments/base/mb2-ssd-lite.hcl
// and vgg16-ssd.hcl), keyed by gen_golden.py's model names: backbone, head and the
// ssd_spec preset that gives the boxes per location.
var seededModels = map[string]struct {
	backbone, head registry.Ref
	preset         string
}{
	"mb2_ssd_lite": {
		registry.Ref{Type: "mobilenet_v2", Options: map[string]any{"width_mult": 1.0, "activation": "relu6"}},
		registry.Ref{Type: "ssd_lite"},
		"mobilenet",
	},
	"vgg16_ssd": {
		registry.Ref{Type: "vgg16", Options: map[string]any{"norm": "batch_norm"}},
		registry.Ref{Type: "ssd"},
		"vgg",
	},
}

// buildSeededModel builds the named model of seededModels for 21 classes.
func buildSeededModel(t *testing.T, kind string) *SSD {
	t.Helper()
	c := seededModels[kind]
	g, err := anchors.Build(registry.Ref{Type: "ssd_spec", Options: map[string]any{"preset": c.preset}})
	if err != nil {
		t.Fatal(err)
	}
	var boxes []int
	for _, fm := range g.FeatureMaps() {
		boxes = append(boxes, fm.BoxesPerLocation)
	}
	m, err := Build(nn.NewVarStore(gotch.CPU), c.backbone, c.head, boxes, 21)
	if err != nil {
		t.Fatalf("%s: %v", kind, err)
	}
	return m
}

// TestSeededReferenceMb2Vgg loads the reference's own mb2-ssd-lite (width 1) and
// vgg16-ssd (BatchNorm on conv4_3) state_dicts (torch.manual_seed(0), batch norms
// redrawn so that each of their variables matters, vgg's convolutions redrawn to keep
// the activations' scale) strictly through LoadPTH, and compares the whole model's
// eval-mode conf and loc on a [1,3,300,300] random input with the reference's:
// max |diff| / max |ref| ≤ tolerance. gen_golden.py --seeded mb2_ssd_lite vgg16_ssd writes them at test
// time (state dicts of ~14 and ~105 MB).
func TestSeededReferenceMb2Vgg(t *testing.T) {
	ref := reftest.Reference(t)
	out := t.TempDir()
	kinds := []string{"mb2_ssd_lite", "vgg16_ssd"}
	start := time.Now()
	cmd := exec.Command(reftest.Python(), append([]string{filepath.Join("testdata", "gen_golden.py"), ref, out, "--seeded"}, kinds...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen_golden.py --seeded %s: %v\n%s", strings.Join(kinds, " "), err, b)
	}
	t.Logf("reference outputs generated in %v", time.Since(start))
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			m := buildSeededModel(t, kind)
			rep := loadStrict(t, m, filepath.Join(out, kind+".pth"))
			x := readNpy(t, filepath.Join(out, kind+"_input.npy"))
			defer x.MustDrop()
			var conf, loc *ts.Tensor
			start := time.Now()
			err := torch.NoGrad(func() (err error) { conf, loc, err = m.Forward(x, false); return err })
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d variables loaded, eval forward %v", kind, len(rep.Loaded), time.Since(start))
			defer conf.MustDrop()
			defer loc.MustDrop()
			compareFile(t, kind+" seeded conf", conf, filepath.Join(out, kind+"_conf.npy"))
			compareFile(t, kind+" seeded loc", loc, filepath.Join(out, kind+"_loc.npy"))
		})
	}
}
