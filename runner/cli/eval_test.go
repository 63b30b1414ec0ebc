package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/ssdrunner/ssdrunner/runner/build"
	"github.com/ssdrunner/ssdrunner/runner/config"
	"github.com/ssdrunner/ssdrunner/runner/eval"
)

// evalFixture writes a small VOC test set (shapes), an experiment of a small model for its
// classes and that model's seeded initial weights (a weights file without meta record).
func evalFixture(t *testing.T) (dir, exp, weights string) {
	t.Helper()
	dir = t.TempDir()
	if out, errOut, code := run(t, "", "data", "gen-shapes", "--out", filepath.Join(dir, "voc"), "--count", "6", "--seed", "3", "--split", "test"); code != 0 {
		t.Fatalf("gen-shapes: %d %s %s", code, out, errOut)
	}
	exp = filepath.Join(dir, "tiny.hcl")
	text := `inherits = "builtin:mb1-ssd-lite"
model {
  backbone "mobilenet_v1" {
    width_mult = 0.25
  }
}
data {
  train "voc" {
    roots = ["${path.experiment}/voc"]
    split = "test"
  }
  validation "voc" {
    roots = ["${path.experiment}/voc"]
    split = "test"
  }
  batch_size = 4
}
`
	if err := os.WriteFile(exp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	res, diags := config.Load(exp, config.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	r, err := build.Build(res, build.Options{Log: zerolog.Nop(), NoOptimizer: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	weights = filepath.Join(dir, "weights.pt")
	if err := r.Model.VarStore().Save(weights); err != nil {
		t.Fatal(err)
	}
	return dir, exp, weights
}

func TestEvalAndPredict(t *testing.T) {
	dir, exp, weights := evalFixture(t)

	// eval: the experiment's validation set, every output file, --json
	outDir := filepath.Join(dir, "eval")
	out, errOut, code := run(t, "", "eval", exp, "--checkpoint", weights, "--out", outDir, "--json")
	if code != 0 {
		t.Fatalf("eval: %d\n%s%s", code, out, errOut)
	}
	var rep struct {
		Images   int     `json:"images"`
		Metric   string  `json:"metric"`
		MAP      float64 `json:"map"`
		PerClass []struct {
			Class string  `json:"class"`
			AP    float64 `json:"ap"`
		} `json:"per_class"`
		Confusion         eval.Confusion      `json:"confusion"`
		ConfusionPerClass []eval.ClassSummary `json:"confusion_per_class"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("eval --json: %v\n%s", err, out)
	}
	if rep.Images != 6 || rep.Metric != "voc" || len(rep.PerClass) == 0 || !(rep.MAP >= 0 && rep.MAP <= 1) {
		t.Errorf("eval report %+v", rep)
	}
	// the confusion matrix counts every object once (its row sums), with the classes of
	// the model (9, background included)
	objects := 0
	for _, c := range rep.ConfusionPerClass {
		objects += c.Objects
	}
	if len(rep.Confusion.Classes) != 9 || len(rep.Confusion.Counts) != 9 || objects == 0 || rep.Confusion.Objects() != objects {
		t.Errorf("eval confusion: %d classes, %d rows, %d objects in the summary, %d in the rows", len(rep.Confusion.Classes), len(rep.Confusion.Counts), objects, rep.Confusion.Objects())
	}
	for _, f := range []string{"results.json", "ap.png", "ap.svg", "det_test_circle.txt", "det_test_ring.txt", "confusion.csv", "confusion.png", "confusion.svg"} {
		if _, err := os.Stat(filepath.Join(outDir, f)); err != nil {
			t.Errorf("eval output: %v", err)
		}
	}
	// a VOC folder as the dataset, another metric, the table
	out, errOut, code = run(t, "", "eval", exp, "--checkpoint", weights, "--dataset", filepath.Join(dir, "voc"), "--metric", "coco", "--out", filepath.Join(dir, "eval2"))
	if code != 0 || !strings.Contains(out, "mean (coco)") || !strings.Contains(out, "coco.AP50") || !strings.Contains(out, "Confusion (detections scoring >= 0.25") {
		t.Errorf("eval --metric coco: %d\n%s%s", code, out, errOut)
	}

	// predict: a folder with a broken image among good ones
	imgs := filepath.Join(dir, "voc", "JPEGImages")
	if err := os.WriteFile(filepath.Join(imgs, "broken.jpg"), []byte{0xff, 0xd8, 0xff, 0xe0, 1, 2}, 0o644); err != nil {
		t.Fatal(err)
	}
	pred := filepath.Join(dir, "pred")
	out, errOut, code = run(t, "", "predict", "--checkpoint", weights, exp, imgs, "--out", pred, "--score-threshold", "0.3", "--timing")
	if code != 0 {
		t.Fatalf("predict: %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"6 image(s)", "1 input(s) skipped", "broken.jpg", "forward", "NMS"} {
		if !strings.Contains(out, want) {
			t.Errorf("predict output lacks %q:\n%s", want, out)
		}
	}
	jpgs, _ := filepath.Glob(filepath.Join(pred, "JPEGImages", "*.jpg"))
	if len(jpgs) != 6 {
		t.Errorf("%d annotated images, want 6", len(jpgs))
	}
	var sum struct {
		Classes []string `json:"classes"`
		Images  []struct {
			Path       string            `json:"path"`
			Detections []json.RawMessage `json:"detections"`
		} `json:"images"`
		Failures []struct{ Path, Error string } `json:"failures"`
	}
	js, err := os.ReadFile(filepath.Join(pred, "detections.json"))
	if err == nil {
		err = json.Unmarshal(js, &sum)
	}
	if err != nil || len(sum.Images) != 6 || len(sum.Failures) != 1 || len(sum.Classes) != 9 {
		t.Errorf("detections.json: %v, %d images, %d failures, classes %v", err, len(sum.Images), len(sum.Failures), sum.Classes)
	}
	csvText, err := os.ReadFile(filepath.Join(pred, "detections.csv"))
	if err != nil || !strings.HasPrefix(string(csvText), "path,frame,class,label,score,xmin,ymin,xmax,ymax\n") {
		t.Errorf("detections.csv: %v %.100s", err, csvText)
	}
}

func TestEvalPredictErrors(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "a.jpg")
	os.WriteFile(img, []byte("x"), 0o644)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"eval"}, exitUsage, "--checkpoint is needed"},
		{[]string{"eval", "--checkpoint", filepath.Join(dir, "none.pt")}, exitError, "none.pt"},
		{[]string{"eval", "--checkpoint", img, "--metric", "voc7"}, exitUsage, `did you mean "voc07"`},
		{[]string{"eval", "--checkpoint", img, "--confusion-iou", "0"}, exitUsage, "IoU threshold must be in (0, 1]"},
		{[]string{"predict", "--checkpoint", filepath.Join(dir, "none.pt"), img}, exitError, "none.pt"},
		{[]string{"predict", "--checkpoint", img}, exitUsage, "no INPUT"},
		{[]string{"predict", "--checkpoint", img, img}, exitError, "give an experiment file or run folder, or --model NAME with --labels FILE"},
	} {
		out, errOut, code := run(t, "", c.args...)
		if code != c.code || !strings.Contains(out+errOut, c.want) {
			t.Errorf("%v: code %d (want %d), output lacks %q:\n%s%s", c.args, code, c.code, c.want, out, errOut)
		}
	}
}
