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

// Validate reports the first problem that keeps m from being charted: fewer than two classes
// (the background and one), an empty or repeated class name, a threshold that is not a
// finite number in [0, 1] (the IoU threshold above 0), counts that are not len(Classes)
// rows of len(Classes), a negative count, a count in Counts[0][0], or counts whose sum
// overflows an int.
func (m ConfusionMatrix) Validate() error {
	where := m.where()
	n := len(m.Classes)
	if n < 2 {
		names := fmt.Sprintf("%d class names", n)
		if n == 1 {
			names = "1 class name"
		}
		return fmt.Errorf("reports: %s: %s; want the background and at least one class", where, names)
	}
	seen := make(map[string]bool, n)
	for i, c := range m.Classes {
		if c == "" {
			return fmt.Errorf("reports: %s: class %d has an empty name", where, i)
		}
		if seen[c] {
			return fmt.Errorf("reports: %s: class %q appears more than once", where, c)
		}
		seen[c] = true
	}
	if err := checkUnit(m.ScoreThreshold); err != nil {
		return fmt.Errorf("reports: %s: score threshold %v", where, err)
	}
	if err := checkUnit(m.IoUThreshold); err != nil {
		return fmt.Errorf("reports: %s: IoU threshold %v", where, err)
	}
	if m.IoUThreshold == 0 {
		return fmt.Errorf("reports: %s: IoU threshold is 0, want one in (0, 1]", where)
	}
	if len(m.Counts) != n {
		return fmt.Errorf("reports: %s: %d rows of counts for %d classes", where, len(m.Counts), n)
	}
	sum := 0
	for t, row := range m.Counts {
		if len(row) != n {
			return fmt.Errorf("reports: %s: row %d (%q) has %d counts for %d classes", where, t, m.Classes[t], len(row), n)
		}
		for d, k := range row {
			if k < 0 {
				return fmt.Errorf("reports: %s: count [%d][%d] (%q detected as %q) is %d, negative", where, t, d, m.Classes[t], m.Classes[d], k)
			}
			if k > math.MaxInt-sum {
				return fmt.Errorf("reports: %s: the counts sum beyond the largest int", where)
			}
			sum += k
		}
	}
	if m.Counts[0][0] != 0 {
		return fmt.Errorf("reports: %s: count [0][0] is %d; it counts nothing (no object, no detection) and must be 0", where, m.Counts[0][0])
	}
	return nil
}

func (m ConfusionMatrix) where() string {
	return fmt.Sprintf("confusion matrix of run %q epoch %d", m.Run, m.Epoch)
}
