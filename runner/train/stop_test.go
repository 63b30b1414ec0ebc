package train

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStopOnValidation: OnValidation sees every validation but the last with the history
// so far; stopping at epoch 1 of 3 ends the run there with a checkpoint, the summary says
// "stopped" with the reason, and the run folder is the one Options.Dir names.
func TestStopOnValidation(t *testing.T) {
	dir := t.TempDir()
	res := load(t, dir, tinyExperiment, "training.epochs=3", "data.train.count=4", "data.validation.count=4")
	runDir := filepath.Join(dir, "sweep", "trial-007")
	var seen []int
	sum, err := apply(t, context.Background(), res, Options{Dir: runDir, OnValidation: func(v Validation, h *History) (bool, string) {
		seen = append(seen, v.Epoch)
		if len(h.Validations) != len(seen) || h.Validations[len(h.Validations)-1].Epoch != v.Epoch {
			t.Errorf("history has %d validations at epoch %d", len(h.Validations), v.Epoch)
		}
		return v.Epoch == 1, "judged hopeless"
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0] != 1 {
		t.Errorf("OnValidation called at epochs %v, want [1]", seen)
	}
	if sum.Status != "stopped" || sum.StopReason != "judged hopeless" || sum.EpochsDone != 1 || sum.RunDir != runDir {
		t.Errorf("summary %+v", sum)
	}
	var onDisk Summary
	data, err := os.ReadFile(filepath.Join(runDir, "summary.json"))
	if err != nil || json.Unmarshal(data, &onDisk) != nil || onDisk.Status != "stopped" || onDisk.StopReason != "judged hopeless" {
		t.Errorf("summary.json: %s %v", data, err)
	}
	for _, f := range []string{"checkpoints/last.pt", "checkpoints/epoch-0001.pt", "charts/map.png", "metrics.jsonl"} {
		if _, err := os.Stat(filepath.Join(runDir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	// a folder that holds a run is not started again
	_, err = apply(t, context.Background(), res, Options{Dir: runDir})
	if err == nil || !strings.Contains(err.Error(), "holds a run already") {
		t.Errorf("second run into the same Dir: %v", err)
	}
	// OnValidation is not asked after the last epoch
	seen = nil
	res1 := load(t, dir, tinyExperiment, "training.epochs=1", "data.train.count=4", "data.validation.count=4")
	sum, err = apply(t, context.Background(), res1, Options{Dir: filepath.Join(dir, "one"), OnValidation: func(v Validation, h *History) (bool, string) {
		seen = append(seen, v.Epoch)
		return true, "never"
	}})
	if err != nil || sum.Status != "finished" || len(seen) != 0 {
		t.Errorf("one epoch: %v, %+v, asked at %v", err, sum, seen)
	}
}
