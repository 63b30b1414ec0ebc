package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/components/metric"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
	"github.com/ssdrunner/ssdrunner/runner/build"
	"github.com/ssdrunner/ssdrunner/runner/config"
	"github.com/ssdrunner/ssdrunner/runner/detect"
	"github.com/ssdrunner/ssdrunner/runner/eval"
)

const evalHelp = `
EXPERIMENT is an experiment file (its model; the weights come from --checkpoint), RUN_DIR a
run folder of runner apply (its experiment; default checkpoint checkpoints/best.pt, else
last.pt). Without either, --checkpoint must be a checkpoint of runner apply, which records
its experiment. A reference .pth records no model: give an experiment, or --model NAME and
--labels FILE.

--dataset chooses the images: validation (default: the experiment's data.validation),
train, or the path of a Pascal VOC folder (Annotations/, ImageSets/Main/<split>.txt,
JPEGImages/; --split, default test, as eval_ssd.py), whose classes must be the model's.

Writes into --out (default RUN_DIR/eval/<checkpoint>, else eval_results/<experiment>):
det_test_<class>.txt per class in the VOC devkit format (as eval_ssd.py), results.json,
ap.png/.svg (per-class AP) and pr.png/.svg (precision–recall curves), and confusion.csv
with its chart confusion.png/.svg: the confusion matrix (which class each object was
detected as, which were missed, which detections met no object; detections scoring at
least --confusion-score, matched to objects at IoU >= --confusion-iou), summed up per
class after the AP table.
`

// evalCmd is `runner eval`: the reference's eval_ssd.py.
func (a *app) eval(args []string) int {
	f := &experimentFlags{}
	fs := newFlagSet(a, "eval", "[EXPERIMENT|RUN_DIR] [flags]", commandSummary("eval"))
	f.register(fs)
	checkpoint := fs.String("checkpoint", "", "weights: a checkpoint of runner apply, or a .pth state_dict")
	ds := fs.String("dataset", "validation", "validation | train | the path of a VOC folder")
	split := fs.String("split", "test", "with a VOC folder: its ImageSets/Main split")
	metricName := fs.String("metric", "", "voc07 (VOC2007 11-point AP, eval_ssd.py's default) | voc (area AP) | coco (AP@[.5:.95], AP50, AP75); default: the experiment's evaluation.metric")
	out := fs.String("out", "", "folder of the result files")
	labels := fs.String("labels", "", "labels file (for a .pth)")
	modelName := fs.String("model", "", "built-in model of a .pth (runner list model)")
	batch := fs.Int("batch-size", 0, "images per forward pass (default: data.batch_size)")
	skipBad := fs.Bool("skip-bad", false, "skip unreadable images (listed in the results) instead of stopping")
	confScore := fs.Float64("confusion-score", eval.DefaultConfusionScore, "confusion matrix: the lowest score of a counted detection")
	confIoU := fs.Float64("confusion-iou", eval.DefaultConfusionIoU, "confusion matrix: the IoU at which a detection meets an object")
	fs.Usage = func() {
		fmt.Fprintf(a.stderr, "Usage: runner eval [EXPERIMENT|RUN_DIR] [flags]\n\n%s.\n%s\nFlags:\n", commandSummary("eval"), evalHelp)
		fs.PrintDefaults()
	}
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 1 {
		fmt.Fprintf(a.stderr, "runner eval: expected at most one experiment file or run folder, got %d arguments\n", len(pos))
		return exitUsage
	}
	if err := eval.CheckConfusionThresholds(*confScore, *confIoU); err != nil {
		fmt.Fprintf(a.stderr, "runner eval: --confusion-score / --confusion-iou: %v\n", err)
		return exitUsage
	}
	var mref *registry.Ref
	if *metricName != "" {
		r, err := metricRef(*metricName)
		if err != nil {
			fmt.Fprintf(a.stderr, "runner eval: %v\n", err)
			return exitUsage
		}
		mref = &r
	}
	opts := detect.Options{Labels: *labels, Model: *modelName, Set: f.sets, Vars: f.vars, Log: a.log}
	runDir := ""
	if len(pos) == 1 {
		opts.Experiment = pos[0]
		if detect.IsRunDir(pos[0]) {
			runDir = pos[0]
		}
	}
	if *checkpoint == "" && runDir == "" {
		fmt.Fprintln(a.stderr, "runner eval: --checkpoint is needed (or a run folder, whose best checkpoint is used)")
		return exitUsage
	}

	src, err := detect.ResolveExperiment(*checkpoint, opts)
	if err != nil {
		return a.evalError(err, f.json)
	}
	threads := torch.SetThreads(src.Experiment.Experiment.Training.Threads)
	a.log.Debug().Int("threads", threads).Msg("libtorch threads")
	run, err := detect.BuildSource(src, opts)
	if err != nil {
		return a.evalBuildError(src.Experiment, err, f.json)
	}
	defer run.Close()
	if mref != nil {
		m, err := metric.Build(*mref)
		if err != nil {
			fmt.Fprintf(a.stderr, "runner eval: --metric %s: %v\n", *metricName, err)
			return exitUsage
		}
		run.Metrics = []build.NamedMetric{{Name: *metricName, Ref: *mref, Metric: m}}
	}
	data, dsName, err := evalDataset(run, *ds, *split)
	if err != nil {
		fmt.Fprintf(a.stderr, "runner eval: --dataset %s: %v\n", *ds, err)
		return exitError
	}
	e := &src.Experiment.Experiment
	dir := *out
	stem := strings.TrimSuffix(filepath.Base(src.Checkpoint), filepath.Ext(src.Checkpoint))
	if dir == "" {
		if runDir != "" {
			dir = filepath.Join(runDir, "eval", stem)
		} else {
			dir = filepath.Join("eval_results", e.Name+"-"+stem)
		}
	}
	if !f.json {
		fmt.Fprintf(a.stdout, "Evaluating %s on %s (%d images, metric %s, NMS %s, score > %g)\n", src.Checkpoint, dsName,
			data.Len(), run.Metrics[0].Name, run.NMS.Method, run.NMS.ScoreThreshold)
	}
	last := -1
	res, err := eval.Evaluate(a.ctx, run, data, eval.Options{BatchSize: *batch, SkipBad: *skipBad, Log: a.log,
		Progress: func(done, total int) {
			if pct := done * 10 / max(total, 1); pct != last && !f.json {
				last = pct
				a.log.Info().Int("images", done).Int("of", total).Msg("evaluating")
			}
		}})
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(a.stderr, "runner eval: interrupted")
		return 130
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "runner eval: %v\n", err)
		return exitError
	}
	rep := eval.NewReport(res, run.Classes, e.Name, src.Checkpoint, dsName)
	rep.Dir = dir
	conf, err := eval.NewConfusion(run.Classes, res.GroundTruths, res.Detections, *confScore, *confIoU)
	if err != nil {
		fmt.Fprintf(a.stderr, "runner eval: %v\n", err)
		return exitError
	}
	rep.Confusion, rep.ConfusionPerClass = conf, conf.Summary()
	if err := eval.Write(dir, res, run.Classes, rep); err != nil {
		fmt.Fprintf(a.stderr, "runner eval: writing %s: %v\n", dir, err)
		return exitError
	}
	if f.json {
		return a.writeJSON(rep)
	}
	fmt.Fprintln(a.stdout)
	eval.WriteTable(a.stdout, rep)
	fmt.Fprintln(a.stdout)
	conf.WriteTable(a.stdout)
	if len(res.Skipped) > 0 {
		fmt.Fprintf(a.stdout, "skipped %d unreadable image(s): %s\n", len(res.Skipped), strings.Join(capStrings(res.Skipped, 10), ", "))
	}
	fmt.Fprintf(a.stdout, "\n%d images in %.1f s (%.1f images/s); files in %s\n", rep.Images, res.Seconds,
		float64(rep.Images)/max(res.Seconds, 1e-9), dir)
	return exitOK
}

