package config

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/ssdrunner/ssdrunner/components/model/keypattern"
	"github.com/ssdrunner/ssdrunner/components/postprocess/nmsconfig"
	"github.com/ssdrunner/ssdrunner/internal/device"
	"github.com/ssdrunner/ssdrunner/registry"
)

// Enumerations of string settings (component names are checked against the registries).
var (
	badSamplePolicy = []string{"fail", "skip"}
	freezePolicies  = []string{"none", "base_net", "all_but_heads"}
	checkpointBy    = []string{"val_loss", "map"}
	classMismatch   = []string{"reinit", "reinit_classifier", "subsample"}
)

// diagAt makes an error diagnostic pointing at where path's value came from: its place in a
// file, the override that set it, or (for something missing) the enclosing block or the
// top of the experiment file.
func (l *loader) diagAt(path, summary, detail string) *hcl.Diagnostic {
	return l.res.DiagAt(path, summary, detail)
}

type checker struct {
	l     *loader
	diags hcl.Diagnostics
}

func (c *checker) fail(path, summary, format string, args ...any) {
	c.diags = append(c.diags, c.l.diagAt(path, summary, fmt.Sprintf(format, args...)))
}

func (c *checker) oneOf(path, value string, allowed []string) {
	for _, a := range allowed {
		if value == a {
			return
		}
	}
	detail := fmt.Sprintf("%s = %q; expected one of: %s.", path, value, strings.Join(allowed, ", "))
	if s := registry.Suggest(value, allowed); s != "" {
		detail += fmt.Sprintf(" Did you mean %q?", s)
	}
	c.fail(path, "Invalid value for "+lastSegment(path), "%s", detail)
}

func (c *checker) positive(path string, v float64) {
	if !(v > 0) {
		c.fail(path, "Invalid value for "+lastSegment(path), "%s must be greater than 0, got %v.", path, v)
	}
}

func (c *checker) nonNegative(path string, v float64) {
	if !(v >= 0) {
		c.fail(path, "Invalid value for "+lastSegment(path), "%s must be 0 or more, got %v.", path, v)
	}
}

func lastSegment(path string) string {
	if i := strings.LastIndex(path, "."); i >= 0 {
		return path[i+1:]
	}
	return path
}

// component checks that a component is set (when required), registered, and that its
// options decode into its config.
func (c *checker) component(path, kind string, ref registry.Ref, required bool) {
	if ref.Type == "" {
		if required {
			block := lastSegment(path)
			c.fail(path, "Missing "+block,
				"The experiment has no %s: add a `%s \"NAME\" { … }` block (`runner list %s` shows the choices).", path, block, kind)
		}
		return
	}
	cat, err := catalog(kind)
	if err != nil {
		c.fail(path, "Unavailable component kind", "%s", sentence(err))
		return
	}
	spec, err := cat.Lookup(ref.Type)
	if err != nil {
		c.fail(join(path, "type"), fmt.Sprintf("Unknown %s %q", kind, ref.Type), "%s", unknownDetail(err))
		return
	}
	if _, err := registry.DecodeConfig(spec, ref.Options); err != nil {
		at := path
		keys := make([]string, 0, len(ref.Options))
		for k := range ref.Options {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if strings.Contains(err.Error(), `"`+k) || strings.HasPrefix(err.Error(), k+" ") {
				at = join(path, k)
				break
			}
		}
		c.fail(at, fmt.Sprintf("Invalid %s %q options", kind, ref.Type), "%s: %s", path, sentence(err))
	}
}

