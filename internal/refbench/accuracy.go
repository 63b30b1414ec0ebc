package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
)

// Time to accuracy (`make bench-train`, refbench -time-to-accuracy): the same recipe as the
// train case — mb2-ssd-lite from scratch, SGD, cosine annealing over the run, lr 0.01,
// batch 16 — on a generated VOC-format set (training and validation folders of 500x375
// shapes JPEGs) for the same number of epochs, `runner apply` against the reference's
// train_ssd.py run unmodified. Each side runs -acc-runs times, alternating (ours seeded
// 0, 1, …; train_ssd.py seeds nothing, so each of its runs draws afresh). Each final model
// — ours checkpoints/last.pt, the reference's .pth of its last epoch — is evaluated the
// same way, by `runner eval --metric voc07` on the validation folder (VOC2007 11-point AP,
// what eval_ssd.py computes; runner/eval's TestEvalEqualsReference checks that the two
// agree on the same .pth). Wall time is each training process's, start to exit (each with
// its own validation: ours after the last epoch with every metric, train_ssd.py after
// the first and the last with the loss alone).

// accFlags are the time-to-accuracy settings.
type accFlags struct {
	train, val, epochs, runs int
}

type accRun struct {
	mAP, wall float64
}

// runTimeToAccuracy runs both sides f.runs times and prints every run, the mAPs with their
// spread, the wall-time ratio and the targets.
func runTimeToAccuracy(f accFlags, tf trainFlags, ref string, threads int, refEnv []string) error {
	if f.epochs < 1 || f.runs < 1 {
		return fmt.Errorf("-acc-epochs and -acc-runs must be at least 1 (got %d and %d)", f.epochs, f.runs)
	}
	if ref == "" {
		return errors.New("time to accuracy needs the reference (SSD_REFERENCE, SSD_PYTHON; make reference)")
	}
	bin, err := runnerBinary(tf.runner)
	if err != nil {
		return err
	}
	d, err := prepareTrainData("accuracy", f.train, f.val)
	if err != nil {
		return err
	}
	keep, err := os.MkdirTemp("", "refbench-accuracy-")
	if err != nil {
		return err
	}
	fmt.Printf("time to accuracy: mb2-ssd-lite from scratch, SGD lr 0.01, cosine over %d epochs, batch %d, %d thread(s);\n", f.epochs, trainBatch, threads)
	fmt.Printf("  %d training / %d validation images of 500x375 (%s), %d run(s) per side, alternating; runs kept in %s\n",
		f.train, f.val, filepath.Dir(d.train), f.runs, keep)
	fmt.Println("  mAP: VOC2007 11-point on the validation folder, by runner eval --metric voc07 on each side's final model")
	if len(tf.sets) > 0 {
		fmt.Printf("  ours with --set %s\n", strings.Join(tf.sets, " --set "))
	}
	ctx := context.Background()
	var ours, refs []accRun
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tours mAP\tours wall s\treference mAP\treference wall s\t")
	for i := 1; i <= f.runs; i++ {
		work := filepath.Join(keep, fmt.Sprintf("run%d", i))
		if err := os.MkdirAll(work, 0o755); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "refbench: time to accuracy, run %d: runner apply…\n", i)
		o, err := runOurs(ctx, bin, d, f.epochs, threads, i-1, work, "final", tf.sets)
		if err != nil {
			return err
		}
		om, err := evalMAP(ctx, bin, filepath.Join(o.dir, "checkpoints", "last.pt"), d.val, filepath.Join(work, "eval-ours"))
		if err != nil {
			return err
		}
		ours = append(ours, accRun{mAP: om, wall: o.wall})
		fmt.Fprintf(os.Stderr, "refbench: time to accuracy, run %d: train_ssd.py…\n", i)
		r, err := runReferenceTrain(ctx, ref, d, f.epochs, refEnv, work)
		if err != nil {
			return err
		}
		pth, err := referenceFinal(r.dir, f.epochs)
		if err != nil {
			return err
		}
		rm, err := evalMAP(ctx, bin, pth, d.val, filepath.Join(work, "eval-reference"),
			"--model", "mb2-ssd-lite", "--labels", filepath.Join(r.dir, "voc-model-labels.txt"))
		if err != nil {
			return err
		}
		refs = append(refs, accRun{mAP: rm, wall: r.wall})
		fmt.Fprintf(tw, "%d\t%.4f\t%.0f\t%.4f\t%.0f\t\n", i, om, o.wall, rm, r.wall)
	}
	tw.Flush()
	omaps, rmaps := field(ours, func(a accRun) float64 { return a.mAP }), field(refs, func(a accRun) float64 { return a.mAP })
	spread := max(slices.Max(omaps)-slices.Min(omaps), slices.Max(rmaps)-slices.Min(rmaps))
	om, rm := mean(omaps), mean(rmaps)
	verdict := "met"
	if om < rm-spread {
		verdict = "NOT met"
	}
	fmt.Printf("  mAP: ours %.4f, reference %.4f (means); run-to-run spread (largest max-min of a side) %.4f; target: ours ≥ reference within the spread: %s\n",
		om, rm, spread, verdict)
	if f.runs == 1 {
		fmt.Println("  (one run per side: no spread measured; -acc-runs 2 or more)")
	}
	ow, rw := median(field(ours, func(a accRun) float64 { return a.wall })), median(field(refs, func(a accRun) float64 { return a.wall }))
	verdict = "met"
	if ow/rw > 0.7 {
		verdict = "NOT met"
	}
	fmt.Printf("  wall time: ours %.0f s, reference %.0f s (medians); ours / reference %.2f; target ≤ 0.7: %s\n", ow, rw, ow/rw, verdict)
	return nil
}

func field(v []accRun, f func(accRun) float64) []float64 {
	out := make([]float64, len(v))
	for i, a := range v {
		out[i] = f(a)
	}
	return out
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// referenceFinal is the .pth train_ssd.py saved after its last epoch (it validates the last
// epoch whatever --validation_epochs says, and names the file after the epoch, from 0).
func referenceFinal(dir string, epochs int) (string, error) {
	m, err := filepath.Glob(filepath.Join(dir, fmt.Sprintf("mb2-ssd-lite-Epoch-%d-Loss-*.pth", epochs-1)))
	if err != nil || len(m) != 1 {
		return "", fmt.Errorf("%s: want one mb2-ssd-lite-Epoch-%d-Loss-*.pth, found %d (%v)", dir, epochs-1, len(m), err)
	}
	return m[0], nil
}

// evalMAP runs `runner eval --metric voc07` of a checkpoint on the validation folder and
// returns its mAP.
func evalMAP(ctx context.Context, bin, ckpt, val, out string, extra ...string) (float64, error) {
	args := append([]string{"eval", "--checkpoint", ckpt, "--dataset", val, "--split", "test", "--metric", "voc07", "--json", "--out", out}, extra...)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("runner %s: %v: %s", strings.Join(args, " "), err, lastLines(stderr.String(), 8))
	}
	var res struct {
		Metric string  `json:"metric"`
		MAP    float64 `json:"map"`
	}
	if err := json.Unmarshal(b, &res); err != nil || res.Metric != "voc07" {
		return 0, fmt.Errorf("runner eval of %s: unexpected output (%v): %.300s", ckpt, err, b)
	}
	return res.MAP, nil
}
