package train

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/ssdrunner/ssdrunner/components/metric"
	"github.com/ssdrunner/ssdrunner/internal/fsutil"
	"github.com/ssdrunner/ssdrunner/runner/config"
	"github.com/ssdrunner/ssdrunner/runner/eval"
)

// runFiles are the files of a run folder:
//
//	experiment.hcl, experiment.json  the resolved experiment
//	metrics.jsonl                    one JSON line per logged step, epoch and validation
//	results.csv                      one row per epoch
//	log.jsonl                        the run's log, JSON lines
//	checkpoints/                     epoch-NNNN.pt, last.pt, best.pt
//	charts/                          PNG and SVG charts, train_batch0.jpg
//	evals/epoch-NNNN.json            each validation's per-class AP with precision–recall curves, and its confusion matrix
//	summary.json                     written when the run ends (or stops)
type runFiles struct {
	dir, ckptDir, chartsDir, evalsDir string
	metricsPath, resultsPath          string
	metrics                           *os.File
	log                               *os.File
	lastPR                            metric.Result   // the newest validation's first metric, with its curves
	lastConfusion                     *eval.Confusion // the newest validation's confusion matrix
	// discard: a data-parallel rank other than 0, which writes nothing
	discard bool
}

// openRunFiles creates the run folder's layout and files; on a resume it keeps
// metrics.jsonl's lines up to the checkpoint and appends after them.
func openRunFiles(dir string, e *config.Experiment, ck *checkpoint) (*runFiles, error) {
	f := &runFiles{dir: dir, ckptDir: filepath.Join(dir, "checkpoints"), chartsDir: filepath.Join(dir, "charts"),
		evalsDir: filepath.Join(dir, "evals"), metricsPath: filepath.Join(dir, "metrics.jsonl"),
		resultsPath: filepath.Join(dir, "results.csv")}
	for _, d := range []string{f.ckptDir, f.chartsDir, f.evalsDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	tree := e.Resolved()
	js, err := json.MarshalIndent(tree, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("experiment.json: %w", err)
	}
	if err := writeAtomic(filepath.Join(dir, "experiment.json"), append(js, '\n')); err != nil {
		return nil, err
	}
	hclText, err := config.WriteHCL(tree)
	if err != nil {
		return nil, fmt.Errorf("experiment.hcl: %w", err)
	}
	header := []byte("# The resolved experiment of this run (every default, inherited value and override applied).\n")
	if err := writeAtomic(filepath.Join(dir, "experiment.hcl"), append(header, hclText...)); err != nil {
		return nil, err
	}
	if ck != nil {
		if err := truncateMetrics(f.metricsPath, ck.Meta.GlobalStep, ck.Meta.Epoch); err != nil {
			return nil, err
		}
	}
	if f.metrics, err = os.OpenFile(f.metricsPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		return nil, err
	}
	if f.log, err = os.OpenFile(filepath.Join(dir, "log.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		f.metrics.Close()
		return nil, err
	}
	return f, nil
}

func (f *runFiles) Close() {
	if f.metrics != nil {
		f.metrics.Close()
	}
	if f.log != nil {
		f.log.Close()
	}
}

// line appends one JSON line to metrics.jsonl.
func (f *runFiles) line(v any) error {
	if f.discard {
		return nil
	}
	js, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := f.metrics.Write(append(js, '\n')); err != nil {
		return fmt.Errorf("%s: %w", f.metricsPath, err)
	}
	return nil
}

// stepLine records a logged training step.
func (f *runFiles) stepLine(epoch, step, global int, lr map[string]float64, reg, cls, ips float64) error {
	return f.line(map[string]any{"kind": "step", "epoch": epoch, "step": step, "global_step": global, "lr": lr,
		"loss": reg + cls, "regression": reg, "classification": cls, "images_per_s": ips})
}

// epoch records a trained epoch in metrics.jsonl and rewrites results.csv.
func (f *runFiles) epoch(r EpochRecord, h *History) error {
	if err := f.line(struct {
		Kind string `json:"kind"`
		EpochRecord
	}{"epoch", r}); err != nil {
		return err
	}
	return f.results(h)
}

// validation records a validation: its metrics.jsonl line and its evals file (with the
// precision–recall curves of the first metric).
func (f *runFiles) validation(v Validation) error {
	if f.discard {
		return nil
	}
	ap := map[string]float64{}
	for _, c := range v.PerClass {
		ap[c.Class] = c.AP
	}
	if err := f.line(map[string]any{"kind": "validation", "epoch": v.Epoch, "loss": v.Loss, "regression": v.Regression,
		"classification": v.Classification, "metric": v.Metric, "map": v.MAP, "ap": ap, "metrics": v.Metrics,
		"images": v.Images, "seconds": v.Seconds}); err != nil {
		return err
	}
	type curve struct {
		Class     string    `json:"class"`
		AP        float64   `json:"ap"`
		Precision []float64 `json:"precision"`
		Recall    []float64 `json:"recall"`
	}
	out := struct {
		Epoch             int                 `json:"epoch"`
		Metric            string              `json:"metric"`
		MAP               float64             `json:"map"`
		Metrics           map[string]float64  `json:"metrics"`
		Classes           []curve             `json:"classes"`
		Confusion         *eval.Confusion     `json:"confusion,omitempty"`
		ConfusionPerClass []eval.ClassSummary `json:"confusion_per_class,omitempty"`
	}{Epoch: v.Epoch, Metric: v.Metric, MAP: v.MAP, Metrics: v.Metrics, Confusion: f.lastConfusion}
	if f.lastConfusion != nil {
		out.ConfusionPerClass = f.lastConfusion.Summary()
	}
	for _, c := range f.lastPR.PerClass {
		out.Classes = append(out.Classes, curve{c.Class, c.AP, c.Precision, c.Recall})
	}
	js, err := json.Marshal(out)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(f.evalsDir, fmt.Sprintf("epoch-%04d.json", v.Epoch)), append(js, '\n'))
}

// results rewrites results.csv: one row per epoch, validation columns empty for epochs
// without a validation.
func (f *runFiles) results(h *History) error {
	if f.discard {
		return nil
	}
	groups := map[string]bool{}
	for _, e := range h.Epochs {
		for g := range e.LR {
			groups[g] = true
		}
	}
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	head := []string{"epoch", "train_loss", "train_regression", "train_classification", "val_loss", "val_regression",
		"val_classification", "map", "images_per_s", "seconds"}
	for _, g := range names {
		head = append(head, "lr_"+g)
	}
	w.Write(head)
	for _, e := range h.Epochs {
		row := []string{strconv.Itoa(e.Epoch), num(e.Loss), num(e.Regression), num(e.Classification), "", "", "", "",
			num(e.ImagesPerSec), num(e.Seconds)}
		if v := h.validationAt(e.Epoch); v != nil {
			row[4], row[5], row[6], row[7] = num(v.Loss), num(v.Regression), num(v.Classification), num(v.MAP)
		}
		for _, g := range names {
			row = append(row, num(e.LR[g]))
		}
		w.Write(row)
	}
	w.Flush()
	return writeAtomic(f.resultsPath, buf.Bytes())
}

// writeSummary writes summary.json.
func (f *runFiles) writeSummary(s *Summary) error {
	if f.discard {
		return nil
	}
	js, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(f.dir, "summary.json"), append(js, '\n'))
}

// truncateMetrics keeps the lines of metrics.jsonl that a checkpoint at (globalStep,
// epoch) already covers: steps up to globalStep, epochs and validations up to epoch.
func truncateMetrics(path string, globalStep, epoch int) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var l struct {
			Kind       string `json:"kind"`
			Epoch      int    `json:"epoch"`
			GlobalStep int    `json:"global_step"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue // a line cut by a crash
		}
		keep := false
		switch l.Kind {
		case "step":
			keep = l.GlobalStep <= globalStep
		default:
			keep = l.Epoch <= epoch
		}
		if keep {
			out.Write(sc.Bytes())
			out.WriteByte('\n')
		}
	}
	return writeAtomic(path, out.Bytes())
}

func num(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// writeAtomic writes data to path atomically (internal/fsutil).
func writeAtomic(path string, data []byte) error { return fsutil.WriteBytesAtomic(path, 0o644, data) }

// writeAtomicFunc writes path through write atomically (internal/fsutil): a crash at any
// instant leaves the old file or the new one, whole.
func writeAtomicFunc(path string, write func(io.Writer) error) error {
	return fsutil.WriteFileAtomic(path, 0o644, write)
}
