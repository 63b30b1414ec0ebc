// Package build turns a loaded experiment into the live objects of a run: the model (with
// its initial weights), the priors and the matcher, the training and validation datasets
// with their transforms, the parameter groups, the optimizer, the schedule, the loss, the
// metrics and the post-processing settings. `runner plan` summarises a built Run; `runner
// apply` trains one. Every tensor the Run owns is freed by Close.
package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/rs/zerolog"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/anchors"
	box "github.com/ssdrunner/ssdrunner/components/boxes"
	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/components/loss"
	"github.com/ssdrunner/ssdrunner/components/metric"
	"github.com/ssdrunner/ssdrunner/components/model"
	"github.com/ssdrunner/ssdrunner/components/optimizer"
	"github.com/ssdrunner/ssdrunner/components/postprocess"
	"github.com/ssdrunner/ssdrunner/components/scheduler"
	"github.com/ssdrunner/ssdrunner/components/target"
	"github.com/ssdrunner/ssdrunner/components/transform"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
	"github.com/ssdrunner/ssdrunner/runner/config"
)

// Options tune what Build does.
type Options struct {
	// Log receives the warnings found while building (and the datasets' skipped samples).
	Log zerolog.Logger
	// SkipWeights leaves model.init's weight files unread (the model keeps its fresh
	// initialisation), e.g. when a checkpoint will replace every weight anyway.
	SkipWeights bool
	// NoOptimizer leaves Run.Optimizer nil (evaluation and prediction).
	NoOptimizer bool
	// Ctx, when set, cancels the reading of the datasets (Ctrl-C during a long build).
	Ctx context.Context
	// NoData leaves both datasets unbuilt (evaluation builds its own, prediction needs
	// none); ValTransform, the test transform, is built all the same.
	NoData bool
	// Classes, when set (the class names a checkpoint records, BACKGROUND first), are the
	// model's classes: model.labels, model.num_classes and the training dataset, when
	// read, must agree with them.
	Classes []string
}

// Error is a problem found while building, tied to the experiment key it comes from
// (e.g. "data.train", "model.init.base_net") so that it can be shown at its place in the
// experiment file.
type Error struct {
	Path string
	Err  error
}

func (e *Error) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Run holds every live object of a run.
type Run struct {
	Experiment *config.Experiment
	Device     gotch.Device

	// Classes are the class names, BACKGROUND first; len(Classes) is the model's class count.
	Classes []string

	Model      *model.SSD
	InitReport *model.LoadReport // nil when model.init names no weights (or SkipWeights)
	Anchors    anchors.Generator
	ImageSize  int        // the anchors' input size: every transform's output size
	Priors     *ts.Tensor // [P,4] centre form, relative; owned by the Run
	Variances  box.Variances
	Matcher    *target.Matcher

	Train      dataset.Dataset
	Validation dataset.Dataset // nil without a validation block
	// TrainTransform augments training samples; ValTransform resizes and normalises
	// validation samples. TrainInfo and ValInfo describe them.
	TrainTransform, ValTransform transform.Transform
	TrainInfo, ValInfo           TransformInfo
	// Problems lists the samples the datasets dropped while building (on_bad_sample = "skip").
	Problems []dataset.Problem

	Groups    Assignment
	Optimizer optimizer.Optimizer // nil with Options.NoOptimizer
	// OptimizerGroups name the optimizer's groups in order (index i is SetLR's group i),
	// with their base learning rates.
	OptimizerGroups []Group
	Schedule        scheduler.Schedule
	Loss            loss.Loss
	Metrics         []NamedMetric
	NMS             postprocess.Config

	Warnings []string
	vs       *nn.VarStore
}

// NamedMetric is a configured metric with its registered name.
type NamedMetric struct {
	Name   string
	Ref    registry.Ref
	Metric metric.Metric
}

// Close frees every tensor the run owns: the model's variables, the priors, the matcher's
// tensors and the optimizer's state. It may be called more than once.
func (r *Run) Close() {
	if r == nil {
		return
	}
	if r.Optimizer != nil {
		r.Optimizer.Close()
		r.Optimizer = nil
	}
	if r.Matcher != nil {
		r.Matcher.Close()
		r.Matcher = nil
	}
	if r.Priors != nil {
		r.Priors.MustDrop()
		r.Priors = nil
	}
	if r.Model != nil {
		r.Model.Close()
		r.Model = nil
	}
}

