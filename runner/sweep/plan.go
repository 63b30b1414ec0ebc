package sweep

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/ssdrunner/ssdrunner/internal/fsutil"
	"github.com/ssdrunner/ssdrunner/runner/config"
	"github.com/ssdrunner/ssdrunner/runner/train"
)

// Plan is a loaded sweep: the base experiment, its trials with their experiments, and
// the sweep folder.
type Plan struct {
	// Base is the experiment file loaded without any trial's values; Base.Sweep is the block.
	Base  *config.Result
	Sweep *config.Sweep
	// Options loaded Base (variables, environment, --set); each trial adds its overrides.
	Options config.Options
	Dir     string
	Trials  []Trial
	// Results are the trials' experiments, by trial index.
	Results []*config.Result
}

// NewPlan expands res's sweep block into trials and loads each trial's experiment (the
// base with the trial's overrides, applied after opts.Set), so that a value that makes
// an invalid experiment is reported before anything runs, at its place in the sweep
// block. res must have been loaded from res.Path with opts.
func NewPlan(res *config.Result, opts config.Options) (*Plan, hcl.Diagnostics) {
	s := res.Sweep
	if s == nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "No sweep", Detail: res.Path + " has no sweep block."}}
	}
	p := &Plan{Base: res, Sweep: s, Options: opts,
		Dir: filepath.Join(res.Experiment.Output.Dir, res.Experiment.Name, s.Name)}
	trials, err := Trials(s)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid sweep", Detail: sentence(err), Subject: s.Range.Ptr()}}
	}
	p.Trials = trials
	var diags hcl.Diagnostics
	seen := map[string]bool{}
	for _, t := range trials {
		o := opts
		o.Trial = t.Overrides
		r, d := config.Load(res.Path, o)
		for _, x := range d {
			if x.Severity == hcl.DiagError {
				x.Detail = strings.TrimSpace(x.Detail + fmt.Sprintf(" (sweep %s: %s)", t.ID, strings.Join(t.Sets(), ", ")))
			}
			k := x.Summary + x.Detail
			if x.Subject != nil {
				k += x.Subject.String()
			}
			if !seen[k] {
				seen[k] = true
				diags = append(diags, x)
			}
		}
		p.Results = append(p.Results, r)
	}
	if diags.HasErrors() {
		return p, diags
	}
	diags = append(diags, p.checkStopping()...)
	return p, diags
}

// checkStopping checks that successive halving's rungs are epochs at which every trial
// validates (trials are compared at the same epoch).
func (p *Plan) checkStopping() hcl.Diagnostics {
	es := p.Sweep.EarlyStopping
	if es == nil {
		return nil
	}
	var diags hcl.Diagnostics
	for i, r := range p.Results {
		tr := r.Experiment.Training
		if es.Rule == "successive_halving" {
			for _, rung := range Rungs(es, tr.Epochs) {
				if !validates(rung, tr.ValidateEvery, tr.Epochs) {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Rung without validation",
						Detail: fmt.Sprintf("successive halving compares trials at epochs %v, but %s validates every %d epochs (training.validate_every): make each rung a multiple of it, e.g. min_epochs = %d.",
							Rungs(es, tr.Epochs), p.Trials[i].ID, tr.ValidateEvery, tr.ValidateEvery),
						Subject: es.Range.Ptr()})
					return diags
				}
			}
		}
		if r.Experiment.Data.Validation.Type == "" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Early stopping without validation",
				Detail:  "Early stopping judges trials by their validations, but the experiment has no data.validation dataset.",
				Subject: es.Range.Ptr()})
			return diags
		}
	}
	return diags
}

func validates(epoch, every, epochs int) bool {
	return epoch == epochs || every > 0 && epoch%every == 0
}

// Rungs are the epochs at which successive halving judges trials: min_epochs ×
// reduction_factorᵏ, below the trial's last epoch.
func Rungs(es *config.EarlyStopping, epochs int) []int {
	var out []int
	for r := es.MinEpochs; r < epochs; r *= es.ReductionFactor {
		out = append(out, r)
	}
	return out
}

// Trial returns the trial named by spec: its index ("3") or its id ("trial-003").
func (p *Plan) Trial(spec string) (int, error) {
	for i, t := range p.Trials {
		if spec == t.ID {
			return i, nil
		}
	}
	if i, err := strconv.Atoi(spec); err == nil && i >= 0 && i < len(p.Trials) {
		return i, nil
	}
	return 0, fmt.Errorf("no trial %q: the sweep has trials 0 to %d (%s to %s)", spec, len(p.Trials)-1, p.Trials[0].ID, p.Trials[len(p.Trials)-1].ID)
}