// validate checks the merged experiment.
func (l *loader) validate(e *Experiment) hcl.Diagnostics {
	c := &checker{l: l}
	if e.Name == "" || strings.ContainsAny(e.Name, `/\`) || e.Name == "." || e.Name == ".." {
		c.fail("name", "Invalid name", "name %q must be usable as a folder name (no slashes).", e.Name)
	}
	m := e.Model
	c.component("model.backbone", "backbone", m.Backbone, true)
	c.component("model.head", "head", m.Head, true)
	c.component("model.anchors", "anchors", m.Anchors, true)
	if m.NumClasses != 0 && m.NumClasses < 2 {
		c.fail("model.num_classes", "Invalid value for num_classes", "model.num_classes counts BACKGROUND, so it must be at least 2, got %d.", m.NumClasses)
	}
	c.oneOf("model.init.on_class_mismatch", m.Init.OnClassMismatch, classMismatch)
	if m.Init.BaseNet != "" && m.Init.Pretrained != "" {
		c.fail("model.init.pretrained", "Conflicting initialisation", "model.init sets both base_net and pretrained; use one (pretrained already contains a base net).")
	}
	for _, k := range m.Init.IgnoreKeys { // model.Init's rule, every bad entry reported
		if err := keypattern.CheckOne(k); err != nil {
			c.fail("model.init.ignore_keys", "Invalid key pattern", "model.init.%s.", err)
		}
	}
	if m.Init.OnClassMismatch == "subsample" && m.Init.PretrainedLabels == "" {
		c.fail("model.init.on_class_mismatch", "Missing pretrained_labels", "on_class_mismatch = \"subsample\" needs model.init.pretrained_labels to match classes by name.")
	}

	d := e.Data
	c.component("data.train", "dataset", d.Train, !l.opts.NoTrainData)
	c.component("data.validation", "dataset", d.Validation, false)
	if len(d.Transforms) > 0 {
		if o, ok := l.res.OriginOf("data.augmentation"); ok && o.Layer != "default" {
			c.fail("data.augmentation", "Conflicting augmentation", "data sets both augmentation = %q and transform blocks; the transform blocks are the whole chain, so remove augmentation.", d.Augmentation)
		}
		for i, t := range d.Transforms {
			c.component(fmt.Sprintf("data.transform[%d]", i), "transform", t, true)
		}
	} else {
		c.component("data.augmentation", "transform", registry.Ref{Type: d.Augmentation}, true)
	}
	c.oneOf("data.on_bad_sample", d.OnBadSample, badSamplePolicy)
	c.positive("data.batch_size", float64(d.BatchSize))
	c.nonNegative("data.workers", float64(d.Workers))
	c.positive("data.prefetch", float64(d.Prefetch))
	for _, kv := range []struct {
		name string
		v    []float64
	}{{"data.mean", d.Mean}, {"data.std", d.Std}} {
		if len(kv.v) != 1 && len(kv.v) != 3 {
			c.fail(kv.name, "Invalid value for "+lastSegment(kv.name), "%s needs 1 value (all channels) or 3 (R, G, B), got %d.", kv.name, len(kv.v))
		}
	}
	for i, s := range d.Std {
		if s == 0 {
			c.fail("data.std", "Invalid value for std", "data.std[%d] is 0: pixels would be divided by zero.", i)
		}
	}

	c.component("optimizer", "optimizer", e.Optimizer, true)
	c.component("scheduler", "scheduler", e.Scheduler, false)
	c.component("loss", "loss", e.Loss, false)
	c.paramGroups(e.ParamGroups)

	t := e.Training
	c.positive("training.epochs", float64(t.Epochs))
	c.positive("training.validate_every", float64(t.ValidateEvery))
	c.oneOf("training.freeze", t.Freeze, freezePolicies)
	c.nonNegative("training.threads", float64(t.Threads))
	if n := runtime.NumCPU(); t.Threads > n {
		c.fail("training.threads", "Invalid value for threads",
			"training.threads = %d is more than the %d CPU cores of this machine (libtorch would start that many threads); use at most %d, or 0 for one per core.", t.Threads, n, n)
	}
	c.positive("training.log_every", float64(t.LogEvery))
	// The syntax only: whether a CUDA device exists is for the machine that runs to say.
	if _, err := device.Parse(t.Device); err != nil {
		c.fail("training.device", "Invalid value for device", "training.device = %q: %s.", t.Device, err)
	}
	c.nonNegative("training.checkpoint.every", float64(t.Checkpoint.Every))
	c.nonNegative("training.checkpoint.keep_last", float64(t.Checkpoint.KeepLast))
	c.oneOf("training.checkpoint.metric", t.Checkpoint.Metric, checkpointBy)
	c.oneOf("training.on_nonfinite", t.OnNonFinite, []string{"fail", "skip"})
	c.oneOf("training.frozen_batch_norm", t.FrozenBN, []string{"eval", "train"})
	c.nonNegative("training.max_nonfinite", float64(t.MaxNonFinite))
	if !(t.ClipGradNorm >= 0) || math.IsInf(t.ClipGradNorm, 0) {
		c.fail("training.clip_grad_norm", "Invalid value for clip_grad_norm", "training.clip_grad_norm must be finite and >= 0 (0 = no clipping), got %g.", t.ClipGradNorm)
	}

	for _, r := range e.Evaluation.Metrics {
		c.component(join("evaluation.metric", r.Type), "metric", r, true)
	}
	c.nms(e.Evaluation.NMS)
	if e.Output.Dir == "" {
		c.fail("output.dir", "Invalid value for dir", "output.dir must not be empty.")
	}
	return c.diags
}

func (c *checker) paramGroups(groups map[string]ParamGroup) {
	owner := map[string]string{}
	for _, name := range sortedKeys(groups) {
		g := groups[name]
		p := join("param_group", name)
		if len(g.Modules) == 0 {
			c.fail(p, "Empty parameter group", "param_group %q lists no modules.", name)
		}
		for _, mod := range g.Modules {
			if prev, dup := owner[mod]; dup {
				c.fail(join(p, "modules"), "Module in two parameter groups",
					"Module %q is in param_group %q and in param_group %q; a parameter can only have one learning rate.", mod, prev, name)
			}
			owner[mod] = name
		}
		if g.LR != nil {
			c.positive(join(p, "lr"), *g.LR)
		}
		if g.WeightDecay != nil {
			c.nonNegative(join(p, "weight_decay"), *g.WeightDecay)
		}
	}
}

// nms checks the evaluation.nms block with postprocess's own rules (nmsconfig.Validate:
// what the chosen method uses), each problem at its option, and adds the experiment file's
// stricter ones for the counts: candidate_size > 0, top_k >= 0 (0 = all).
func (c *checker) nms(n NMS) {
	err := nmsconfig.Config{
		Method: n.Method, IoUThreshold: n.IoUThreshold, ScoreThreshold: n.ScoreThreshold,
		CandidateSize: n.CandidateSize, TopK: n.TopK, Sigma: n.Sigma, ClassAgnostic: n.ClassAgnostic,
	}.Validate()
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, err := range errs {
		var oe *nmsconfig.OptionError
		switch {
		case err == nil:
		case errors.As(err, &oe):
			detail := "evaluation.nms." + oe.Msg + "."
			if oe.Option == "method" {
				if s := registry.Suggest(n.Method, []string{nmsconfig.Hard, nmsconfig.Soft}); s != "" {
					detail += fmt.Sprintf(" Did you mean %q?", s)
				}
			}
			c.fail("evaluation.nms."+oe.Option, "Invalid value for "+oe.Option, "%s", detail)
		default:
			c.fail("evaluation.nms", "Invalid nms settings", "evaluation.nms: %s", sentence(err))
		}
	}
	c.positive("evaluation.nms.candidate_size", float64(n.CandidateSize))
	c.nonNegative("evaluation.nms.top_k", float64(n.TopK))
}
