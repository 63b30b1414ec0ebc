package detect

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/ssdrunner/ssdrunner/components/model"
	"github.com/ssdrunner/ssdrunner/internal/textfile"
	"github.com/ssdrunner/ssdrunner/runner/build"
	"github.com/ssdrunner/ssdrunner/runner/config"
	"github.com/ssdrunner/ssdrunner/runner/train"
)

// Source is where a detector's experiment comes from, as ResolveExperiment found it.
type Source struct {
	// Experiment is the loaded experiment (overrides applied).
	Experiment *config.Result
	// Classes are the checkpoint's class names when it records them (nil for a .pth).
	Classes []string
	// Checkpoint is the weights file.
	Checkpoint string
}

// ExperimentError is an experiment that does not load: its diagnostics, to be printed
// with the experiment's files (config.WriteDiagnostics).
type ExperimentError struct {
	Result *config.Result
	Diags  hcl.Diagnostics
}

func (e *ExperimentError) Error() string {
	var msgs []string
	for _, d := range e.Diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		m := d.Summary
		if d.Detail != "" {
			m += ": " + d.Detail
		}
		if d.Subject != nil {
			m = d.Subject.String() + ": " + m
		}
		msgs = append(msgs, m)
	}
	return "experiment: " + strings.Join(msgs, "; ")
}

// RunDirCheckpoint returns the checkpoint a run folder's evaluation uses by default:
// checkpoints/best.pt, else checkpoints/last.pt.
func RunDirCheckpoint(dir string) (string, error) {
	for _, name := range []string{"best.pt", "last.pt"} {
		p := filepath.Join(dir, "checkpoints", name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("run folder %s has neither checkpoints/best.pt nor checkpoints/last.pt: name one with --checkpoint", dir)
}

// IsRunDir reports whether dir is a run folder of `runner apply` (it holds experiment.hcl).
func IsRunDir(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, "experiment.hcl"))
	return err == nil && st.Mode().IsRegular()
}

// ResolveExperiment decides the experiment of a checkpoint and loads it:
//
//   - opts.Experiment, when set: an experiment file, or a run folder (the checkpoint
//     then defaults to its checkpoints/best.pt, and the experiment is the one the
//     checkpoint records, else the folder's experiment.hcl);
//   - else the experiment a checkpoint of `runner apply` records;
//   - else, for a weights file without one (a reference .pth), opts.Model (a built-in
//     model, `runner list model`) with opts.Labels.
//
// opts.Labels names the classes (model.labels); opts.Set and opts.Vars apply on top, as
// on the command line. The experiment needs no data.train (config.Options.NoTrainData).
func ResolveExperiment(checkpoint string, opts Options) (*Source, error) {
	src := &Source{Checkpoint: checkpoint}
	exp := opts.Experiment
	if exp != "" {
		if st, err := os.Stat(exp); err == nil && st.IsDir() {
			if !IsRunDir(exp) {
				return nil, fmt.Errorf("%s is a folder but not a run folder (no experiment.hcl)", exp)
			}
			if src.Checkpoint == "" {
				ck, err := RunDirCheckpoint(exp)
				if err != nil {
					return nil, err
				}
				src.Checkpoint = ck
			}
			exp = filepath.Join(exp, "experiment.hcl")
			if _, err := readMeta(src.Checkpoint); err == nil {
				exp = "" // the checkpoint's own record of the experiment (what it was trained with)
			}
		}
	}
	if src.Checkpoint == "" {
		return nil, errors.New("no checkpoint: name a checkpoint file (or a run folder)")
	}
	if err := regularFile(src.Checkpoint); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", src.Checkpoint, err)
	}
	meta, metaErr := readMeta(src.Checkpoint)
	if metaErr == nil {
		src.Classes = meta.Classes
	}
	set := append([]string(nil), opts.Set...)
	if opts.Labels != "" {
		if err := regularFile(opts.Labels); err != nil {
			return nil, fmt.Errorf("labels %s: %w", opts.Labels, err)
		}
		set = append([]string{"model.labels=" + opts.Labels}, set...)
	}
	read := func(p string) ([]byte, error) { return textfile.ReadText(p, textfile.Config) }
	switch {
	case exp != "":
		// as named
	case metaErr == nil:
		tree := meta.Experiment
		if m, ok := tree["model"].(map[string]any); ok {
			// The classes are the checkpoint's; the weights too: the labels and starting
			// weights of the training run are neither needed nor necessarily present here.
			delete(m, "labels")
			delete(m, "init")
		}
		text, err := config.WriteHCL(tree)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %s: its experiment: %w", src.Checkpoint, err)
		}
		exp = src.Checkpoint + "#experiment.hcl"
		read = virtualFile(exp, text)
	case opts.Model != "":
		if opts.Labels == "" {
			return nil, fmt.Errorf("checkpoint %s records no classes: give the labels file (--labels) with --model", src.Checkpoint)
		}
		text := fmt.Sprintf("name = %s\ninherits = %s\n", strconv.Quote(opts.Model), strconv.Quote("builtin:"+opts.Model))
		exp = src.Checkpoint + "#" + opts.Model + ".hcl"
		read = virtualFile(exp, []byte(text))
	default:
		return nil, fmt.Errorf("%s is not a checkpoint of runner apply (%v), so it records neither model nor classes: give an experiment file or run folder, or --model NAME with --labels FILE", src.Checkpoint, metaErr)
	}
	res, diags := config.Load(exp, config.Options{Vars: opts.Vars, Set: set, ReadFile: read, NoTrainData: true})
	if diags.HasErrors() {
		return nil, &ExperimentError{Result: res, Diags: diags}
	}
	src.Experiment = res
	return src, nil
}