// TrialDir is trial i's run folder.
func (p *Plan) TrialDir(i int) string { return filepath.Join(p.Dir, p.Trials[i].ID) }

// Record is sweep.json: what a sweep folder holds, so that a report can be written from the
// folder alone and a re-run can tell that it continues the same sweep.
type Record struct {
	Version    int                   `json:"version"`
	Name       string                `json:"name"`
	Experiment string                `json:"experiment"`
	File       string                `json:"file"`
	Method     string                `json:"method"`
	Metric     string                `json:"metric"`
	Seed       int64                 `json:"seed"`
	Params     []ParamRecord         `json:"params"`
	Stopping   *config.EarlyStopping `json:"early_stopping,omitempty"`
	Trials     []TrialRecord         `json:"trials"`
	// Base is the resolved base experiment (every trial is it plus its overrides).
	Base map[string]any `json:"base"`
}

// ParamRecord is a swept key as sweep.json records it.
type ParamRecord struct {
	Key    string   `json:"key"`
	Dist   string   `json:"dist"`
	Values []string `json:"values,omitempty"`
	Low    float64  `json:"low,omitempty"`
	High   float64  `json:"high,omitempty"`
	Log    bool     `json:"log,omitempty"`
}

// TrialRecord is a trial as sweep.json records it.
type TrialRecord struct {
	ID        string            `json:"id"`
	Overrides []string          `json:"overrides"`
	Values    map[string]string `json:"values"`
}

const recordVersion = 1

// Record returns the plan's sweep.json.
func (p *Plan) Record() *Record {
	s := p.Sweep
	r := &Record{Version: recordVersion, Name: s.Name, Experiment: p.Base.Experiment.Name, File: p.Base.Path,
		Method: s.Method, Metric: s.Metric, Seed: s.Seed, Stopping: s.EarlyStopping, Base: p.Base.Experiment.Resolved()}
	for _, pr := range s.Params {
		r.Params = append(r.Params, ParamRecord{Key: pr.Key, Dist: pr.Dist, Values: pr.Values, Low: pr.Low, High: pr.High, Log: pr.Log()})
	}
	for _, t := range p.Trials {
		r.Trials = append(r.Trials, TrialRecord{ID: t.ID, Overrides: t.Sets(), Values: t.Values})
	}
	return r
}

// RecordFile is the name of the sweep record in a sweep folder.
const RecordFile = "sweep.json"

// ReadRecord reads a sweep folder's sweep.json.
func ReadRecord(dir string) (*Record, error) {
	path := filepath.Join(dir, RecordFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s is not a sweep folder (it has no %s)", dir, RecordFile)
	}
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if r.Version != recordVersion {
		return nil, fmt.Errorf("%s: version %d, this runner reads version %d", path, r.Version, recordVersion)
	}
	return &r, nil
}

// Prepare creates the sweep folder and writes sweep.json, or checks that the folder's
// sweep.json describes this same sweep (the same trials, and a base experiment that differs
// at most in thread and loader settings), so that a re-run continues it rather than mixing
// two sweeps in one folder.
func (p *Plan) Prepare() error {
	rec := p.Record()
	if old, err := ReadRecord(p.Dir); err == nil {
		if err := sameSweep(old, rec); err != nil {
			return fmt.Errorf("%s holds another sweep: %w; set another sweep.name, or remove the folder", p.Dir, err)
		}
	} else if _, serr := os.Stat(filepath.Join(p.Dir, RecordFile)); serr == nil {
		return err
	}
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteBytesAtomic(filepath.Join(p.Dir, RecordFile), 0o644, append(js, '\n'))
}

func sameSweep(old, cur *Record) error {
	if len(old.Trials) != len(cur.Trials) {
		return fmt.Errorf("it has %d trials, this sweep %d", len(old.Trials), len(cur.Trials))
	}
	for i := range cur.Trials {
		if !slices.Equal(old.Trials[i].Overrides, cur.Trials[i].Overrides) {
			return fmt.Errorf("its %s is %s, this sweep's is %s", cur.Trials[i].ID,
				strings.Join(old.Trials[i].Overrides, ", "), strings.Join(cur.Trials[i].Overrides, ", "))
		}
	}
	a, _ := roundTrip(old.Base)
	b, _ := roundTrip(cur.Base)
	if diff := train.WithoutSessionKeys(config.Diff(a, b)); len(diff) > 0 {
		return fmt.Errorf("its base experiment differs in %s", strings.Join(diff, ", "))
	}
	return nil
}

func roundTrip(tree map[string]any) (map[string]any, error) {
	js, err := json.Marshal(tree)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	return out, json.Unmarshal(js, &out)
}

func sentence(err error) string {
	s := err.Error()
	if strings.HasSuffix(s, ".") {
		return s
	}
	return s + "."
}
