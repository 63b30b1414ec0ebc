package reports

import (
	"fmt"
	"math"
)

// Validate reports the first problem that keeps e from being charted: no classes, an empty or
// repeated class name, an AP or mAP that is not a finite number in [0, 1], precision and recall
// of different lengths, curve values outside [0, 1] or not finite, or recall that decreases.
func (e Eval) Validate() error {
	where := e.where()
	if len(e.Classes) == 0 {
		return fmt.Errorf("reports: %s has no classes", where)
	}
	if err := checkUnit(e.MAP); err != nil {
		return fmt.Errorf("reports: %s: mAP %v", where, err)
	}
	seen := make(map[string]bool, len(e.Classes))
	for i, c := range e.Classes {
		if c.Class == "" {
			return fmt.Errorf("reports: %s: class %d has an empty name", where, i)
		}
		if seen[c.Class] {
			return fmt.Errorf("reports: %s: class %q appears more than once", where, c.Class)
		}
		seen[c.Class] = true
		if err := checkUnit(c.AP); err != nil {
			return fmt.Errorf("reports: %s: class %q: AP %v", where, c.Class, err)
		}
		if len(c.Precision) != len(c.Recall) {
			return fmt.Errorf("reports: %s: class %q: %d precision values but %d recall values",
				where, c.Class, len(c.Precision), len(c.Recall))
		}
		for j := range c.Precision {
			if err := checkUnit(c.Precision[j]); err != nil {
				return fmt.Errorf("reports: %s: class %q: precision[%d] %v", where, c.Class, j, err)
			}
			if err := checkUnit(c.Recall[j]); err != nil {
				return fmt.Errorf("reports: %s: class %q: recall[%d] %v", where, c.Class, j, err)
			}
			if j > 0 && c.Recall[j] < c.Recall[j-1] {
				return fmt.Errorf("reports: %s: class %q: recall must be non-decreasing, but recall[%d]=%g < recall[%d]=%g",
					where, c.Class, j, c.Recall[j], j-1, c.Recall[j-1])
			}
		}
	}
	return nil
}

func (e Eval) where() string {
	return fmt.Sprintf("eval of run %q epoch %d", e.Run, e.Epoch)
}

// Validate reports the first problem that keeps s from being charted: no points, or a value that
// is NaN or infinite.
func (s Series) Validate() error {
	if len(s.Points) == 0 {
		return fmt.Errorf("reports: series %q of run %q has no points", s.Name, s.Run)
	}
	for _, p := range s.Points {
		if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
			return fmt.Errorf("reports: series %q of run %q: value at epoch %d is %v", s.Name, s.Run, p.Epoch, p.Value)
		}
	}
	return nil
}

// unitSlack is how far above 1 a value may be, for sums that round up (an AP of 1+1e-16).
const unitSlack = 1e-9

// checkUnit returns an error that completes "<quantity> …" when v is not a finite number in
// [0, 1] (up to unitSlack above 1).
func checkUnit(v float64) error {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Errorf("is %v, want a finite number in [0, 1]", v)
	case v < 0 || v > 1+unitSlack:
		return fmt.Errorf("is %g, outside [0, 1]", v)
	}
	return nil
}
