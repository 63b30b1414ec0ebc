package config

import (
	"strconv"
	"strings"
	"testing"
)

// TestLongList: a 100,000-element list decodes, element by element, to the right values.
// cty converts a tuple to a list by unifying its element types in quadratic time; before
// decoding went element by element this input took minutes (issue #11), so a regression
// shows as a test that runs into the suite's timeout rather than a failed assertion.
func TestLongList(t *testing.T) {
	const n = 100_000
	var b strings.Builder
	b.WriteString("inherits = [\"full.hcl\"]\nscheduler \"multi_step\" {\n  milestones = [")
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(i))
	}
	b.WriteString("]\n}\n")
	res := mustLoad(t, memFS{"full.hcl": fullExperiment, "big.hcl": b.String()}, "big.hcl", Options{})
	ms, ok := res.Experiment.Scheduler.Options["milestones"].([]int)
	if !ok || len(ms) != n {
		t.Fatalf("milestones: %T of length %d", res.Experiment.Scheduler.Options["milestones"], len(ms))
	}
	for i, m := range ms {
		if m != i+1 {
			t.Fatalf("milestones[%d] = %d", i, m)
		}
	}

	// A bad element is still named by its index.
	_, diags := load(t, memFS{"full.hcl": fullExperiment, "bad.hcl": "inherits = [\"full.hcl\"]\nscheduler \"multi_step\" {\n  milestones = [1, 2, 3.5]\n}\n"}, "bad.hcl", Options{})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "element 2") {
		t.Fatalf("diagnostics: %v", diags)
	}
}
