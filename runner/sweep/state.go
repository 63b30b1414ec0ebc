package sweep

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/ssdrunner/ssdrunner/internal/fsutil"
)

// Trial statuses in trial.json. A trial is done when finished, stopped or failed (a failed
// trial — diverged, say — is a result of the sweep; remove its folder to run it again).
const (
	StatusPending     = "pending"
	StatusRunning     = "running"
	StatusFinished    = "finished"
	StatusStopped     = "stopped"
	StatusFailed      = "failed"
	StatusInterrupted = "interrupted"
)

// Done reports whether a trial with this status is left alone by a re-run.
func Done(status string) bool {
	return status == StatusFinished || status == StatusStopped || status == StatusFailed
}

// Decision is one judgement of the early-stopping rule at a validation.
type Decision struct {
	Epoch  int    `json:"epoch"`
	Rule   string `json:"rule"`
	Stop   bool   `json:"stop"`
	Reason string `json:"reason"`
}

// State is trial.json, kept in the trial's run folder by the process that runs it.
type State struct {
	ID        string            `json:"id"`
	Index     int               `json:"index"`
	Overrides []string          `json:"overrides"`
	Values    map[string]string `json:"values"`
	Status    string            `json:"status"`
	Error     string            `json:"error,omitempty"`
	// Stop is the decision that stopped the trial early; Decisions every judgement made.
	Stop      *Decision  `json:"stop,omitempty"`
	Decisions []Decision `json:"decisions,omitempty"`
	Host      string     `json:"host,omitempty"`
	PID       int        `json:"pid,omitempty"`
	Started   time.Time  `json:"started"`
	Updated   time.Time  `json:"updated"`
	Sessions  int        `json:"sessions"`
}

// StateFile is the name of a trial's record in its run folder.
const StateFile = "trial.json"

// ReadState reads a trial folder's trial.json; a folder without one gives a pending state.
func ReadState(dir string) (*State, error) {
	data, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return &State{Status: StatusPending}, nil
	}
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, StateFile), err)
	}
	return &s, nil
}

func (s *State) write(dir string) error {
	s.Updated = time.Now().UTC()
	js, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteBytesAtomic(filepath.Join(dir, StateFile), 0o644, append(js, '\n'))
}

// point is one validation of a trial, as its metrics.jsonl records it.
type point struct {
	Epoch int                `json:"epoch"`
	Loss  float64            `json:"loss"`
	MAP   float64            `json:"map"`
	AP    map[string]float64 `json:"ap"`
}

// readValidations reads the validation lines of a run folder's metrics.jsonl, in epoch
// order (a line being written by another process, cut short, is skipped; a missing file
// gives none).
func readValidations(dir string) ([]point, error) {
	f, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	byEpoch := map[int]point{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var line struct {
			Kind string `json:"kind"`
			point
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.Kind != "validation" {
			continue
		}
		byEpoch[line.Epoch] = line.point // a resumed run may repeat an epoch: the newest counts
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "metrics.jsonl"), err)
	}
	out := make([]point, 0, len(byEpoch))
	for _, p := range byEpoch {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Epoch < out[j].Epoch })
	return out, nil
}

// Metric is how a sweep ranks trials: best_map, last_map, best_val_loss or last_val_loss.
type Metric string

// HigherIsBetter reports whether larger values of the metric are better (mAP).
func (m Metric) HigherIsBetter() bool { return m == "best_map" || m == "last_map" }

// Better reports whether a is strictly better than b.
func (m Metric) Better(a, b float64) bool {
	if m.HigherIsBetter() {
		return a > b
	}
	return a < b
}

// Label names the metric for people.
func (m Metric) Label() string {
	switch m {
	case "best_map":
		return "best mAP"
	case "last_map":
		return "last mAP"
	case "best_val_loss":
		return "best validation loss"
	case "last_val_loss":
		return "last validation loss"
	}
	return string(m)
}

func (m Metric) raw(p point) float64 {
	if m.HigherIsBetter() {
		return p.MAP
	}
	return p.Loss
}

// At returns the metric of a trial as judged after its validation at epoch: the best
// value up to it (best_*), or the value at it (last_*); ok is false without a validation
// at that epoch.
func (m Metric) At(pts []point, epoch int) (float64, bool) {
	v, ok := math.NaN(), false
	for _, p := range pts {
		if p.Epoch > epoch {
			break
		}
		x := m.raw(p)
		switch {
		case p.Epoch == epoch:
			ok = true
			if m == "last_map" || m == "last_val_loss" || math.IsNaN(v) || m.Better(x, v) {
				v = x
			}
		case m == "best_map" || m == "best_val_loss":
			if math.IsNaN(v) || m.Better(x, v) {
				v = x
			}
		}
	}
	return v, ok && !math.IsNaN(v)
}

// Final returns the metric over a trial's whole run: at its last validation.
func (m Metric) Final(pts []point) (float64, int, bool) {
	if len(pts) == 0 {
		return 0, 0, false
	}
	last := pts[len(pts)-1].Epoch
	v, ok := m.At(pts, last)
	// the epoch the value comes from (for best_*, the best validation's)
	epoch := last
	if m == "best_map" || m == "best_val_loss" {
		for _, p := range pts {
			if m.raw(p) == v {
				epoch = p.Epoch
				break
			}
		}
	}
	return v, epoch, ok
}
