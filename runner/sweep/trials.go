// Package sweep runs an experiment's `sweep` block: it expands the block into trials (a
// grid, or random draws from value lists and ranges), runs each trial as its own run folder
// under one sweep folder — in this process, or as child processes each with its share of the
// cores — resumes what an earlier invocation left unfinished, stops hopeless trials early
// (median rule, successive halving) with the decision and its reason recorded, ranks the
// trials by the sweep's metric and writes the sweep report. It also writes the Slurm and
// Nomad jobs that run the same trials on a cluster.
//
// A sweep folder is <output.dir>/<experiment name>/<sweep name>/:
//
//	sweep.json            the sweep: its params, metric, early stopping and every trial's overrides
//	trial-NNN/            each trial's run folder (runner/train's layout) plus trial.json
//	report.html, report.md, charts/   the sweep report
package sweep

import (
	"fmt"
	"math"
	"strconv"

	"github.com/ssdrunner/ssdrunner/internal/rng"
	"github.com/ssdrunner/ssdrunner/runner/config"
)

// Trial is one point of a sweep: the values of its params, as overrides of the experiment.
type Trial struct {
	Index int    `json:"index"`
	ID    string `json:"id"`
	// Overrides are PATH=VALUE, one per param in the sweep block's order.
	Overrides []config.Override `json:"-"`
	// Values are the params' values as HCL literal text, keyed by param key.
	Values map[string]string `json:"values"`
}

// Sets returns the trial's overrides as --set writes them.
func (t Trial) Sets() []string {
	out := make([]string, len(t.Overrides))
	for i, o := range t.Overrides {
		out[i] = o.String()
	}
	return out
}

// TrialID names trial i's folder.
func TrialID(i int) string { return fmt.Sprintf("trial-%03d", i) }

// maxTrials bounds a sweep's size: a grid beyond it is almost certainly a mistake.
const maxTrials = 10000

// streamSweep is the random stream of a random sweep's draws (rng's convention: a named,
// non-zero constant).
const streamSweep = 0x5377656570 // "Sweep"

// Trials expands a sweep block into its trials. A grid is the product of every param's
// values (the last param varying fastest); a random sweep draws each param of each trial
// from its own stream of (seed, trial, param), so adding a param or trials leaves the
// values already drawn as they were.
func Trials(s *config.Sweep) ([]Trial, error) {
	if len(s.Params) == 0 {
		return nil, fmt.Errorf("the sweep has no params")
	}
	switch s.Method {
	case "grid":
		return grid(s)
	case "random":
		return random(s)
	}
	return nil, fmt.Errorf("unknown sweep method %q", s.Method)
}

// candidate is one value of a param with the place it came from.
type candidate struct {
	text string
	o    config.Override
}

func gridValues(p config.SweepParam) ([]candidate, error) {
	mk := func(text string, i int) candidate {
		r := p.DistRange
		if p.Dist == config.DistValues && i < len(p.ValueRanges) {
			r = p.ValueRanges[i]
		}
		return candidate{text, config.Override{Path: p.Key, Value: text, Range: r}}
	}
	var out []candidate
	switch p.Dist {
	case config.DistValues:
		for i, v := range p.Values {
			out = append(out, mk(v, i))
		}
	case config.DistIntRange:
		n := intCount(p)
		if n > maxTrials {
			return nil, fmt.Errorf("param %q: int_range = [%g, %g] has %d values, more than %d", p.Key, p.Low, p.High, n, maxTrials)
		}
		for i := int64(0); i < n; i++ {
			out = append(out, mk(strconv.FormatInt(int64(p.Low)+i*p.Step, 10), 0))
		}
	case config.DistUniform, config.DistLogUniform:
		for i := 0; i < p.Points; i++ {
			f := float64(i) / float64(p.Points-1)
			var v float64
			if p.Dist == config.DistLogUniform {
				v = math.Exp(math.Log(p.Low) + f*(math.Log(p.High)-math.Log(p.Low)))
			} else {
				v = p.Low + f*(p.High-p.Low)
			}
			if i == p.Points-1 {
				v = p.High
			}
			out = append(out, mk(formatFloat(v), 0))
		}
	}
	return out, nil
}

func intCount(p config.SweepParam) int64 {
	return (int64(p.High)-int64(p.Low))/p.Step + 1
}

func grid(s *config.Sweep) ([]Trial, error) {
	lists := make([][]candidate, len(s.Params))
	size := 1
	for i, p := range s.Params {
		l, err := gridValues(p)
		if err != nil {
			return nil, err
		}
		lists[i] = l
		size *= len(l)
		if size > maxTrials {
			return nil, fmt.Errorf("the grid has more than %d trials; sweep fewer values or use method = \"random\" with a trials budget", maxTrials)
		}
	}
	if s.Trials > 0 && s.Trials < size {
		return nil, fmt.Errorf("the grid has %d trials but sweep.trials = %d: raise trials (or drop it), sweep fewer values, or use method = \"random\"", size, s.Trials)
	}
	out := make([]Trial, size)
	for t := 0; t < size; t++ {
		tr := Trial{Index: t, ID: TrialID(t), Values: map[string]string{}}
		rest := t
		idx := make([]int, len(lists))
		for i := len(lists) - 1; i >= 0; i-- {
			idx[i] = rest % len(lists[i])
			rest /= len(lists[i])
		}
		for i, l := range lists {
			c := l[idx[i]]
			tr.Overrides = append(tr.Overrides, c.o)
			tr.Values[s.Params[i].Key] = c.text
		}
		out[t] = tr
	}
	return out, nil
}

func random(s *config.Sweep) ([]Trial, error) {
	if s.Trials > maxTrials {
		return nil, fmt.Errorf("sweep.trials = %d: at most %d", s.Trials, maxTrials)
	}
	root := rng.New(s.Seed).Stream(streamSweep)
	out := make([]Trial, s.Trials)
	for t := range out {
		tr := Trial{Index: t, ID: TrialID(t), Values: map[string]string{}}
		for i, p := range s.Params {
			r := root.Index(t).Index(i).SplitMix64()
			var text string
			rg := p.DistRange
			switch p.Dist {
			case config.DistValues:
				k := r.IntN(len(p.Values))
				text = p.Values[k]
				if k < len(p.ValueRanges) {
					rg = p.ValueRanges[k]
				}
			case config.DistIntRange:
				text = strconv.FormatInt(int64(p.Low)+int64(r.IntN(int(intCount(p))))*p.Step, 10)
			case config.DistUniform:
				text = formatFloat(r.Uniform(p.Low, p.High))
			case config.DistLogUniform:
				text = formatFloat(r.LogUniform(p.Low, p.High))
			}
			tr.Overrides = append(tr.Overrides, config.Override{Path: p.Key, Value: text, Range: rg})
			tr.Values[p.Key] = text
		}
		out[t] = tr
	}
	return out, nil
}

// formatFloat writes a drawn or spread value with 12 significant digits: short enough to
// read in folder listings and reports, far finer than any setting needs, and the same
// text on every machine.
func formatFloat(v float64) string {
	s := strconv.FormatFloat(v, 'g', 12, 64)
	f, _ := strconv.ParseFloat(s, 64)
	return strconv.FormatFloat(f, 'g', -1, 64)
}
