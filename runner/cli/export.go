package cli

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/ssdrunner/ssdrunner/internal/fsutil"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/runner/config"
	"github.com/ssdrunner/ssdrunner/runner/export"
)

const exportUsage = `Usage:
  runner export onnx --checkpoint FILE --out MODEL.onnx [EXPERIMENT] [--batch N] [flags]
      the network as an ONNX graph (opset 13): input input_0 [N,3,H,W] (the image
      normalised as for training), outputs scores [N,P,C] (softmax) and boxes [N,P,4]
      (decoded against the priors: xmin, ymin, xmax, ymax relative to the image), as the
      Jetson fork's onnx_export.py writes them for TensorRT / detectnet
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
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
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
	if format == "onnx" {
		data, err = export.ONNX(m, export.ONNXOptions{Batch: *batch})
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
	} else {
		fmt.Fprintf(a.stdout, "wrote %s (%.1f MB, PyTorch state_dict of %s + %s, %d classes)\n",
			*out, float64(len(data))/1e6, info["backbone"], info["head"], len(m.Classes))
	}
	return exitOK
}
