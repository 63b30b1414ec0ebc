package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ssdrunner/ssdrunner/runner/detect"
	"github.com/ssdrunner/ssdrunner/runner/predict"
)

const predictHelp = `
INPUT is an image (JPEG, PNG, GIF), a folder (searched recursively for images and videos)
or a video (read and written with ffmpeg when installed). The weights are --checkpoint: a
checkpoint of runner apply records its experiment and classes; a reference .pth needs its
model: an EXPERIMENT file or RUN_DIR as the first argument, or --model NAME (runner list
model) with --labels FILE. With a RUN_DIR, --checkpoint defaults to its best checkpoint.

Writes into --out: an annotated copy of each image (JPEG, boxes with class and score, a
colour per class) and of each video (MP4), detections.json and detections.csv (pixels of
the original image; corner form). An input that cannot be read is reported and skipped.
The NMS flags override the experiment's evaluation.nms (any other key: --set).
`

// predict is `runner predict`: the reference's run_ssd_example.py over many inputs.
func (a *app) predict(args []string) int {
	f := &experimentFlags{}
	fs := newFlagSet(a, "predict", "", "")
	f.register(fs)
	checkpoint := fs.String("checkpoint", "", "weights: a checkpoint of runner apply, or a .pth state_dict")
	labels := fs.String("labels", "", "labels file (the classes of a .pth)")
	modelName := fs.String("model", "", "built-in model of a .pth (runner list model)")
	out := fs.String("out", "predictions", "output folder")
	score := fs.Float64("score-threshold", 0.4, "keep detections with a class probability above this (run_ssd_example.py's 0.4; eval_ssd.py uses 0.01)")
	nms := fs.String("nms", "", "hard | soft (default: the experiment's evaluation.nms.method)")
	agnostic := fs.Bool("class-agnostic", false, "one NMS over all classes instead of one per class")
	topK := fs.Int("top-k", -1, "keep at most this many detections per class (per image with --class-agnostic); 0 = all; default: the experiment's")
	iou := fs.Float64("iou-threshold", 0, "hard NMS overlap threshold (default: the experiment's, 0.45)")
	size := fs.Int("size", 0, "network input size: sets the anchors' image_size (anchors laid out for another size are rebuilt; presets need 300)")
	batch := fs.Int("batch-size", 8, "images per forward pass")
	workers := fs.Int("workers", 2, "goroutines decoding images")
	threads := fs.Int("threads", 0, "libtorch threads (default: the experiment's training.threads, 0 = every core)")
	noImages := fs.Bool("no-images", false, "write only the detection files, no annotated copies")
	unfolded := fs.Bool("unfolded", false, "keep the batch norms apart from their convolutions (the reference's ops, as runner eval runs them); by default they are folded in, the same detections up to float32 rounding, faster")
	timing := fs.Bool("timing", false, "print the time per image of each stage (decode, preprocess, forward, decode boxes, NMS, write), the wall time and the share outside the forward pass")
	fs.Usage = func() {
		fmt.Fprintf(a.stderr, "Usage: runner predict --checkpoint FILE [EXPERIMENT|RUN_DIR | --model NAME --labels FILE] INPUT… [flags]\n\n%s.\n%s\nFlags:\n",
			commandSummary("predict"), predictHelp)
		fs.PrintDefaults()
	}
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	opts := detect.Options{Labels: *labels, Model: *modelName, Vars: f.vars, BatchSize: *batch, Threads: *threads, Unfolded: *unfolded, Log: a.log}
	if len(pos) > 0 && isExperimentArg(pos[0]) {
		opts.Experiment, pos = pos[0], pos[1:]
	}
	if len(pos) == 0 {
		fmt.Fprintln(a.stderr, "runner predict: no INPUT: give image files, folders or videos")
		fs.Usage()
		return exitUsage
	}
	if *checkpoint == "" && !detect.IsRunDir(opts.Experiment) {
		fmt.Fprintln(a.stderr, "runner predict: --checkpoint is needed (or a run folder, whose best checkpoint is used)")
		return exitUsage
	}
	set := []string{"evaluation.nms.score_threshold=" + strconv.FormatFloat(*score, 'g', -1, 64)}
	if *nms != "" {
		set = append(set, "evaluation.nms.method="+*nms)
	}
	if *agnostic {
		set = append(set, "evaluation.nms.class_agnostic=true")
	}
	if *topK >= 0 {
		set = append(set, "evaluation.nms.top_k="+strconv.Itoa(*topK))
	}
	if *iou > 0 {
		set = append(set, "evaluation.nms.iou_threshold="+strconv.FormatFloat(*iou, 'g', -1, 64))
	}
	if *size > 0 {
		set = append(set, "model.anchors.image_size="+strconv.Itoa(*size))
	}
	opts.Set = append(set, f.sets...)

	det, err := detect.Load(*checkpoint, opts)
	if err != nil {
		var ee *detect.ExperimentError
		if errors.As(err, &ee) {
			a.printDiagnostics(ee.Diags, ee.Result, f.json)
			return exitError
		}
		fmt.Fprintf(a.stderr, "runner predict: %v\n", flattenMessage(err))
		return exitError
	}
	defer det.Close()
	if !f.json {
		n := det.NMS()
		fmt.Fprintf(a.stdout, "%d classes, %dx%d input, NMS %s (score > %g, top-k %d, class-agnostic %v)\n",
			len(det.Classes())-1, det.ImageSize(), det.ImageSize(), n.Method, n.ScoreThreshold, n.TopK, n.ClassAgnostic)
	}
	if err := predict.FFmpeg(); err != nil {
		if files, e := predict.Expand(pos); e == nil {
			for _, in := range files {
				if in.Video {
					a.log.Warn().Str("input", in.Path).Msg(err.Error())
					break
				}
			}
		}
	}
	sum, err := predict.Run(a.ctx, det, pos, predict.Options{Out: *out, NoImages: *noImages, BatchSize: *batch,
		Workers: *workers, Log: a.log})
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(a.stderr, "runner predict: interrupted (the detections so far are in %s)\n", *out)
		return 130
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "runner predict: %v\n", err)
		return exitError
	}
	if f.json {
		return a.writeJSON(sum)
	}
	dets := 0
	for _, im := range sum.Images {
		dets += len(im.Detections)
	}
	fmt.Fprintf(a.stdout, "%d image(s), %d detection(s) in %.1f s; outputs in %s (detections.json, detections.csv)\n",
		len(sum.Images), dets, sum.Seconds, *out)
	if len(sum.Failures) > 0 {
		fmt.Fprintf(a.stdout, "%d input(s) skipped:\n", len(sum.Failures))
		for _, fl := range sum.Failures {
			if strings.Contains(fl.Error, fl.Path) {
				fmt.Fprintf(a.stdout, "  %s\n", fl.Error)
			} else {
				fmt.Fprintf(a.stdout, "  %s: %s\n", fl.Path, fl.Error)
			}
		}
	}
	if *timing {
		writeTiming(a, sum, *workers)
	}
	if len(sum.Images) == 0 {
		return exitError
	}
	return exitOK
}

