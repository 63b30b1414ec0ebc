package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"

	"github.com/ssdrunner/ssdrunner/components/model"
	"github.com/ssdrunner/ssdrunner/registry"
	"github.com/ssdrunner/ssdrunner/runner/config"
)

type memFS map[string]string

func (m memFS) read(path string) ([]byte, error) {
	s, ok := m[path]
	if !ok {
		return nil, os.ErrNotExist
	}
	return []byte(s), nil
}

func load(t *testing.T, files memFS, path string) (*config.Result, hcl.Diagnostics) {
	t.Helper()
	return config.Load(path, config.Options{ReadFile: files.read})
}

func TestBuiltinBases(t *testing.T) {
	src := `inherits = "builtin:mb2-ssd-lite"
data {
  train "shapes" {}
}
variable "lr" {
  default = 0.05
}
`
	res, diags := load(t, memFS{"x.hcl": src}, "x.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	e := res.Experiment
	if e.Model.Backbone.Type != "mobilenet_v2" || e.Model.Head.Type != "ssd_lite" || e.Model.Anchors.Options["preset"] != "mobilenet" {
		t.Errorf("model from builtin:mb2-ssd-lite = %+v", e.Model)
	}
	if got := e.Optimizer.Options["lr"]; got != 0.05 {
		t.Errorf("the child's lr must reach the built-in's optimizer: %v", got)
	}
	// the built-in inherits its sibling ssd-sgd by file name
	want := []string{"builtin:ssd-sgd", "builtin:mb2-ssd-lite", "x.hcl"}
	if strings.Join(res.Chain, " ") != strings.Join(want, " ") {
		t.Errorf("chain = %v, want %v", res.Chain, want)
	}
	if o, _ := res.OriginOf("optimizer.momentum"); o.Range.Filename != "builtin:ssd-sgd" {
		t.Errorf("origin = %v", o)
	}

	_, diags = load(t, memFS{"x.hcl": `inherits = "builtin:mb2-ssdlite"`}, "x.hcl")
	if !diags.HasErrors() || !strings.Contains(diags.Error(), `Did you mean "builtin:mb2-ssd-lite"?`) {
		t.Errorf("unknown builtin: %v", diags)
	}
	_, diags = load(t, memFS{"x.hcl": `inherits = "builtin:../voc"`}, "x.hcl")
	if !diags.HasErrors() {
		t.Errorf("a builtin name with a path must be refused")
	}
}

func TestPlanLoadsInitialWeights(t *testing.T) {
	if testing.Short() {
		t.Skip("builds models")
	}
	dir := t.TempDir()
	// A checkpoint of the quickstart model, as our own trainer would save it.
	vs := nn.NewVarStore(gotch.CPU)
	if _, err := model.Build(vs, registry.Ref{Type: "mobilenet_v1", Options: map[string]any{"width_mult": 0.5, "extras": "ssd_lite", "stem": "fused", "source_layers": []int{6, 12, 14}}},
		registry.Ref{Type: "ssd_lite"}, []int{4, 6, 6, 6, 6, 6, 6}, 9); err != nil {
		t.Fatal(err)
	}
	ckpt := dir + "/quick.ot"
	if err := vs.Save(ckpt); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(filepath.Join(repoRoot, "experiments", "quickstart.hcl"))
	exp := dir + "/exp.hcl"
	write := func(path string) {
		src := "inherits = \"" + abs + "\"\nmodel {\n  init {\n    pretrained = \"" + path + "\"\n  }\n}\n"
		if err := os.WriteFile(exp, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(ckpt)
	out, errOut, code := run(t, "", "plan", exp)
	if code != 0 || !strings.Contains(out, "initial weights:") {
		t.Fatalf("plan with a checkpoint: %d\n%s%s", code, out, errOut)
	}
	broken := dir + "/broken.pth"
	data, _ := os.ReadFile(ckpt)
	os.WriteFile(broken, data[:len(data)/2], 0o644)
	write(broken)
	_, errOut, code = run(t, "", "plan", exp)
	if code != exitError || !strings.Contains(errOut, "model.init") || !strings.Contains(errOut, "broken.pth") {
		t.Errorf("plan with a truncated checkpoint: %d\n%s", code, errOut)
	}
}
