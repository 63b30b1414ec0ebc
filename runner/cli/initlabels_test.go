package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"

	"github.com/ssdrunner/ssdrunner/components/dataset/shapes"
	"github.com/ssdrunner/ssdrunner/components/model"
	"github.com/ssdrunner/ssdrunner/registry"
)

// TestPlanReadsPretrainedLabels checks that plan reads pretrained_labels for
// on_class_mismatch = "subsample" (model.Init is given the names, it reads no label file)
// and reports a missing file at model.init, naming it.
func TestPlanReadsPretrainedLabels(t *testing.T) {
	if testing.Short() {
		t.Skip("builds models")
	}
	dir := t.TempDir()
	// A checkpoint of the quickstart model (8 shapes + BACKGROUND).
	vs := nn.NewVarStore(gotch.CPU)
	if _, err := model.Build(vs, registry.Ref{Type: "mobilenet_v1", Options: map[string]any{"width_mult": 0.5, "extras": "ssd_lite", "stem": "fused", "source_layers": []int{6, 12, 14}}},
		registry.Ref{Type: "ssd_lite"}, []int{4, 6, 6, 6, 6, 6, 6}, 9); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(dir, "quick.ot")
	if err := vs.Save(ckpt); err != nil {
		t.Fatal(err)
	}
	labels := filepath.Join(dir, "labels.txt")
	if err := os.WriteFile(labels, []byte(strings.Join(shapes.Names(), "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(filepath.Join(repoRoot, "experiments", "quickstart.hcl"))
	exp := filepath.Join(dir, "exp.hcl")
	write := func(labels string) {
		src := "inherits = \"" + abs + "\"\nmodel {\n  init {\n    pretrained = \"" + ckpt + "\"\n" +
			"    on_class_mismatch = \"subsample\"\n    pretrained_labels = \"" + labels + "\"\n  }\n}\n"
		if err := os.WriteFile(exp, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(labels)
	out, errOut, code := run(t, "", "plan", exp)
	if code != 0 || !strings.Contains(out, "initial weights:") {
		t.Fatalf("plan with pretrained_labels: %d\n%s%s", code, out, errOut)
	}
	write(filepath.Join(dir, "none.txt"))
	_, errOut, code = run(t, "", "plan", exp)
	if code != exitError || !strings.Contains(errOut, "model.init") || !strings.Contains(errOut, "none.txt") {
		t.Errorf("plan with a missing pretrained_labels file: %d\n%s", code, errOut)
	}
}
