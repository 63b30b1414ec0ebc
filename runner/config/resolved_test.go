package config

import (
	"slices"
	"testing"
)

// TestDiffAbsentKeys: a setting recorded on one side only (a checkpoint written before
// the setting existed) is a difference only when the other side's value is not the
// setting's default.
func TestDiffAbsentKeys(t *testing.T) {
	e := Defaults()
	e.Training.Epochs = 3
	current := AsJSON(e.Resolved())
	old := AsJSON(e.Resolved())
	delete(old["training"].(map[string]any), "clip_grad_norm")
	delete(old["data"].(map[string]any), "mean") // a list, default [127 127 127]

	if d := Diff(old, current); len(d) > 0 {
		t.Errorf("keys absent from the old record, at their defaults now: Diff = %v, want none", d)
	}
	if d := Diff(current, old); len(d) > 0 {
		t.Errorf("the same, sides swapped: Diff = %v, want none", d)
	}

	e.Training.ClipGradNorm = 10
	e.Data.Mean = []float64{0, 0, 0}
	changed := AsJSON(e.Resolved())
	want := []string{"data.mean", "training.clip_grad_norm"}
	if d := Diff(old, changed); !slices.Equal(d, want) {
		t.Errorf("keys absent from the old record, set away from their defaults now: Diff = %v, want %v", d, want)
	}
	if d := Diff(changed, old); !slices.Equal(d, want) {
		t.Errorf("the same, sides swapped: Diff = %v, want %v", d, want)
	}
	// a key present on both sides still compares by value, default or not
	if d := Diff(current, changed); !slices.Equal(d, want) {
		t.Errorf("both sides recorded: Diff = %v, want %v", d, want)
	}
	// a key that is no setting at all is a difference whatever its value
	extra := AsJSON(e.Resolved())
	extra["training"].(map[string]any)["no_such_key"] = 0.0
	if d := Diff(changed, extra); !slices.Equal(d, []string{"training.no_such_key"}) {
		t.Errorf("an unknown key: Diff = %v, want [training.no_such_key]", d)
	}
}

// TestDiffEmptyList: a list left empty is a nil slice in a run's record (JSON null) and an
// empty one when the run's experiment.hcl is loaded back (`ignore_keys = []`); resuming a
// run from its own experiment.hcl must not see a difference there.
func TestDiffEmptyList(t *testing.T) {
	e := Defaults()
	recorded := AsJSON(e.Resolved()) // IgnoreKeys nil: null
	e.Model.Init.IgnoreKeys = []string{}
	loaded := AsJSON(e.Resolved()) // []
	if d := Diff(recorded, loaded); len(d) > 0 {
		t.Errorf("nil against empty list: Diff = %v, want none", d)
	}
	e.Model.Init.IgnoreKeys = []string{"fc"}
	if d := Diff(recorded, AsJSON(e.Resolved())); !slices.Equal(d, []string{"model.init.ignore_keys"}) {
		t.Errorf("nil against [fc]: Diff = %v, want [model.init.ignore_keys]", d)
	}
}
