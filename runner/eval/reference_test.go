package eval_test

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/components/dataset/shapes"
	"github.com/ssdrunner/ssdrunner/internal/reftest"
	"github.com/ssdrunner/ssdrunner/registry"
	"github.com/ssdrunner/ssdrunner/runner/detect"
	"github.com/ssdrunner/ssdrunner/runner/eval"
)

// TestEvalEqualsReference evaluates a model saved by the reference (its mb1-ssd-lite,
// seeded) on a generated VOC-format set with the reference's own eval_ssd.py and with
// ours, and compares the per-class AP, the mAP and the det_test_<class>.txt files.
func TestEvalEqualsReference(t *testing.T) {
	ref := reftest.Reference(t, "cv2")
	dir := t.TempDir()
	voc := filepath.Join(dir, "voc")
	c := shapes.DefaultConfig()
	// Strong per-pixel noise: no two priors see the same pixels, so no two detections
	// have the same score. (With exact ties, which detection NMS keeps depends on the
	// order of equal scores, and float32 sums in another order break ties differently.)
	c.Count, c.Seed, c.Noise, c.MinSize, c.MaxSize = 12, 7, 48, 200, 320
	src, err := shapes.New(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := dataset.WriteVOC(src, voc, "test"); err != nil {
		t.Fatal(err)
	}
	refOut := filepath.Join(dir, "ref")
	cmd := exec.Command(reftest.Python(), filepath.Join("testdata", "eval_reference.py"), ref, voc, refOut)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("eval_reference.py: %v\n%s", err, out)
	}
	var want struct {
		AP  map[string]float64 `json:"ap"`
		MAP float64            `json:"map"`
	}
	js, err := os.ReadFile(filepath.Join(refOut, "eval.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &want); err != nil {
		t.Fatal(err)
	}

	run, _, err := detect.BuildRun(filepath.Join(refOut, "model.pth"), detect.Options{Model: "mb1-ssd-lite",
		Labels: filepath.Join(refOut, "labels.txt"), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	ds, err := dataset.Build(registry.Ref{Type: "voc", Options: map[string]any{"roots": []any{voc}, "split": "test"}}, dataset.Env{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := eval.Evaluate(context.Background(), run, ds, eval.Options{BatchSize: 4, Workers: 2, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ours := filepath.Join(dir, "ours")
	rep := eval.NewReport(res, run.Classes, "ref", "model.pth", "voc")
	if err := eval.Write(ours, res, run.Classes, rep); err != nil {
		t.Fatal(err)
	}

	// AP is computed from the ranking of the detections and their matches (IoU > 0.5):
	// the same detections give the same AP, to the rounding of the mean of a few sums.
	const apTol = 1e-9
	got := map[string]float64{}
	for _, pc := range rep.PerClass {
		got[pc.Class] = pc.AP
	}
	nonzero := 0
	for class, w := range want.AP {
		if math.Abs(got[class]-w) > apTol {
			t.Errorf("AP of %s = %.10f, eval_ssd.py %.10f", class, got[class], w)
		}
		if w > 0 {
			nonzero++
		}
	}
	if len(got) != len(want.AP) {
		t.Errorf("AP for %d classes, eval_ssd.py %d", len(got), len(want.AP))
	}
	if math.Abs(rep.MAP-want.MAP) > apTol {
		t.Errorf("mAP = %.10f, eval_ssd.py %.10f", rep.MAP, want.MAP)
	}
	t.Logf("mAP %.6f (eval_ssd.py %.6f), %d classes with AP > 0, %d detections", rep.MAP, want.MAP, nonzero, len(res.Detections))

	// The detection files: the same lines, scores and boxes to float32 precision (the
	// network's outputs differ by float32 rounding in sums of another order, which moves
	// a softmax score or a decoded coordinate by a few units of its last place).
	for _, class := range run.Classes[1:] {
		a, b := readDet(t, filepath.Join(refOut, "eval", eval.DetFileName(class))), readDet(t, filepath.Join(ours, eval.DetFileName(class)))
		if len(a) != len(b) {
			t.Errorf("%s: %d detections, eval_ssd.py %d", class, len(b), len(a))
			continue
		}
		for i := range a {
			if a[i].id != b[i].id {
				t.Errorf("%s line %d: image %s, eval_ssd.py %s", class, i+1, b[i].id, a[i].id)
				break
			}
			// Relative to the largest magnitude on the line (scores < 1, coordinates
			// up to the image size): 1e-4 covers float32 rounding after ~30 layers.
			scale := 1.0
			for k := range a[i].v {
				scale = max(scale, math.Abs(a[i].v[k]))
			}
			for k := range a[i].v {
				if d := math.Abs(a[i].v[k] - b[i].v[k]); d > 1e-4*scale {
					t.Errorf("%s line %d: value %d = %v, eval_ssd.py %v", class, i+1, k, b[i].v[k], a[i].v[k])
					break
				}
			}
		}
	}
}

type detLine struct {
	id string
	v  []float64
}

func readDet(t *testing.T, path string) []detLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []detLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 6 {
			t.Fatalf("%s: line %q: want 6 fields", path, sc.Text())
		}
		l := detLine{id: fields[0]}
		for _, s := range fields[1:] {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			l.v = append(l.v, v)
		}
		out = append(out, l)
	}
	return out
}
