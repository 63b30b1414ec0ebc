package config

import (
	"fmt"
	"path"
	"runtime"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/ssdrunner/ssdrunner/registry"
)

// Enumerations of string settings (component names are checked against the registries).
var (
	badSamplePolicy = []string{"fail", "skip"}
	freezePolicies  = []string{"none", "base_net", "all_but_heads"}
	checkpointBy    = []string{"val_loss", "map"}
	nmsMethods      = []string{"hard", "soft"}
	classMismatch   = []string{"reinit", "reinit_classifier", "subsample"}
)

// diagAt makes an error diagnostic pointing at where path's value came from: its place in a
// file, the override that set it, or (for something missing) the enclosing block or the
// top of the experiment file.
func (l *loader) diagAt(path, summary, detail string) *hcl.Diagnostic {
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail}
	if o, ok := l.res.OriginOf(path); ok {
		switch o.Layer {
		case "file":
			d.Subject = o.Range.Ptr()
		case "env", "set":
			// No place in a file: pointing at the experiment's first line misled.
			d.Detail += fmt.Sprintf(" (set by %s)", o)
			return d
		}
	}
	if d.Subject == nil && len(l.res.Chain) > 0 {
		root := l.res.Chain[len(l.res.Chain)-1]
		d.Subject = &hcl.Range{Filename: root, Start: hcl.InitialPos, End: hcl.InitialPos}
	}
	return d
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

func (c *checker) unitInterval(path string, v float64) {
	if !(v >= 0 && v <= 1) {
		c.fail(path, "Invalid value for "+lastSegment(path), "%s must be between 0 and 1, got %v.", path, v)
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
	for _, k := range m.Init.IgnoreKeys {
		if _, err := path.Match(k, ""); err != nil || k == "" {
			c.fail("model.init.ignore_keys", "Invalid key pattern", "model.init.ignore_keys entry %q is not a valid glob (path.Match syntax: *, ?, [a-z]).", k)
		}
	}
	if m.Init.OnClassMismatch == "subsample" && m.Init.PretrainedLabels == "" {
		c.fail("model.init.on_class_mismatch", "Missing pretrained_labels", "on_class_mismatch = \"subsample\" needs model.init.pretrained_labels to match classes by name.")
	}

	d := e.Data
	c.component("data.train", "dataset", d.Train, true)
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
	if !validDevice(t.Device) {
		c.fail("training.device", "Invalid value for device", "training.device = %q; expected cpu, cuda or cuda:N.", t.Device)
	}
	c.nonNegative("training.checkpoint.every", float64(t.Checkpoint.Every))
	c.nonNegative("training.checkpoint.keep_last", float64(t.Checkpoint.KeepLast))
	c.oneOf("training.checkpoint.metric", t.Checkpoint.Metric, checkpointBy)
	if t.Checkpoint.Metric == "map" && len(e.Evaluation.Metrics) == 0 {
		c.fail("training.checkpoint.metric", "No metric to select checkpoints by", "training.checkpoint.metric = \"map\" needs an evaluation metric block (e.g. metric \"voc\" {}).")
	}

	for _, r := range e.Evaluation.Metrics {
		c.component(join("evaluation.metric", r.Type), "metric", r, true)
	}
	n := e.Evaluation.NMS
	c.oneOf("evaluation.nms.method", n.Method, nmsMethods)
	c.unitInterval("evaluation.nms.iou_threshold", n.IoUThreshold)
	c.unitInterval("evaluation.nms.score_threshold", n.ScoreThreshold)
	c.positive("evaluation.nms.candidate_size", float64(n.CandidateSize))
	c.nonNegative("evaluation.nms.top_k", float64(n.TopK))
	c.positive("evaluation.nms.sigma", n.Sigma)
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

func validDevice(d string) bool {
	if d == "cpu" || d == "cuda" {
		return true
	}
	rest, ok := strings.CutPrefix(d, "cuda:")
	if !ok || rest == "" {
		return false
	}
	for _, r := range rest {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
