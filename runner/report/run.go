// Package report turns run folders into what people read: the report of one run
// (report.html, self-contained, and report.md, with PNG and SVG charts) and the comparison of
// several runs (compare.html, compare.md and their charts).
//
// It reads only the files that `runner apply` (runner/train) writes — metrics.jsonl, evals/,
// summary.json, experiment.json and .hcl, plan.json — so a report can be made of any run
// folder at any time, during the run, after it, or on another machine, without libtorch.
package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/ssdrunner/ssdrunner/internal/textfile"
	"github.com/ssdrunner/ssdrunner/runner/config"
)

// Size caps of the files read (a long run's metrics.jsonl is a few MiB; an evals file holds
// every detection's precision and recall, about 7 MiB for 200 images of 8 classes).
const (
	maxSmall   = 64 << 20 // experiment, summary, plan
	maxMetrics = 1 << 30
	maxEval    = 1 << 30
)

// Run is a run folder read back.
type Run struct {
	Dir string // the folder, as given
	// ID is the folder's name (the run id: a UTC start time or --run-name).
	ID string
	// Experiment is experiment.json, the resolved experiment (nil when missing); HCL is
	// experiment.hcl's text.
	Experiment map[string]any
	HCL        string
	Summary    *Summary // summary.json; nil while the run is in progress
	Plan       *Plan    // plan.json; nil for runs written before it existed
	Epochs     []Epoch
	Steps      []Step
	// Validations are in epoch order; Classes is the class order of the evaluations.
	Validations []Validation
	Classes     []string
	// Notes are problems met while reading that did not stop it (a last line cut short).
	Notes []string

	eval *EvalFile // the evals file read last
}

// Epoch is a `{"kind":"epoch"}` line of metrics.jsonl: one trained epoch.
type Epoch struct {
	Epoch          int                `json:"epoch"`
	Steps          int                `json:"steps"`
	Images         int                `json:"images"`
	Loss           float64            `json:"loss"`
	Regression     float64            `json:"regression"`
	Classification float64            `json:"classification"`
	LR             map[string]float64 `json:"lr"`
	Seconds        float64            `json:"seconds"`
	ImagesPerSec   float64            `json:"images_per_s"`
}

// Step is a `{"kind":"step"}` line: a logged optimizer step (GlobalStep counts from 1).
type Step struct {
	Epoch          int                `json:"epoch"`
	Step           int                `json:"step"`
	GlobalStep     int                `json:"global_step"`
	LR             map[string]float64 `json:"lr"`
	Loss           float64            `json:"loss"`
	Regression     float64            `json:"regression"`
	Classification float64            `json:"classification"`
	ImagesPerSec   float64            `json:"images_per_s"`
}

// Validation is a `{"kind":"validation"}` line: the evaluation after epoch Epoch.
type Validation struct {
	Epoch          int                `json:"epoch"`
	Loss           float64            `json:"loss"`
	Regression     float64            `json:"regression"`
	Classification float64            `json:"classification"`
	Metric         string             `json:"metric"`
	MAP            float64            `json:"map"`
	AP             map[string]float64 `json:"ap"`
	Metrics        map[string]float64 `json:"metrics"`
	Images         int                `json:"images"`
	Seconds        float64            `json:"seconds"`
}

// Summary is what summary.json says about the run (the fields a report uses).
type Summary struct {
	Experiment   string   `json:"experiment"`
	Status       string   `json:"status"`
	Error        string   `json:"error"`
	StopReason   string   `json:"stop_reason"` // why an early-stopping rule stopped the run (status "stopped")
	Epochs       int      `json:"epochs"`
	EpochsDone   int      `json:"epochs_done"`
	Steps        int      `json:"steps"`
	Best         *Best    `json:"best"`
	WallSeconds  float64  `json:"wall_seconds"`
	ImagesPerSec float64  `json:"images_per_s"`
	Images       int64    `json:"images"`
	Skipped      []string `json:"skipped"`
	NonFinite    int      `json:"nonfinite_skipped"`
}

// Best names the validation that the checkpoint metric rated best (best.pt).
type Best struct {
	Epoch  int     `json:"epoch"`
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
}

// Plan is what plan.json (runner/plan's summary, written by `runner apply`) says about the
// model and the data.
type Plan struct {
	Model struct {
		Backbone   string `json:"backbone"`
		Head       string `json:"head"`
		NumClasses int    `json:"num_classes"`
		Params     int64  `json:"params"`
		Trainable  int64  `json:"trainable"`
		Init       string `json:"init"`
	} `json:"model"`
	Anchors struct {
		Type      string `json:"type"`
		ImageSize int    `json:"image_size"`
		Total     int    `json:"total"`
	} `json:"anchors"`
	Data struct {
		Train struct {
			Type   string `json:"type"`
			Images int    `json:"images"`
		} `json:"train"`
		Validation *struct {
			Type   string `json:"type"`
			Images int    `json:"images"`
		} `json:"validation"`
		BatchSize     int    `json:"batch_size"`
		StepsPerEpoch int    `json:"steps_per_epoch"`
		Augmentation  string `json:"augmentation"`
	} `json:"data"`
	Optimizer string `json:"optimizer"`
	Schedule  struct {
		Type string `json:"type"`
	} `json:"schedule"`
}

