package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	if dir != "" {
		wd, _ := os.Getwd()
		if err := os.Chdir(dir); err != nil {
			t.Fatal(err)
		}
		defer os.Chdir(wd)
	}
	code := Run(context.Background(), args, &out, &errb, []string{"HOME=" + t.TempDir()})
	return out.String(), errb.String(), code
}

const repoRoot = "../.."

func TestValidateShippedExperiments(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "experiments", "*.hcl"))
	if err != nil || len(files) < 4 {
		t.Fatalf("experiments: %v %v", files, err)
	}
	for _, f := range files {
		out, errOut, code := run(t, "", "validate", f)
		if code != 0 || !strings.Contains(out, "valid") {
			t.Errorf("validate %s: code %d\n%s%s", f, code, out, errOut)
		}
	}
	// fmt --check: the shipped files are canonical.
	out, errOut, code := run(t, "", "fmt", "--check", filepath.Join(repoRoot, "experiments"))
	if code != 0 {
		t.Errorf("fmt --check: %d\n%s%s", code, out, errOut)
	}
}

func TestSeedRecipe(t *testing.T) {
	// The mb2-ssd-lite VOC recipe of the reference README: cosine, lr 0.01, t_max 200,
	// 200 epochs, validation every 5, base net from mb2-imagenet-71_8.pth, batch 32.
	out, errOut, code := run(t, "", "validate", "--json", filepath.Join(repoRoot, "experiments", "mb2-ssdlite-voc.hcl"))
	if code != 0 {
		t.Fatalf("validate: %d %s %s", code, out, errOut)
	}
	var v struct {
		Valid bool     `json:"valid"`
		Files []string `json:"files"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || !v.Valid || len(v.Files) != 4 {
		t.Fatalf("json: %v %+v", err, v)
	}
}

func TestPlanQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a model")
	}
	out, errOut, code := run(t, "", "plan", "--json", filepath.Join(repoRoot, "experiments", "quickstart.hcl"), "--set", "training.freeze=base_net")
	if code != 0 {
		t.Fatalf("plan: %d\n%s", code, errOut)
	}
	var p struct {
		Model struct {
			NumClasses int   `json:"num_classes"`
			Params     int64 `json:"params"`
			Trainable  int64 `json:"trainable"`
			Modules    []struct {
				Name   string `json:"name"`
				Frozen bool   `json:"frozen"`
			} `json:"modules"`
		} `json:"model"`
		Anchors struct {
			Total int `json:"total"`
		} `json:"anchors"`
		Data struct {
			Train struct {
				Images int `json:"images"`
			} `json:"train"`
			StepsPerEpoch int `json:"steps_per_epoch"`
		} `json:"data"`
		Schedule struct {
			LR map[string][]float64 `json:"lr"`
		} `json:"schedule"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	if p.Anchors.Total != 4738 || p.Data.Train.Images != 6144 || p.Data.StepsPerEpoch != 384 || p.Model.NumClasses != 9 {
		t.Errorf("plan: %+v", p)
	}
	if p.Model.Trainable >= p.Model.Params || len(p.Model.Modules) == 0 || p.Model.Modules[0].Name != "base_net" || !p.Model.Modules[0].Frozen {
		t.Errorf("freeze base_net not reflected: %+v", p.Model)
	}
	// the first epoch starts in the half-epoch warmup: 0.1 × lr 0.01
	if lr := p.Schedule.LR["default"]; len(lr) == 0 || math.Abs(lr[0]-0.001) > 1e-12 {
		t.Errorf("schedule: %v", p.Schedule.LR)
	}
}

func TestGenShapesThenPlanOnVOC(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a model")
	}
	dir := t.TempDir()
	_, errOut, code := run(t, "", "data", "gen-shapes", "--out", filepath.Join(dir, "shapes"), "--count", "12", "--seed", "3")
	if code != 0 {
		t.Fatalf("gen-shapes: %d %s", code, errOut)
	}
	exp := filepath.Join(dir, "exp.hcl")
	abs, _ := filepath.Abs(filepath.Join(repoRoot, "experiments", "base", "mb1-ssd.hcl"))
	src := `inherits = "` + abs + `"
data {
  train "voc" {
    roots = ["${path.experiment}/shapes"]
  }
  batch_size = 5
}
`
	if err := os.WriteFile(exp, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, "", "plan", exp)
	if code != 0 {
		t.Fatalf("plan: %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"train:      voc, 12 images, 9 classes", "3 steps per epoch", "9 classes (BACKGROUND included)"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}
}

func TestErrorsAndUsage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.hcl")
	os.WriteFile(bad, []byte("model {\n  backbone \"mobilenet_v7\" {}\n}\n"), 0o644)
	_, errOut, code := run(t, "", "validate", bad)
	if code != exitError || !strings.Contains(errOut, "bad.hcl:2:12: error: Unknown backbone \"mobilenet_v7\"") || !strings.Contains(errOut, "Did you mean") {
		t.Errorf("validate bad: %d\n%s", code, errOut)
	}
	out, _, code := run(t, "", "validate", "--json", bad)
	if code != exitError || !strings.Contains(out, `"line": 2`) {
		t.Errorf("validate --json bad: %d %s", code, out)
	}
	_, errOut, code = run(t, "", "valdiate", bad)
	if code != exitUsage || !strings.Contains(errOut, `did you mean "validate"?`) {
		t.Errorf("unknown command: %d %s", code, errOut)
	}
	_, errOut, code = run(t, "", "list", "backbones")
	if code != exitUsage || !strings.Contains(errOut, `did you mean "backbone"?`) {
		t.Errorf("list unknown kind: %d %s", code, errOut)
	}
	out, _, code = run(t, "", "list", "scheduler")
	if code != 0 || !strings.Contains(out, `scheduler "cosine"`) || !strings.Contains(out, "t_max") {
		t.Errorf("list scheduler: %d %s", code, out)
	}
	_, errOut, code = run(t, "", "--log-level", "loud", "list")
	if code != exitUsage || !strings.Contains(errOut, "unknown log level") {
		t.Errorf("bad log level: %d %s", code, errOut)
	}
	var errb bytes.Buffer
	if code := Run(context.Background(), []string{"list"}, io.Discard, &errb, []string{"RUNNER_MALLOC=fast"}); code != exitUsage || !strings.Contains(errb.String(), "want hugepages or system") {
		t.Errorf("bad RUNNER_MALLOC: %d %s", code, errb.String())
	}
	out, _, code = run(t, "", "--help")
	if code != 0 || !strings.Contains(out, "Commands:") {
		t.Errorf("help: %d %s", code, out)
	}
}

func TestFmt(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "x.hcl")
	os.WriteFile(f, []byte("training {\nepochs=3\n  seed   = 1\n}\n"), 0o600)
	out, _, code := run(t, "", "fmt", "--check", dir)
	if code != exitError || !strings.Contains(out, "x.hcl") {
		t.Errorf("fmt --check on unformatted: %d %s", code, out)
	}
	if _, _, code = run(t, "", "fmt", dir); code != 0 {
		t.Fatalf("fmt: %d", code)
	}
	got, _ := os.ReadFile(f)
	if string(got) != "training {\n  epochs = 3\n  seed   = 1\n}\n" {
		t.Errorf("formatted:\n%s", got)
	}
	if st, _ := os.Stat(f); st.Mode().Perm() != 0o600 {
		t.Errorf("fmt changed the file mode to %v", st.Mode().Perm())
	}
	broken := filepath.Join(dir, "broken.hcl")
	os.WriteFile(broken, []byte("training {\n"), 0o644)
	_, errOut, code := run(t, "", "fmt", broken)
	if code != exitError || !strings.Contains(errOut, "not rewritten") {
		t.Errorf("fmt on broken file: %d %s", code, errOut)
	}
	if b, _ := os.ReadFile(broken); string(b) != "training {\n" {
		t.Errorf("broken file was modified")
	}
}

func TestDataCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads a dataset")
	}
	dir := t.TempDir()
	if _, errOut, code := run(t, "", "data", "gen-shapes", "--out", filepath.Join(dir, "shapes"), "--count", "6"); code != 0 {
		t.Fatalf("gen-shapes: %s", errOut)
	}
	abs, _ := filepath.Abs(filepath.Join(repoRoot, "experiments", "base", "mb1-ssd.hcl"))
	exp := filepath.Join(dir, "exp.hcl")
	os.WriteFile(exp, []byte(`inherits = "`+abs+`"
data {
  train "voc" {
    roots = ["${path.experiment}/shapes"]
  }
}
`), 0o644)
	out, errOut, code := run(t, "", "data", "check", exp, "--images")
	if code != 0 || !strings.Contains(out, "train (voc): 6 images") || !strings.Contains(out, "no problems found") || !strings.Contains(out, "image width") {
		t.Fatalf("clean check: %d\n%s%s", code, out, errOut)
	}
	// Break one annotation and one image: both are reported, the rest is still counted.
	anns, _ := filepath.Glob(filepath.Join(dir, "shapes", "Annotations", "*.xml"))
	imgs, _ := filepath.Glob(filepath.Join(dir, "shapes", "JPEGImages", "*.jpg"))
	os.WriteFile(anns[0], []byte("<annotation><object>"), 0o644)
	os.WriteFile(imgs[1], []byte("\xff\xd8 not really a jpeg"), 0o644)
	out, errOut, code = run(t, "", "data", "check", exp, "--images")
	if code != exitError || !strings.Contains(out, "train (voc): 5 images") || !strings.Contains(out, "2 problem(s)") ||
		!strings.Contains(out, filepath.Base(anns[0])) || !strings.Contains(out, filepath.Base(imgs[1])) {
		t.Errorf("broken check: %d\n%s%s", code, out, errOut)
	}
}
