package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fakeRun describes a run folder to write the way runner/train writes one.
type fakeRun struct {
	name          string   // experiment name
	classes       []string // evaluated classes
	epochs        int      // epochs trained
	planned       int      // training.epochs (default: epochs)
	validateEvery int      // 0: never
	lr            float64
	ap            func(epoch, class int) float64 // AP of a class after an epoch (default: rising)
	curves        bool                           // write evals files with precision–recall curves
	status        string                         // summary.json's status; "" writes none
	err           string                         // summary.json's error
	groups        []string                       // parameter groups (default: "default")
	plan          bool                           // write plan.json
}

// write writes the run folder dir.
func (f fakeRun) write(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "evals"), 0o755); err != nil {
		t.Fatal(err)
	}
	if f.planned == 0 {
		f.planned = f.epochs
	}
	if len(f.groups) == 0 {
		f.groups = []string{"default"}
	}
	if f.lr == 0 {
		f.lr = 0.003
	}
	if f.ap == nil {
		f.ap = func(epoch, class int) float64 { return math.Min(1, 0.05*float64(epoch)+0.01*float64(class%7)) }
	}
	exp := map[string]any{
		"name":        f.name,
		"description": "a fake run for the report's tests",
		"model": map[string]any{"backbone": map[string]any{"type": "mobilenet_v1", "width_mult": 0.5},
			"head": map[string]any{"type": "ssd_lite"}, "anchors": map[string]any{"type": "ssd_spec"}},
		"optimizer": map[string]any{"type": "adamw", "lr": f.lr, "weight_decay": 0.0005},
		"scheduler": map[string]any{"type": "cosine", "t_max": float64(f.planned)},
		"data":      map[string]any{"batch_size": 16, "train": map[string]any{"type": "shapes", "count": 64}},
		"training":  map[string]any{"epochs": f.planned, "validate_every": f.validateEvery},
	}
	writeJSONFile(t, filepath.Join(dir, "experiment.json"), exp)
	writeFile(t, filepath.Join(dir, "experiment.hcl"), fmt.Sprintf("# The resolved experiment of this run.\nname = %q\n", f.name))
	var lines []string
	add := func(v any) {
		js, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(js))
	}
	const steps = 4
	global := 0
	lrAt := func(step int) map[string]float64 {
		out := map[string]float64{}
		for i, g := range f.groups {
			out[g] = f.lr / float64(i+1) * (1 + math.Cos(math.Pi*float64(step)/float64(f.planned*steps))) / 2
		}
		return out
	}
	for e := 1; e <= f.epochs; e++ {
		for s := 1; s <= steps; s++ {
			global++
			add(map[string]any{"kind": "step", "epoch": e, "step": s, "global_step": global, "lr": lrAt(global - 1),
				"loss": 8 - 0.1*float64(global), "regression": 2.5, "classification": 5.5 - 0.1*float64(global), "images_per_s": 16})
		}
		add(map[string]any{"kind": "epoch", "epoch": e, "steps": steps, "images": 64, "loss": 8 - 0.3*float64(e),
			"regression": 2.5 - 0.1*float64(e), "classification": 5.5 - 0.2*float64(e), "lr": lrAt(global - steps),
			"seconds": 4, "images_per_s": 16})
		if f.validateEvery > 0 && (e%f.validateEvery == 0 || e == f.planned) && len(f.classes) > 0 {
			ap := map[string]float64{}
			type curve struct {
				Class     string    `json:"class"`
				AP        float64   `json:"ap"`
				Precision []float64 `json:"precision"`
				Recall    []float64 `json:"recall"`
			}
			var curves []curve
			sum := 0.0
			for i, c := range f.classes {
				v := f.ap(e, i)
				ap[c] = v
				sum += v
				cv := curve{Class: c, AP: v}
				if v > 0 {
					for k := 1; k <= 50; k++ {
						cv.Recall = append(cv.Recall, v*float64(k)/50)
						cv.Precision = append(cv.Precision, math.Max(0, 1-float64(k)/60))
					}
				}
				curves = append(curves, cv)
			}
			mAP := sum / float64(len(f.classes))
			add(map[string]any{"kind": "validation", "epoch": e, "loss": 7 - 0.2*float64(e), "regression": 2 - 0.05*float64(e),
				"classification": 5 - 0.15*float64(e), "metric": "voc", "map": mAP, "ap": ap,
				"metrics": map[string]float64{"voc": mAP}, "images": 32, "seconds": 1.5})
			if f.curves {
				writeJSONFile(t, filepath.Join(dir, "evals", fmt.Sprintf("epoch-%04d.json", e)),
					map[string]any{"epoch": e, "metric": "voc", "map": mAP, "metrics": map[string]float64{"voc": mAP}, "classes": curves})
			}
		}
	}
	writeFile(t, filepath.Join(dir, "metrics.jsonl"), strings.Join(lines, "\n")+"\n")
	if f.status != "" {
		writeJSONFile(t, filepath.Join(dir, "summary.json"), map[string]any{"experiment": f.name, "status": f.status,
			"error": f.err, "epochs": f.planned, "epochs_done": f.epochs, "steps": global, "wall_seconds": 4.0 * float64(f.epochs),
			"images_per_s": 16, "images": 64 * f.epochs, "best": map[string]any{"epoch": f.epochs, "metric": "val_loss", "value": 5.0}})
	}
	if f.plan {
		writeJSONFile(t, filepath.Join(dir, "plan.json"), map[string]any{"model": map[string]any{"backbone": "mobilenet_v1",
			"head": "ssd_lite", "num_classes": len(f.classes) + 1, "params": 1234567, "trainable": 1200000},
			"anchors": map[string]any{"type": "ssd_spec", "image_size": 300, "total": 3000},
			"data": map[string]any{"train": map[string]any{"type": "shapes", "images": 64},
				"validation": map[string]any{"type": "shapes", "images": 32}, "batch_size": 16, "steps_per_epoch": 4}})
	}
	return dir
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	js, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, string(js)+"\n")
}

func classNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("class %d", i)
	}
	return out
}

var urlRE = regexp.MustCompile(`(?i)(https?:|ftp:|//[a-z0-9.-]+\.[a-z]{2,}/|\burl\(|@import|<link\b|\bsrc=)`)

// checkPage checks that an HTML page is well-formed (it parses as XML, strictly: every
// element closed, attributes quoted, no entity XML lacks), that nothing in it would be fetched
// from a network or from another file (no URL scheme, import, link, src or CSS url()), and
// that no NaN or Inf reached it.
func checkPage(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	depth, elements := 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			line, col := d.InputPos()
			t.Fatalf("%s is not well-formed at line %d, column %d: %v", path, line, col, err)
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
			elements++
		case xml.EndElement:
			depth--
		}
	}
	if depth != 0 || elements < 10 {
		t.Errorf("%s: %d elements, depth %d at the end", path, elements, depth)
	}
	s := string(data)
	if m := urlRE.FindString(s); m != "" {
		i := strings.Index(s, m)
		t.Errorf("%s references something outside the page: %q in …%s…", path, m, s[max(0, i-60):min(len(s), i+60)])
	}
	checkFinite(t, path, s)
	return s
}

// checkFinite fails when a NaN or an infinity was written as a number (into a chart's
// coordinates or a table).
func checkFinite(t *testing.T, path, s string) {
	t.Helper()
	if m := regexp.MustCompile(`\b(NaN|[+-]?Inf)\b`).FindStringIndex(s); m != nil {
		t.Errorf("%s holds %q: …%s…", path, s[m[0]:m[1]], s[max(0, m[0]-80):min(len(s), m[1]+40)])
	}
}

// checkCharts checks that each named chart exists as a PNG that decodes and an SVG without
// NaN, and returns the PNGs' sizes.
func checkCharts(t *testing.T, dir string, names ...string) map[string][2]int {
	t.Helper()
	sizes := map[string][2]int{}
	for _, n := range names {
		f, err := os.Open(filepath.Join(dir, "charts", n+".png"))
		if err != nil {
			t.Errorf("chart %s: %v", n, err)
			continue
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Errorf("chart %s.png: %v", n, err)
			continue
		}
		sizes[n] = [2]int{img.Bounds().Dx(), img.Bounds().Dy()}
		svg, err := os.ReadFile(filepath.Join(dir, "charts", n+".svg"))
		if err != nil {
			t.Errorf("chart %s: %v", n, err)
			continue
		}
		checkFinite(t, n+".svg", string(svg))
	}
	return sizes
}

// copyDir copies the testdata run folder src into a temporary folder (reports are written
// into the run folder).
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	err := filepath.Walk(src, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}