// Build resolves every part of the experiment and builds it. All the problems found are
// returned together (each an *Error naming its key); on error the partly built run is
// closed and nil is returned.
func Build(res *config.Result, opts Options) (run *Run, err error) {
	e := &res.Experiment
	r := &Run{Experiment: e, Variances: box.DefaultVariances}
	var errs []error
	fail := func(path string, err error) { errs = append(errs, &Error{Path: path, Err: err}) }
	defer func() {
		if err != nil {
			r.Close()
			run = nil
		}
	}()

	if rs := e.Training.Resume; rs != "" && rs != "auto" {
		if _, err := os.Stat(rs); err != nil {
			fail("training.resume", fmt.Errorf("nothing to resume from: %w", err))
		}
	}
	dev, derr := torch.ParseDevice(e.Training.Device)
	if derr != nil {
		fail("training.device", derr)
	}
	r.Device = dev

	// datasets
	env := dataset.Env{BaseDir: ".", SkipBad: e.Data.OnBadSample == "skip", Ctx: opts.Ctx}
	if opts.NoData {
		// neither dataset
	} else if ds, err := dataset.Build(e.Data.Train, env); err != nil {
		fail("data.train", err)
	} else {
		r.Train = ds
		r.Problems = append(r.Problems, problemsOf(ds)...)
		r.Warnings = append(r.Warnings, warningsOf("data.train", ds)...)
	}
	if opts.NoData {
		// neither dataset
	} else if e.Data.Validation.Type != "" {
		if ds, err := dataset.Build(e.Data.Validation, env); err != nil {
			fail("data.validation", err)
		} else {
			r.Validation = ds
			r.Problems = append(r.Problems, problemsOf(ds)...)
			r.Warnings = append(r.Warnings, warningsOf("data.validation", ds)...)
		}
	} else {
		r.Warnings = append(r.Warnings, "no validation dataset: validation is skipped")
	}
	if r.Train != nil && r.Validation != nil && !slices.Equal(r.Train.ClassNames(), r.Validation.ClassNames()) {
		r.Warnings = append(r.Warnings, "the validation dataset's classes differ from the training dataset's")
	}
	for _, p := range r.Problems {
		opts.Log.Warn().Str("sample", p.ID).Err(p.Err).Msg("bad sample skipped")
	}

	// classes
	classes, cerr := resolveClasses(e, r.Train, opts.Classes)
	if cerr != nil && (r.Train != nil || e.Model.Labels != "" || opts.NoData || opts.Classes != nil) {
		fail("model", cerr) // (a training dataset that failed to build was reported above)
	}
	r.Classes = classes

	// anchors, priors
	gen, aerr := anchors.Build(e.Model.Anchors)
	if aerr != nil {
		fail("model.anchors", aerr)
	} else {
		r.Anchors, r.ImageSize = gen, gen.ImageSize()
		if p, err := gen.Priors(); err != nil {
			fail("model.anchors", err)
		} else {
			r.Priors = p
		}
	}

	// transforms: the anchors' input size and the data block's normalisation
	if r.ImageSize > 0 {
		var terr error
		r.TrainTransform, r.TrainInfo, terr = trainTransform(e, r.ImageSize)
		if terr != nil {
			errs = append(errs, terr)
		}
		if e.Data.Validation.Type != "" || opts.NoData {
			r.ValTransform, r.ValInfo, terr = testTransform(e, r.ImageSize)
			if terr != nil {
				errs = append(errs, terr)
			}
		}
		if r.TrainInfo.Size == 0 && r.TrainTransform != nil {
			r.Warnings = append(r.Warnings, fmt.Sprintf("the training transform %s does not resize: every training image must already be %dx%d (the anchors' image_size)", r.TrainInfo.Name, r.ImageSize, r.ImageSize))
		}
	}

	// model
	if gen != nil && len(classes) > 0 && derr == nil {
		if err := r.buildModel(e, gen, opts); err != nil {
			errs = append(errs, err)
		}
	}

	// loss and the matcher of its targets, metrics, post-processing
	if l, err := loss.Build(e.LossRef()); err != nil {
		fail("loss", err)
	} else {
		r.Loss = l
	}
	if r.Priors != nil && r.Loss != nil {
		iou := loss.DefaultMatchIoU // a loss that does not say: the reference's threshold
		if m, ok := r.Loss.(loss.Matching); ok {
			iou = m.MatchIoU()
		}
		if m, err := target.NewMatcher(r.Priors, iou, r.Variances); err != nil {
			fail("model.anchors", err)
		} else {
			r.Matcher = m
		}
	}
	metricRefs := e.Evaluation.Metrics
	if len(metricRefs) == 0 {
		metricRefs = []registry.Ref{{Type: "voc"}} // eval_ssd.py's VOC07 11-point AP
	}
	for _, ref := range metricRefs {
		m, err := metric.Build(ref)
		if err != nil {
			fail("evaluation.metric."+ref.Type, err)
			continue
		}
		r.Metrics = append(r.Metrics, NamedMetric{Name: ref.Type, Ref: ref, Metric: m})
	}
	n := e.Evaluation.NMS
	r.NMS = postprocess.Config{Method: n.Method, IoUThreshold: n.IoUThreshold, ScoreThreshold: n.ScoreThreshold,
		CandidateSize: n.CandidateSize, TopK: n.TopK, Sigma: n.Sigma, ClassAgnostic: n.ClassAgnostic}
	if err := r.NMS.Validate(); err != nil {
		fail("evaluation.nms", err)
	}

	// schedule
	if s, err := scheduler.Build(e.SchedulerRef()); err != nil {
		fail("scheduler", err)
	} else {
		r.Schedule = s
	}

	// optimizer
	if _, _, err := optimizer.Registry.Resolve(e.Optimizer); err != nil {
		fail("optimizer", err)
	} else if r.Model != nil && !opts.NoOptimizer {
		if err := r.buildOptimizer(e); err != nil {
			fail("optimizer", err)
		}
	}
	return r, errors.Join(errs...)
}