// ClassEval is one class of an evals file: its AP and precision–recall curve.
type ClassEval struct {
	Class     string    `json:"class"`
	AP        float64   `json:"ap"`
	Precision []float64 `json:"precision"`
	Recall    []float64 `json:"recall"`
}

// EvalFile is evals/epoch-NNNN.json: one validation's first metric with its curves.
type EvalFile struct {
	Epoch   int                `json:"epoch"`
	Metric  string             `json:"metric"`
	MAP     float64            `json:"map"`
	Metrics map[string]float64 `json:"metrics"`
	Classes []ClassEval        `json:"classes"`
	// Confusion is the validation's confusion matrix (runner/eval's Confusion), absent in
	// evals files written before it was recorded.
	Confusion *ConfusionEval `json:"confusion,omitempty"`
}

// ConfusionEval is the confusion matrix of an evals file: Counts[true][detected], both
// indexing Classes, whose first entry is the background.
type ConfusionEval struct {
	Classes        []string `json:"classes"`
	ScoreThreshold float64  `json:"score_threshold"`
	IoUThreshold   float64  `json:"iou_threshold"`
	Counts         [][]int  `json:"counts"`
}

// IsRunDir reports whether dir looks like a run folder: a folder holding metrics.jsonl,
// summary.json or experiment.json.
func IsRunDir(dir string) bool {
	for _, name := range []string{"metrics.jsonl", "summary.json", "experiment.json"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// Load reads the run folder dir. Missing files make a thinner run (a run in progress has
// no summary.json; one without validation no evals); a malformed file is an error naming
// it and, for metrics.jsonl, the line. A last line of metrics.jsonl cut short (a crash
// while writing it) is left out with a note.
func Load(dir string) (*Run, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("run folder: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s: not a folder (a run folder holds metrics.jsonl, summary.json, experiment.json…)", dir)
	}
	if !IsRunDir(dir) {
		return nil, fmt.Errorf("%s: not a run folder: it has no metrics.jsonl, summary.json or experiment.json", dir)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	r := &Run{Dir: dir, ID: filepath.Base(abs)}
	if err := readJSON(filepath.Join(dir, "experiment.json"), &r.Experiment); err != nil {
		return nil, err
	}
	if data, err := readOptional(filepath.Join(dir, "experiment.hcl"), maxSmall); err != nil {
		return nil, err
	} else {
		r.HCL = string(data)
	}
	if err := readJSON(filepath.Join(dir, "summary.json"), &r.Summary); err != nil {
		return nil, err
	}
	if err := readJSON(filepath.Join(dir, "plan.json"), &r.Plan); err != nil {
		return nil, err
	}
	if err := r.readMetrics(filepath.Join(dir, "metrics.jsonl")); err != nil {
		return nil, err
	}
	if err := r.readClasses(); err != nil {
		return nil, err
	}
	return r, nil
}

// readOptional reads a regular file of at most limit bytes; a missing file gives nil.
func readOptional(path string, limit int64) ([]byte, error) {
	data, err := textfile.ReadText(path, limit)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

// readJSON decodes the JSON file path into v, leaving v alone when the file is missing.
func readJSON(path string, v any) error {
	data, err := readOptional(path, maxSmall)
	if err != nil || data == nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %s", path, jsonError(data, err))
	}
	return nil
}

// jsonError describes a decoding error with the line and column where it happened.
func jsonError(data []byte, err error) string {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 || off > int64(len(data)) {
		return err.Error()
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := off - int64(bytes.LastIndexByte(data[:off], '\n'))
	return fmt.Sprintf("line %d, column %d: %v", line, col, err)
}

// readMetrics reads metrics.jsonl into the run's epochs, steps and validations. A later line
// for the same epoch (or step) replaces an earlier one.
func (r *Run) readMetrics(path string) error {
	data, err := readOptional(path, maxMetrics)
	if err != nil || data == nil {
		return err
	}
	epochs := map[int]Epoch{}
	steps := map[int]Step{}
	vals := map[int]Validation{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var head struct {
			Kind string `json:"kind"`
		}
		err := json.Unmarshal(line, &head)
		if err == nil {
			switch head.Kind {
			case "epoch":
				var e Epoch
				if err = json.Unmarshal(line, &e); err == nil {
					epochs[e.Epoch] = e
				}
			case "step":
				var s Step
				if err = json.Unmarshal(line, &s); err == nil {
					steps[s.GlobalStep] = s
				}
			case "validation":
				var v Validation
				if err = json.Unmarshal(line, &v); err == nil {
					vals[v.Epoch] = v
				}
			default: // a kind this version does not chart
			}
		}
		if err != nil {
			if !bytes.HasSuffix(data, []byte("\n")) && isLastLine(data, n) {
				r.Notes = append(r.Notes, fmt.Sprintf("%s:%d: the last line is incomplete (the run stopped while writing it) and was left out", path, n))
				continue
			}
			return fmt.Errorf("%s:%d: %s", path, n, jsonError(line, err))
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: line %d: %w", path, n+1, err)
	}
	for _, k := range sortedKeys(epochs) {
		r.Epochs = append(r.Epochs, epochs[k])
	}
	for _, k := range sortedKeys(steps) {
		r.Steps = append(r.Steps, steps[k])
	}
	for _, k := range sortedKeys(vals) {
		r.Validations = append(r.Validations, vals[k])
	}
	return nil
}

// isLastLine reports whether line n (1-based) is the last non-empty line of data.
func isLastLine(data []byte, n int) bool {
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	return n == len(lines)
}

func sortedKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}

// readClasses sets the class order: that of the newest validation's evals file, then any
// class of the validations it lacks, by name (all of them by name without an evals file).
func (r *Run) readClasses() error {
	seen := map[string]bool{}
	if last := r.Last(); last != nil {
		ev, err := r.Eval(last.Epoch)
		if err != nil {
			return err
		}
		if ev != nil {
			for _, c := range ev.Classes {
				if !seen[c.Class] {
					seen[c.Class] = true
					r.Classes = append(r.Classes, c.Class)
				}
			}
		}
	}
	var extra []string
	for _, v := range r.Validations {
		for c := range v.AP {
			if !seen[c] {
				seen[c] = true
				extra = append(extra, c)
			}
		}
	}
	sort.Strings(extra)
	r.Classes = append(r.Classes, extra...)
	return nil
}

// Eval reads evals/epoch-NNNN.json of the validation after epoch; nil when there is none.
// The newest one read is kept.
func (r *Run) Eval(epoch int) (*EvalFile, error) {
	if r.eval != nil && r.eval.Epoch == epoch {
		return r.eval, nil
	}
	path := filepath.Join(r.Dir, "evals", fmt.Sprintf("epoch-%04d.json", epoch))
	data, err := readOptional(path, maxEval)
	if err != nil || data == nil {
		return nil, err
	}
	var ev EvalFile
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, fmt.Errorf("%s: %s", path, jsonError(data, err))
	}
	ev.Epoch = epoch
	r.eval = &ev
	return &ev, nil
}

// Name is the run's display name: the experiment's name and the run id.
func (r *Run) Name() string {
	if exp := r.ExperimentName(); exp != "" && exp != r.ID {
		return exp + "/" + r.ID
	}
	return r.ID
}

// ExperimentName is the experiment's name from experiment.json or summary.json.
func (r *Run) ExperimentName() string {
	if s, ok := r.Experiment["name"].(string); ok && s != "" {
		return s
	}
	if r.Summary != nil {
		return r.Summary.Experiment
	}
	return ""
}

// Status is the run's status: summary.json's (finished, interrupted, failed), or "in
// progress" before there is one and while a resumed run has gone past it.
func (r *Run) Status() string {
	if r.Summary != nil && r.Summary.Status != "" && r.Summary.EpochsDone >= len(r.Epochs) {
		return r.Summary.Status
	}
	return "in progress"
}

// Last is the newest validation, or nil.
func (r *Run) Last() *Validation {
	if len(r.Validations) == 0 {
		return nil
	}
	return &r.Validations[len(r.Validations)-1]
}

// BestMAP is the validation with the highest mAP (the earliest of equals), or nil.
func (r *Run) BestMAP() *Validation {
	var best *Validation
	for i := range r.Validations {
		v := &r.Validations[i]
		if finite(v.MAP) && (best == nil || v.MAP > best.MAP) {
			best = v
		}
	}
	return best
}

// Flat is the resolved experiment as dotted keys (runner/config.Flatten).
func (r *Run) Flat() map[string]any {
	if r.Experiment == nil {
		return map[string]any{}
	}
	return config.Flatten(r.Experiment)
}

// StepsPerEpoch is the number of optimizer steps of a full epoch: plan.json's, else the
// most steps any epoch took.
func (r *Run) StepsPerEpoch() int {
	if r.Plan != nil && r.Plan.Data.StepsPerEpoch > 0 {
		return r.Plan.Data.StepsPerEpoch
	}
	n := 0
	for _, e := range r.Epochs {
		n = max(n, e.Steps)
	}
	return n
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// sortedNames returns a map's keys, sorted.
func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var nan = math.NaN()

// Error is the error that ended the run (summary.json's), the reason an early-stopping
// rule stopped it, or "".
func (r *Run) Error() string {
	if r.Summary == nil || r.Status() != r.Summary.Status {
		return ""
	}
	if r.Summary.Status == "stopped" && r.Summary.Error == "" && r.Summary.StopReason != "" {
		return "stopped early: " + r.Summary.StopReason
	}
	return r.Summary.Error
}
