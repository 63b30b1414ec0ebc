package main

import (
	"math"
	"os"
	"strings"
	"testing"
)

// testdata/train_ssd.log is the output (stdout and stderr together) of the reference's
// train_ssd.py, run unmodified with Debian's python3-torch 1.13 on 32 images: 2 steps of
// 16 per epoch, --debug_steps 1, 2 epochs, each followed by its validation.
func TestParseTrainLog(t *testing.T) {
	f, err := os.Open("testdata/train_ssd.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lg, err := parseTrainLog(f, 2)
	if err != nil {
		t.Fatal(err)
	}
	if lg.Images != 32 {
		t.Errorf("images %d, want 32", lg.Images)
	}
	// epoch 0: from "Start training" (10:51:19,746) to its step 1 (10:52:39,160); epoch 1:
	// from epoch 0's "Saved model" (10:52:49,948) to its step 1 (10:53:57,906)
	want := []epochTime{{0, 79.414}, {1, 67.958}}
	if len(lg.Epochs) != len(want) {
		t.Fatalf("epochs %+v, want %+v", lg.Epochs, want)
	}
	for i, w := range want {
		// milliseconds parsed into float64 seconds: exact to far below a microsecond
		if g := lg.Epochs[i]; g.Epoch != w.Epoch || math.Abs(g.Seconds-w.Seconds) > 1e-6 {
			t.Errorf("epoch %d: %+v, want %+v", i, g, w)
		}
	}
	r := sideRun{epochs: lg.Epochs, images: lg.Images}
	ips, err := r.imagesPerSec()
	if err != nil {
		t.Fatal(err)
	}
	if w := 32 / 67.958; math.Abs(ips-w) > 1e-9*w { // the first epoch left out; relative: a quotient of exact inputs
		t.Errorf("images/s %g, want %g", ips, w)
	}
}

// With --debug_steps 1 and more steps, an epoch logs several steps: it still runs from the
// line before its first step to its last step.
func TestParseTrainLogSeveralSteps(t *testing.T) {
	log := strings.Join([]string{
		"2026-12-06 10:00:00,000 - root - INFO - Train dataset size: 48",
		"2026-12-06 10:00:01,000 - root - INFO - Start training from epoch 0.",
		"2026-12-06 10:00:05,000 - root - INFO - Epoch: 0, Step: 1, Average Loss: 1",
		"2026-12-06 10:00:07,500 - root - INFO - Epoch: 0, Step: 2, Average Loss: 1",
		"2026-12-06 10:00:09,000 - root - INFO - Saved model m.pth",
		"2026-12-06 10:00:12,250 - root - INFO - Epoch: 1, Step: 1, Average Loss: 1",
		"2026-12-06 10:00:14,000 - root - INFO - Epoch: 1, Step: 2, Average Loss: 1",
		"2026-12-06 10:00:20,000 - root - INFO - Epoch: 2, Step: 1, Average Loss: 1", // epoch 2 cut short
	}, "\n")
	lg, err := parseTrainLog(strings.NewReader(log), 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []epochTime{{0, 6.5}, {1, 5}}
	if len(lg.Epochs) != 2 || lg.Epochs[0] != want[0] || lg.Epochs[1] != want[1] || lg.Images != 48 {
		t.Errorf("got %+v, want epochs %+v and 48 images", lg, want)
	}
	// a --debug_steps that never logs the last step is refused, not misread
	if _, err := parseTrainLog(strings.NewReader(log), 5); err == nil || !strings.Contains(err.Error(), "Step: 4") {
		t.Errorf("steps 5: error %v, want one naming Step: 4", err)
	}
}
