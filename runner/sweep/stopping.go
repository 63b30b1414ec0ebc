package sweep

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/ssdrunner/ssdrunner/runner/config"
)

// stopper judges one trial at each of its validations against the other trials of the
// sweep, read from their metrics.jsonl files in the sweep folder: so the rule works alike
// for trials run one after another, as parallel processes, or as cluster jobs sharing the
// folder. Trials judged early (before others reached the epoch) see fewer peers, as in
// every asynchronous scheduler.
type stopper struct {
	es     *config.EarlyStopping
	metric Metric
	dir    string // the sweep folder
	self   string // this trial's id
	epochs int    // this trial's last epoch
}

// peers returns the other trials' values of the metric at epoch, by trial id.
func (s *stopper) peers(epoch int) (map[string]float64, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "trial-") || e.Name() == s.self {
			continue
		}
		pts, err := readValidations(filepath.Join(s.dir, e.Name()))
		if err != nil {
			return nil, err
		}
		if v, ok := s.metric.At(pts, epoch); ok {
			out[e.Name()] = v
		}
	}
	return out, nil
}

// judge decides after this trial's validation at epoch, given its validations so far.
// It returns nil when the rule does not judge at this epoch.
func (s *stopper) judge(epoch int, own []point) *Decision {
	v, ok := s.metric.At(own, epoch)
	if !ok {
		return nil
	}
	switch s.es.Rule {
	case "median":
		if epoch < s.es.GraceEpochs {
			return nil
		}
	case "successive_halving":
		if !slices.Contains(Rungs(s.es, s.epochs), epoch) {
			return nil
		}
	}
	d := &Decision{Epoch: epoch, Rule: s.es.Rule}
	peers, err := s.peers(epoch)
	if err != nil {
		d.Reason = fmt.Sprintf("cannot read the other trials (%v): continue", err)
		return d
	}
	vals := make([]float64, 0, len(peers))
	for _, x := range peers {
		vals = append(vals, x)
	}
	label := s.metric.Label()
	if len(vals) < s.es.MinTrials {
		d.Reason = fmt.Sprintf("%s %s at epoch %d; %d other trial(s) reached epoch %d, %d needed to judge (min_trials): continue",
			label, num(v), epoch, len(vals), epoch, s.es.MinTrials)
		return d
	}
	switch s.es.Rule {
	case "median":
		med := median(vals)
		if s.metric.Better(med, v) {
			d.Stop = true
			d.Reason = fmt.Sprintf("%s %s at epoch %d is worse than the median %s of %d other trials at that epoch: stop",
				label, num(v), epoch, num(med), len(vals))
		} else {
			d.Reason = fmt.Sprintf("%s %s at epoch %d is not worse than the median %s of %d other trials at that epoch: continue",
				label, num(v), epoch, num(med), len(vals))
		}
	case "successive_halving":
		all := append(vals, v)
		sort.Slice(all, func(i, j int) bool { return s.metric.Better(all[i], all[j]) })
		keep := max(1, len(all)/s.es.ReductionFactor)
		rank := 1
		for _, x := range vals {
			if s.metric.Better(x, v) {
				rank++
			}
		}
		cut := all[keep-1]
		if rank > keep {
			d.Stop = true
			d.Reason = fmt.Sprintf("%s %s at rung epoch %d ranks %d of the %d trials there; the best %d (1/%d) continue, down to %s: stop",
				label, num(v), epoch, rank, len(all), keep, s.es.ReductionFactor, num(cut))
		} else {
			d.Reason = fmt.Sprintf("%s %s at rung epoch %d ranks %d of the %d trials there, within the best %d (1/%d): continue",
				label, num(v), epoch, rank, len(all), keep, s.es.ReductionFactor)
		}
	}
	return d
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func num(v float64) string { return fmt.Sprintf("%.4g", v) }
