package cli

import (
	"flag"
	"fmt"
	"os"

	"github.com/ssdrunner/ssdrunner/components/postprocess"
	"github.com/ssdrunner/ssdrunner/internal/fsutil"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/runner/config"
	"github.com/ssdrunner/ssdrunner/runner/export"
)

const exportUsage = `Usage:
  runner export onnx --checkpoint FILE --out MODEL.onnx [EXPERIMENT] [--batch N]
                     [--with-postprocess [--score-threshold S] [--iou-threshold I]
                      [--candidate-size K] [--top-k K]] [flags]
      the network as an ONNX graph (opset 13): input input_0 [N,3,H,W] (the image
      normalised as for training), outputs scores [N,P,C] (softmax) and boxes [N,P,4]
      (decoded against the priors: xmin, ymin, xmax, ymax relative to the image), as the
      Jetson fork's onnx_export.py writes them for TensorRT / detectnet;
      --with-postprocess adds per-class hard NMS (evaluation.nms of the experiment, or
      the flags) and the outputs detection_indices [K,3] (image, class, prior),
      detection_boxes [K,4] and detection_scores [K]
  runner export pth --checkpoint FILE --out MODEL.pth [EXPERIMENT] [flags]
      the weights as a PyTorch state_dict (torch.save format) that the PyTorch SSD
      project's net.load(path) reads

FILE is a checkpoint of runner apply (it records its experiment and classes) or a weights
file (a .pth state_dict such as the reference's mb2-ssd-lite-mp-0_686.pth, or a VarStore
file), which needs EXPERIMENT, an experiment file whose model block describes the network
(e.g. experiments/base/mb2-ssd-lite.hcl); its classes come from --labels, model.labels,
model.num_classes or the training dataset. An EXPERIMENT given with a checkpoint of ours
replaces the experiment it records.

Flags:
  --checkpoint FILE   the weights (required)
  --out FILE          the file to write (required; written atomically)
  --labels FILE       the classes of a weights file, one per line
  --batch N           onnx: fix the batch size (default 0: symbolic "batch")
  --with-postprocess  onnx: NMS in the graph (ONNX NonMaxSuppression; hard, per class)
  --score-threshold S, --iou-threshold I, --candidate-size K, --top-k K
                      onnx: override the experiment's evaluation.nms settings
  -var, -var-file, --set
                      variables and overrides of EXPERIMENT
  --json              print what was written as JSON
`

