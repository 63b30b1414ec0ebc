package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestApplyQuickstart runs the built-in default experiment end to end through the command
// line, shortened to one epoch on a few images: exit code 0, the plan and the summary on
// stdout, and a run folder whose summary says it finished.
func TestApplyQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("trains")
	}
	out := t.TempDir()
	stdout, stderr, code := run(t, "", "apply", filepath.Join(repoRoot, "experiments", "quickstart.hcl"),
		"--run-name", "ci", "--set", "output.dir="+out, "--set", "training.epochs=1", "--set", "data.train.count=16",
		"--set", "data.validation.count=8", "--set", "data.batch_size=8")
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"Experiment quickstart", "training transform:", "Validation after epoch 1", "Run quickstart finished"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	data, err := os.ReadFile(filepath.Join(out, "quickstart", "ci", "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sum struct {
		Status     string `json:"status"`
		EpochsDone int    `json:"epochs_done"`
	}
	if err := json.Unmarshal(data, &sum); err != nil || sum.Status != "finished" || sum.EpochsDone != 1 {
		t.Errorf("summary.json: %s (%v)", data, err)
	}
	// a second apply with the same --run-name is refused, naming --resume
	_, stderr, code = run(t, "", "apply", filepath.Join(repoRoot, "experiments", "quickstart.hcl"), "--run-name", "ci",
		"--set", "output.dir="+out, "--set", "training.epochs=1", "--set", "data.train.count=16")
	if code != exitError || !strings.Contains(stderr, "--resume") {
		t.Errorf("second apply into the same run: exit %d\n%s", code, stderr)
	}
	// an interrupted apply (context cancelled before the first step) exits 130 with the resume command
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var o, e strings.Builder
	code = Run(ctx, []string{"apply", filepath.Join(repoRoot, "experiments", "quickstart.hcl"), "--run-name", "int",
		"--set", "output.dir=" + out, "--set", "data.train.count=16"}, &o, &e, []string{"HOME=" + t.TempDir()})
	if code != 130 || !strings.Contains(e.String(), "--resume") {
		t.Errorf("interrupted apply: exit %d\n%s", code, e.String())
	}
}