// buildModel builds the network, checks its feature maps against the anchors, resolves
// the parameter groups and freezing, and loads model.init's weights.
func (r *Run) buildModel(e *config.Experiment, gen anchors.Generator, opts Options) error {
	torch.ManualSeed(e.Training.Seed) // the weights' initialisation is a function of the seed
	r.vs = nn.NewVarStore(r.Device)
	m, err := model.Build(r.vs, e.Model.Backbone, e.Model.Head, anchors.BoxesPerLocation(gen.FeatureMaps()), len(r.Classes))
	if err != nil {
		return &Error{"model", err}
	}
	r.Model = m
	if err := CheckFeatureMaps(m, gen); err != nil {
		return &Error{"model.anchors", err}
	}
	groups, err := ResolveGroups(m.Modules(), e)
	if err != nil {
		return &Error{"param_group", err}
	}
	r.Groups = groups
	if in := e.Model.Init; (in.BaseNet != "" || in.Pretrained != "") && !opts.SkipWeights {
		path := "model.init.base_net"
		if in.Pretrained != "" {
			path = "model.init.pretrained"
		}
		// model.Init reads no file but the weights: the pretrained model's labels are read
		// here, when sub-sampling needs them.
		var theirs []string
		if in.Pretrained != "" && in.OnClassMismatch == model.Subsample && in.PretrainedLabels != "" {
			if theirs, err = dataset.ReadLabels(in.PretrainedLabels); err != nil {
				return &Error{"model.init.pretrained_labels", fmt.Errorf("pretrained %s: %w", in.Pretrained, err)}
			}
		}
		rep, err := m.Init(model.InitConfig{BaseNet: in.BaseNet, Pretrained: in.Pretrained,
			OnClassMismatch: in.OnClassMismatch, PretrainedLabels: theirs, Labels: r.Classes,
			IgnoreKeys: in.IgnoreKeys})
		if err != nil {
			return &Error{path, err}
		}
		r.InitReport = &rep
	}
	var frozen []string
	for mod, f := range groups.Frozen {
		if f {
			frozen = append(frozen, mod)
		}
	}
	slices.Sort(frozen)
	if err := m.Freeze(e.Training.FrozenBN == "train", frozen...); err != nil {
		return &Error{"training.freeze", err}
	}
	return nil
}