// exportCmd runs `runner export onnx|pth`.
func (a *app) exportCmd(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(a.stderr, exportUsage)
		return exitUsage
	}
	format := args[0]
	switch format {
	case "onnx", "pth":
	case "-h", "--help", "help":
		fmt.Fprint(a.stdout, exportUsage)
		return exitOK
	default:
		fmt.Fprintf(a.stderr, "runner export: unknown format %q (onnx or pth)\n%s", format, exportUsage)
		return exitUsage
	}
	f := &experimentFlags{}
	fs := flag.NewFlagSet("runner export "+format, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.Usage = func() { fmt.Fprint(a.stderr, exportUsage) }
	f.register(fs)
	checkpoint := fs.String("checkpoint", "", "the weights: a runner apply checkpoint or a weights file")
	out := fs.String("out", "", "the file to write")
	labels := fs.String("labels", "", "labels file of a weights file's classes")
	batch := fs.Int("batch", 0, "onnx: fixed batch size (0: symbolic)")
	withPost := fs.Bool("with-postprocess", false, "onnx: per-class hard NMS in the graph")
	scoreThr := fs.Float64("score-threshold", 0, "onnx --with-postprocess: class probability a detection must exceed")
	iouThr := fs.Float64("iou-threshold", 0, "onnx --with-postprocess: overlap above which a box is suppressed")
	candidates := fs.Int("candidate-size", 0, "onnx --with-postprocess: best candidates per class before NMS (0: all)")
	topK := fs.Int("top-k", 0, "onnx --with-postprocess: detections kept per class (0: all)")
	pos, code, ok := parseArgs(fs, args[1:])
	if !ok {
		return code
	}
	switch {
	case *checkpoint == "":
		fmt.Fprintf(a.stderr, "runner export %s: --checkpoint is required\n", format)
		return exitUsage
	case *out == "":
		fmt.Fprintf(a.stderr, "runner export %s: --out is required\n", format)
		return exitUsage
	case len(pos) > 1:
		fmt.Fprintf(a.stderr, "runner export %s: expected at most one experiment file, got %d arguments\n", format, len(pos))
		return exitUsage
	case *batch < 0:
		fmt.Fprintf(a.stderr, "runner export %s: --batch must be 0 (symbolic) or positive, got %d\n", format, *batch)
		return exitUsage
	case *batch != 0 && format != "onnx":
		fmt.Fprintf(a.stderr, "runner export %s: --batch applies to onnx only\n", format)
		return exitUsage
	case *withPost && format != "onnx":
		fmt.Fprintf(a.stderr, "runner export %s: --with-postprocess applies to onnx only\n", format)
		return exitUsage
	}
	nmsSet := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "score-threshold", "iou-threshold", "candidate-size", "top-k":
			nmsSet[fl.Name] = true
		}
	})
	if len(nmsSet) > 0 && !*withPost {
		fmt.Fprintf(a.stderr, "runner export %s: the NMS flags need --with-postprocess\n", format)
		return exitUsage
	}
	if st, err := os.Stat(*out); err == nil && st.IsDir() {
		fmt.Fprintf(a.stderr, "runner export %s: --out %s is a folder; name the file to write\n", format, *out)
		return exitUsage
	}
	src := export.Source{Checkpoint: *checkpoint, Labels: *labels}
	if len(pos) == 1 {
		var res *config.Result
		var code int
		var ok bool
		if res, code, ok = a.load(pos[0], f); !ok {
			return code
		}
		src.Experiment = res
	}
	torch.SetThreads(0) // every core (before any tensor work: see internal/torch)

	m, err := export.Load(src)
	if err != nil {
		fmt.Fprintf(a.stderr, "runner export %s: %v\n", format, err)
		return exitError
	}
	defer m.Close()
	if err := a.ctx.Err(); err != nil {
		fmt.Fprintf(a.stderr, "runner export %s: interrupted\n", format)
		return 130
	}
	var data []byte
	var post *postprocess.Config
	if *withPost {
		n := m.Experiment.Evaluation.NMS
		post = &postprocess.Config{Method: n.Method, IoUThreshold: n.IoUThreshold, ScoreThreshold: n.ScoreThreshold,
			CandidateSize: n.CandidateSize, TopK: n.TopK, Sigma: n.Sigma, ClassAgnostic: n.ClassAgnostic}
		if nmsSet["score-threshold"] {
			post.ScoreThreshold = *scoreThr
		}
		if nmsSet["iou-threshold"] {
			post.IoUThreshold = *iouThr
		}
		if nmsSet["candidate-size"] {
			post.CandidateSize = *candidates
		}
		if nmsSet["top-k"] {
			post.TopK = *topK
		}
	}
	if format == "onnx" {
		data, err = export.ONNX(m, export.ONNXOptions{Batch: *batch, Postprocess: post})
	} else {
		data, err = export.PTH(m)
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "runner export %s: %v\n", format, err)
		return exitError
	}
	if err := fsutil.WriteBytesAtomic(*out, 0o644, data); err != nil {
		fmt.Fprintf(a.stderr, "runner export %s: %v\n", format, err)
		return exitError
	}
	info := map[string]any{
		"format": format, "out": *out, "bytes": len(data), "checkpoint": *checkpoint,
		"backbone": m.Experiment.Model.Backbone.Type, "head": m.Experiment.Model.Head.Type,
		"classes": m.Classes, "image_size": m.ImageSize, "priors": m.Priors.MustSize()[0],
	}
	if format == "onnx" {
		info["opset"] = export.Opset
		info["batch"] = *batch
		if post != nil {
			info["nms"] = map[string]any{"iou_threshold": post.IoUThreshold, "score_threshold": post.ScoreThreshold,
				"candidate_size": post.CandidateSize, "top_k": post.TopK}
		}
	}
	if f.json {
		return a.writeJSON(info)
	}
	if format == "onnx" {
		b := "batch"
		if *batch > 0 {
			b = fmt.Sprint(*batch)
		}
		fmt.Fprintf(a.stdout, "wrote %s (%.1f MB, ONNX opset %d): %s [%s,3,%d,%d] -> %s [%s,%d,%d], %s [%s,%d,4]\n",
			*out, float64(len(data))/1e6, export.Opset, export.InputName, b, m.ImageSize, m.ImageSize,
			export.ScoresName, b, info["priors"], len(m.Classes), export.BoxesName, b, info["priors"])
		if post != nil {
			fmt.Fprintf(a.stdout, "  with per-class hard NMS (IoU > %g suppressed, scores > %g, %s candidates, %s per class) -> %s, %s, %s\n",
				post.IoUThreshold, post.ScoreThreshold, allOr(post.CandidateSize), allOr(post.TopK),
				export.DetectionIndicesName, export.DetectionBoxesName, export.DetectionScoresName)
		}
	} else {
		fmt.Fprintf(a.stdout, "wrote %s (%.1f MB, PyTorch state_dict of %s + %s, %d classes)\n",
			*out, float64(len(data))/1e6, info["backbone"], info["head"], len(m.Classes))
	}
	return exitOK
}

// allOr describes a count where 0 or less means no limit.
func allOr(n int) string {
	if n <= 0 {
		return "all"
	}
	return fmt.Sprint(n)
}