// isExperimentArg reports whether a predict argument names an experiment (an .hcl or
// .json file) or a run folder rather than an input.
func isExperimentArg(p string) bool {
	if detect.IsRunDir(p) {
		return true
	}
	st, err := os.Stat(p)
	if err != nil || st.IsDir() {
		return strings.HasPrefix(p, "builtin:")
	}
	ext := strings.ToLower(filepath.Ext(p))
	return ext == ".hcl" || ext == ".json"
}

// writeTiming prints the time per image of every stage and the wall time per image. The
// stages overlap (a batch is read and prepared, and the one before post-processed and
// written, while another is in the forward pass), so their sum exceeds the wall time; the
// share outside the forward pass compares the forward pass with the wall time.
func writeTiming(a *app, sum *predict.Summary, workers int) {
	n := sum.Timing.Images
	if n == 0 {
		return
	}
	per := func(d time.Duration) float64 { return d.Seconds() * 1000 / float64(n) }
	t := sum.Timing
	wall := time.Duration(sum.Seconds * float64(time.Second))
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "stage\tms/image\t\n")
	for _, s := range []struct {
		name string
		d    time.Duration
	}{{"decode (read + JPEG)", sum.Decode}, {"preprocess", t.Preprocess}, {"forward", t.Forward},
		{"decode boxes", t.DecodeBoxes}, {"NMS", t.NMS}, {"draw + write", sum.Write}, {"wall (end to end)", wall}} {
		fmt.Fprintf(tw, "%s\t%.2f\t\n", s.name, per(s.d))
	}
	tw.Flush()
	fmt.Fprintf(a.stdout, "outside the forward pass: %.0f %% of the wall time (%d images; the other stages run side by side between forward passes, and beside them with a core to spare; decoding on %d goroutines)\n",
		100*max(0, 1-t.Forward.Seconds()/max(wall.Seconds(), 1e-12)), n, workers)
}

// flattenMessage joins a multi-error into one line.
func flattenMessage(err error) string {
	var parts []string
	for _, e := range flattenErrors(err) {
		parts = append(parts, e.Error())
	}
	return strings.Join(parts, "; ")
}