// virtualFile returns a config.Options.ReadFile that serves text under the name path
// and reads every other file from disk.
func virtualFile(path string, text []byte) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		if p == path {
			return text, nil
		}
		return textfile.ReadText(p, textfile.Config)
	}
}

// readMeta reads the meta record of a checkpoint of `runner apply`.
func readMeta(path string) (train.Meta, error) { return train.ReadCheckpointMeta(path) }

func regularFile(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return errors.New("not a regular file")
	}
	return nil
}

// BuildSource builds src's model (no datasets, no optimizer) and loads the checkpoint's
// weights into it. A checkpoint whose classifier has another class count than the
// labels is refused.
func BuildSource(src *Source, opts Options) (*build.Run, error) {
	e := &src.Experiment.Experiment
	// The datasets are built only when the classes come from the training dataset.
	noData := src.Classes != nil || e.Model.Labels != "" || e.Model.NumClasses > 0 || e.Data.Train.Type == ""
	run, err := build.Build(src.Experiment, build.Options{Log: opts.Log, NoOptimizer: true, SkipWeights: true,
		NoData: noData, Classes: src.Classes})
	if err != nil {
		return nil, err
	}
	rep, err := run.Model.Init(model.InitConfig{Pretrained: src.Checkpoint, Labels: run.Classes})
	if err == nil && len(rep.Reinitialised) > 0 {
		err = fmt.Errorf("checkpoint %s: its classification heads do not have the model's %d classes (BACKGROUND included: %s): the labels do not belong to this checkpoint", src.Checkpoint, len(run.Classes), classList(run.Classes))
	}
	if err != nil {
		run.Close()
		return nil, err
	}
	return run, nil
}

func classList(c []string) string {
	if len(c) > 8 {
		return strings.Join(c[:8], ", ") + fmt.Sprintf(", … %d more", len(c)-8)
	}
	return strings.Join(c, ", ")
}

// BuildRun resolves the experiment of checkpoint (see ResolveExperiment) and builds its
// run with the checkpoint's weights loaded (its datasets are built only when the classes
// come from the training dataset; Run.Validation may be nil). The caller closes the run; libtorch work must stay on the calling
// goroutine's OS thread (runtime.LockOSThread).
func BuildRun(checkpoint string, opts Options) (*build.Run, *Source, error) {
	src, err := ResolveExperiment(checkpoint, opts)
	if err != nil {
		return nil, nil, err
	}
	run, err := BuildSource(src, opts)
	if err != nil {
		return nil, src, err
	}
	return run, src, nil
}
