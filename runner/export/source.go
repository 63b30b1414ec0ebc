// Package export writes a trained model in other frameworks' formats: an ONNX graph
// (`runner export onnx`, for ONNX Runtime, TensorRT and the Jetson detectnet tools) and a
// PyTorch state_dict (`runner export pth`, which the reference project's net.load reads).
//
// Both start from a Model: the network rebuilt from an experiment with a checkpoint's
// weights, its priors and its classes (Load).
package export

import (
	"errors"
	"fmt"
	"os"

	"github.com/rs/zerolog"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	box "github.com/ssdrunner/ssdrunner/components/boxes"
	"github.com/ssdrunner/ssdrunner/components/model"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/runner/build"
	"github.com/ssdrunner/ssdrunner/runner/config"
	"github.com/ssdrunner/ssdrunner/runner/detect"
	"github.com/ssdrunner/ssdrunner/runner/train"
)

// Model is a network ready for export: the SSD with its weights, the priors its boxes
// are decoded against, and what a user of the exported file needs to know. Close frees
// its tensors.
type Model struct {
	SSD        *model.SSD
	Experiment *config.Experiment
	// Classes are the class names, BACKGROUND first.
	Classes []string
	// ImageSize is the input's height and width (the anchors').
	ImageSize int
	// Priors are the anchors [P,4], centre form, relative to the image.
	Priors    *ts.Tensor
	Variances box.Variances
	// Checkpoint is the file the weights came from.
	Checkpoint string

	run *build.Run // owns SSD and Priors
}

// Close frees the model's tensors; it may be called more than once.
func (m *Model) Close() {
	if m == nil || m.run == nil {
		return
	}
	m.run.Close()
	m.run, m.SSD, m.Priors = nil, nil, nil
}

// Source says where a Model comes from.
type Source struct {
	// Checkpoint is a checkpoint written by `runner apply` (which records its experiment
	// and classes), or a weights file: a PyTorch state_dict (.pth, e.g. the reference's
	// mb2-ssd-lite-mp-0_686.pth) or a VarStore file, which need Experiment.
	Checkpoint string
	// Experiment, when set, describes the model (its model and data blocks); it is
	// required for a weights file and replaces a checkpoint's own experiment otherwise.
	Experiment *config.Result
	// Labels, when set, is a labels file naming the classes (for a weights file whose
	// experiment has neither model.labels nor model.num_classes).
	Labels string
}

// Load rebuilds the model that src describes and loads its weights, strictly: every
// variable of the model must be in the file with its shape, and every key of the file
// must be a variable of the model. It is runner/detect's loader (the one of runner eval
// and runner predict): detect.ResolveExperiment for a checkpoint's own experiment, and
// detect.BuildSource.
func Load(src Source) (_ *Model, err error) {
	defer torch.Recover(&err)
	if src.Checkpoint == "" {
		return nil, errors.New("no checkpoint given")
	}
	if err := checkRegular(src.Checkpoint); err != nil {
		return nil, err
	}
	var dsrc *detect.Source
	meta, metaErr := train.ReadCheckpointMeta(src.Checkpoint)
	switch {
	case src.Experiment != nil:
		res := *src.Experiment // a copy: the labels below must not change the caller's
		if src.Labels != "" {
			res.Experiment.Model.Labels = src.Labels
		}
		dsrc = &detect.Source{Experiment: &res, Checkpoint: src.Checkpoint}
		if metaErr == nil {
			dsrc.Classes = meta.Classes
		}
	case metaErr == nil:
		if dsrc, err = detect.ResolveExperiment(src.Checkpoint, detect.Options{Labels: src.Labels}); err != nil {
			return nil, fmt.Errorf("%s: its experiment record: %w", src.Checkpoint, err)
		}
	case model.IsTorchScript(src.Checkpoint):
		return nil, fmt.Errorf("%w; to export a weights file, give the experiment that describes its model", metaErr)
	default:
		return nil, fmt.Errorf("%s is not a checkpoint of runner apply (it records no experiment): give the experiment that describes its model (e.g. experiments/base/mb2-ssd-lite.hcl for the reference's mb2-ssd-lite)", src.Checkpoint)
	}
	run, err := detect.BuildSource(dsrc, detect.Options{Log: zerolog.Nop()})
	if err != nil {
		return nil, err
	}
	m, err := fromRun(run)
	if err != nil {
		return nil, err
	}
	m.Checkpoint = src.Checkpoint
	return m, nil
}

// fromRun is the Model of a built run, which it then owns; the run is closed on error.
func fromRun(run *build.Run) (*Model, error) {
	if run.Device != gotch.CPU {
		run.Close()
		return nil, fmt.Errorf("export runs on the CPU, the experiment names device %v", run.Device)
	}
	if len(run.Classes) < 2 {
		n := len(run.Classes)
		run.Close()
		return nil, fmt.Errorf("%d classes: a detector needs BACKGROUND and at least one class", n)
	}
	return &Model{SSD: run.Model, Experiment: run.Experiment, Classes: run.Classes, ImageSize: run.ImageSize,
		Priors: run.Priors, Variances: run.Variances, run: run}, nil
}

func checkRegular(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", path)
	}
	return nil
}
