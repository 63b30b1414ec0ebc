package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"

	"github.com/ssdrunner/ssdrunner/components/anchors"
	"github.com/ssdrunner/ssdrunner/components/model"
	"github.com/ssdrunner/ssdrunner/runner/config"
)

// quickstartWeights writes the quickstart's model (9 classes: BACKGROUND and the eight
// shapes), freshly initialised, as a VarStore weights file.
func quickstartWeights(t *testing.T, path string) {
	t.Helper()
	res, diags := config.Load(filepath.Join(repoRoot, "experiments", "quickstart.hcl"), config.Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	e := res.Experiment
	gen, err := anchors.Build(e.Model.Anchors)
	if err != nil {
		t.Fatal(err)
	}
	vs := nn.NewVarStore(gotch.CPU)
	m, err := model.Build(vs, e.Model.Backbone, e.Model.Head, anchors.BoxesPerLocation(gen.FeatureMaps()), 9)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := vs.Save(path); err != nil {
		t.Fatal(err)
	}
}

func TestExport(t *testing.T) {
	dir := t.TempDir()
	weights := filepath.Join(dir, "weights.pt")
	quickstartWeights(t, weights)
	exp := filepath.Join(repoRoot, "experiments", "quickstart.hcl")

	onnxOut := filepath.Join(dir, "model.onnx")
	out, errOut, code := run(t, "", "export", "onnx", "--checkpoint", weights, "--out", onnxOut, exp)
	if code != 0 || !strings.Contains(out, "wrote "+onnxOut) || !strings.Contains(out, "scores [batch,4738,9]") {
		t.Fatalf("export onnx: code %d\n%s%s", code, out, errOut)
	}
	if st, err := os.Stat(onnxOut); err != nil || st.Size() < 1e6 {
		t.Fatalf("%s: %v", onnxOut, err)
	}

	pthOut := filepath.Join(dir, "model.pth")
	out, errOut, code = run(t, "", "export", "pth", "--json", "--checkpoint", weights, "--out", pthOut, exp)
	if code != 0 {
		t.Fatalf("export pth: code %d\n%s%s", code, out, errOut)
	}
	var info struct {
		Format  string   `json:"format"`
		Classes []string `json:"classes"`
		Priors  int      `json:"priors"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil || info.Format != "pth" || len(info.Classes) != 9 || info.Priors != 4738 {
		t.Fatalf("export pth --json: %v\n%s", err, out)
	}
	// the exported state_dict reads back as a weights file
	out, errOut, code = run(t, "", "export", "onnx", "--batch", "1", "--checkpoint", pthOut, "--out", onnxOut, exp)
	if code != 0 || !strings.Contains(out, "input_0 [1,3,224,224]") {
		t.Fatalf("export onnx from the exported pth: code %d\n%s%s", code, out, errOut)
	}

	out, errOut, code = run(t, "", "export", "onnx", "--with-postprocess", "--top-k", "10", "--checkpoint", weights, "--out", onnxOut, exp)
	if code != 0 || !strings.Contains(out, "IoU > 0.45 suppressed, scores > 0.01, 200 candidates, 10 per class") {
		t.Fatalf("export onnx --with-postprocess: code %d\n%s%s", code, out, errOut)
	}

	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"export"}, exitUsage, "Usage"},
		{[]string{"export", "tflite"}, exitUsage, `unknown format "tflite"`},
		{[]string{"export", "onnx", "--out", onnxOut}, exitUsage, "--checkpoint is required"},
		{[]string{"export", "onnx", "--checkpoint", weights}, exitUsage, "--out is required"},
		{[]string{"export", "onnx", "--checkpoint", weights, "--out", onnxOut, "--batch", "-1"}, exitUsage, "--batch must be"},
		{[]string{"export", "pth", "--checkpoint", weights, "--out", pthOut, "--batch", "2"}, exitUsage, "onnx only"},
		{[]string{"export", "onnx", "--checkpoint", weights, "--out", dir, exp}, exitUsage, "is a folder"},
		{[]string{"export", "onnx", "--checkpoint", weights, "--out", onnxOut, exp, exp}, exitUsage, "at most one experiment"},
		{[]string{"export", "pth", "--with-postprocess", "--checkpoint", weights, "--out", pthOut}, exitUsage, "onnx only"},
		{[]string{"export", "onnx", "--top-k", "3", "--checkpoint", weights, "--out", onnxOut}, exitUsage, "need --with-postprocess"},
		{[]string{"export", "onnx", "--with-postprocess", "--set", "evaluation.nms.method=soft", "--checkpoint", weights, "--out", onnxOut, exp}, exitError, "soft NMS has no ONNX operator"},
		{[]string{"export", "onnx", "--with-postprocess", "--iou-threshold", "2", "--checkpoint", weights, "--out", onnxOut, exp}, exitError, "iou"},
		{[]string{"export", "onnx", "--checkpoint", filepath.Join(dir, "none.pt"), "--out", onnxOut, exp}, exitError, "no such file"},
		{[]string{"export", "onnx", "--checkpoint", weights, "--out", onnxOut}, exitError, "give the experiment"},
		{[]string{"export", "onnx", "--checkpoint", weights, "--out", onnxOut, "--set", "model.backbone.width_mult=1", exp}, exitError, "does not fit the model"},
	} {
		out, errOut, code := run(t, "", c.args...)
		if code != c.code || !strings.Contains(out+errOut, c.want) {
			t.Errorf("%v: code %d, want %d with %q\n%s%s", c.args, code, c.code, c.want, out, errOut)
		}
	}
}