// buildOptimizer gives each parameter group its trainable parameters (frozen modules are
// left out) and builds the optimizer over them.
func (r *Run) buildOptimizer(e *config.Experiment) error {
	var groups []optimizer.Group
	for _, g := range r.Groups.Groups {
		og := optimizer.Group{Name: g.Name, LR: g.LR, WeightDecay: g.WeightDecay}
		for _, mod := range g.Modules {
			if r.Groups.Frozen[mod] {
				continue
			}
			_, params := r.Model.Parameters(mod)
			og.Params = append(og.Params, params...)
		}
		if len(og.Params) == 0 {
			continue
		}
		groups = append(groups, og)
		r.OptimizerGroups = append(r.OptimizerGroups, g)
	}
	if len(groups) == 0 {
		return errors.New("every parameter is frozen: nothing to train")
	}
	o, err := optimizer.Build(e.Optimizer, groups)
	if err != nil {
		return err
	}
	r.Optimizer = o
	return nil
}

// problemsOf returns the samples a dataset dropped while it was built.
func problemsOf(ds dataset.Dataset) []dataset.Problem {
	if pr, ok := ds.(dataset.ProblemReporter); ok {
		return pr.Problems()
	}
	return nil
}

// warningsOf returns what a dataset accepted but found odd, each prefixed with its key.
func warningsOf(key string, ds dataset.Dataset) []string {
	wr, ok := ds.(dataset.WarningReporter)
	if !ok {
		return nil
	}
	var out []string
	for _, w := range wr.Warnings() {
		out = append(out, key+": "+w)
	}
	return out
}

// CheckFeatureMaps runs the backbone on a blank image of the anchors' size and compares
// the feature-map sizes with the anchors' grid.
func CheckFeatureMaps(m *model.SSD, gen anchors.Generator) error {
	got, err := m.FeatureMapSizes(gen.ImageSize())
	if err != nil {
		return err
	}
	var want []int
	for _, fm := range gen.FeatureMaps() {
		want = append(want, fm.Size)
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("the backbone gives feature maps of sizes %v for a %dx%d image, but the anchors are laid out for %v: change the anchors' feature_map_size values or image_size", got, gen.ImageSize(), gen.ImageSize(), want)
	}
	return nil
}

// resolveClasses decides the class names (BACKGROUND first): known (a checkpoint's),
// else the labels file, else the training dataset's classes; model.num_classes, the
// labels file and the training dataset must agree with them when set.
func resolveClasses(e *config.Experiment, train dataset.Dataset, known []string) ([]string, error) {
	n := e.Model.NumClasses
	var names []string
	if known != nil {
		if len(known) < 2 {
			return nil, fmt.Errorf("%d class names: want BACKGROUND and at least one class", len(known))
		}
		if n != 0 && n != len(known) {
			return nil, fmt.Errorf("num_classes = %d but the checkpoint has %d classes (BACKGROUND included)", n, len(known))
		}
		n = len(known)
		names = known
	}
	if e.Model.Labels != "" {
		labels, err := dataset.ReadLabels(e.Model.Labels)
		if err != nil {
			return nil, err
		}
		if known != nil && !slices.Equal(known, labels) {
			return nil, fmt.Errorf("%s gives the classes %v but the checkpoint's are %v", e.Model.Labels, labels, known)
		}
		if n != 0 && n != len(labels) {
			return nil, fmt.Errorf("num_classes = %d but %s gives %d classes (BACKGROUND included)", n, e.Model.Labels, len(labels))
		}
		names = labels
	}
	if train != nil {
		dn := train.ClassNames()
		if names == nil {
			if n != 0 && n != len(dn) {
				return nil, fmt.Errorf("the model has %d classes but the training dataset has %d (BACKGROUND included)", n, len(dn))
			}
			names = dn
		} else if len(names) != len(dn) {
			src := "the checkpoint has"
			if e.Model.Labels != "" {
				src = e.Model.Labels + " gives"
			}
			return nil, fmt.Errorf("%s %d classes but the training dataset has %d (BACKGROUND included)", src, len(names), len(dn))
		}
	}
	if names == nil && n > 0 {
		names = make([]string, n)
		names[0] = "BACKGROUND"
		for i := 1; i < n; i++ {
			names[i] = fmt.Sprintf("class%d", i)
		}
	}
	if len(names) == 0 {
		return nil, errors.New("cannot tell the number of classes: set model.num_classes or model.labels")
	}
	return names, nil
}