// metricRef maps --metric to a metric configuration.
func metricRef(name string) (registry.Ref, error) {
	switch name {
	case "voc07":
		return registry.Ref{Type: "voc", Options: map[string]any{"use_2007_metric": true}}, nil
	case "voc":
		return registry.Ref{Type: "voc", Options: map[string]any{"use_2007_metric": false}}, nil
	case "coco":
		return registry.Ref{Type: "coco"}, nil
	}
	msg := fmt.Sprintf("--metric %q: want voc07, voc or coco", name)
	if s := registry.Suggest(name, []string{"voc07", "voc", "coco"}); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return registry.Ref{}, errors.New(msg)
}

// evalDataset builds the dataset --dataset names and checks that its classes are the
// model's.
func evalDataset(run *build.Run, which, split string) (dataset.Dataset, string, error) {
	e := run.Experiment
	env := dataset.Env{BaseDir: ".", SkipBad: e.Data.OnBadSample == "skip"}
	var ref registry.Ref
	name := which
	switch which {
	case "validation":
		if run.Validation != nil {
			return run.Validation, "data.validation", checkClasses(run.Validation, run.Classes)
		}
		if e.Data.Validation.Type == "" {
			return nil, "", errors.New("the experiment has no data.validation: name a dataset (train, or a VOC folder)")
		}
		ref, name = e.Data.Validation, "data.validation"
	case "train":
		if e.Data.Train.Type == "" {
			return nil, "", errors.New("the experiment has no data.train")
		}
		ref, name = e.Data.Train, "data.train"
	default:
		st, err := os.Stat(which)
		if err != nil {
			return nil, "", err
		}
		if !st.IsDir() {
			return nil, "", errors.New("not a folder: want validation, train or a VOC folder")
		}
		ref = registry.Ref{Type: "voc", Options: map[string]any{"roots": []any{which}, "split": split}}
		name = which + " (" + split + ")"
	}
	ds, err := dataset.Build(ref, env)
	if err != nil {
		return nil, "", err
	}
	return ds, name, checkClasses(ds, run.Classes)
}

func checkClasses(ds dataset.Dataset, classes []string) error {
	if got := ds.ClassNames(); !slices.Equal(got, classes) {
		return fmt.Errorf("the dataset's classes %v are not the model's %v", got, classes)
	}
	return nil
}

// evalError prints an error of ResolveExperiment: diagnostics for an experiment that does
// not load, a line otherwise.
func (a *app) evalError(err error, asJSON bool) int {
	var ee *detect.ExperimentError
	if errors.As(err, &ee) {
		a.printDiagnostics(ee.Diags, ee.Result, asJSON)
		return exitError
	}
	fmt.Fprintf(a.stderr, "runner eval: %v\n", flattenMessage(err))
	return exitError
}

// evalBuildError prints an error of BuildRun: build problems at their keys, others as a line.
func (a *app) evalBuildError(res *config.Result, err error, asJSON bool) int {
	var be *build.Error
	if errors.As(err, &be) {
		a.printBuildError(res, err, asJSON)
		return exitError
	}
	return a.evalError(err, asJSON)
}

func capStrings(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(append([]string(nil), s[:n]...), fmt.Sprintf("… %d more", len(s)-n))
}
