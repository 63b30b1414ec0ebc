package config

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/knadh/koanf/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/ssdrunner/ssdrunner/registry"
)

// Sweep is an experiment file's `sweep` block: the trials to run over the experiment, how
// to rank them, and when to stop hopeless ones early.
//
//	sweep {
//	  method = "random"          # grid (default) | random
//	  trials = 8                 # random: how many; grid: at most this many
//	  seed   = 1                 # of the random draws
//	  metric = "best_map"        # best_map | last_map | best_val_loss | last_val_loss
//	  param "optimizer.lr" {     # any key --set accepts
//	    log_uniform = [1e-4, 1e-1]
//	  }
//	  param "data.batch_size" {
//	    values = [16, 32]
//	  }
//	  early_stopping "median" {
//	    grace_epochs = 2
//	  }
//	}
type Sweep struct {
	// Name names the sweep's folder under <output.dir>/<experiment name>/ (default "sweep").
	Name   string
	Method string // grid | random
	// Trials is the budget: the number of random trials, or a cap on the grid's size (0: the
	// whole grid).
	Trials int
	Seed   int64
	Metric string // best_map | last_map | best_val_loss | last_val_loss
	Params []SweepParam
	// EarlyStopping is nil when every trial runs its whole schedule.
	EarlyStopping *EarlyStopping
	// Range is the block's header, for diagnostics.
	Range hcl.Range `json:"-"`
}

// Distribution kinds of a swept key.
const (
	DistValues     = "values"
	DistUniform    = "uniform"
	DistLogUniform = "log_uniform"
	DistIntRange   = "int_range"
)

// SweepParam is one swept key and the values it takes.
type SweepParam struct {
	// Key is the dotted path of the key, as --set writes it (optimizer.lr, param_group.base_net.lr).
	Key  string
	Dist string // values | uniform | log_uniform | int_range
	// Values are the candidates of a values list, each as the text of an HCL literal (what
	// --set would take); ValueRanges are their places in the file.
	Values      []string
	ValueRanges []hcl.Range `json:"-"`
	// Low and High bound a range (both included for int_range).
	Low, High float64
	// Step is int_range's stride (default 1).
	Step int64
	// Points is how many values a grid takes from a uniform or log-uniform range (evenly,
	// or evenly in log space).
	Points int
	// Range is the block's label, DistRange the distribution attribute's value.
	Range     hcl.Range `json:"-"`
	DistRange hcl.Range `json:"-"`
}

// Log reports whether the parameter is best shown on a log axis.
func (p SweepParam) Log() bool { return p.Dist == DistLogUniform }

// EarlyStopping stops trials that are unlikely to win, judged at each validation.
type EarlyStopping struct {
	// Rule is "median" (stop a trial whose metric is worse than the median of the other
	// trials' at the same epoch, as Optuna's MedianPruner and Ray Tune's median stopping
	// rule) or "successive_halving" (at rungs min_epochs × reduction_factorᵏ keep only the
	// best 1/reduction_factor of the trials that reached the rung, as asynchronous
	// successive halving does).
	Rule string `json:"rule"`
	// GraceEpochs: no trial is stopped before this epoch (median rule).
	GraceEpochs int `json:"grace_epochs,omitempty"`
	// MinTrials: the rule acts only when at least this many other trials have a value to
	// compare with.
	MinTrials int `json:"min_trials"`
	// MinEpochs is the first rung, ReductionFactor the factor between rungs and the
	// fraction kept (successive halving).
	MinEpochs       int       `json:"min_epochs,omitempty"`
	ReductionFactor int       `json:"reduction_factor,omitempty"`
	Range           hcl.Range `json:"-"`
}

// SweepMethods, SweepMetrics and StoppingRules are the accepted values.
var (
	SweepMethods  = []string{"grid", "random"}
	SweepMetrics  = []string{"best_map", "last_map", "best_val_loss", "last_val_loss"}
	StoppingRules = []string{"median", "successive_halving"}
)

// Override is one key set by a sweep trial. Its origin is the place in the file of the
// value (or range) it came from, so that a trial's invalid value is reported there.
type Override struct {
	Path, Value string
	Range       hcl.Range
}

// String is the override as --set would write it.
func (o Override) String() string { return o.Path + "=" + o.Value }

var (
	sweepSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "name"}, {Name: "method"}, {Name: "trials"}, {Name: "seed"}, {Name: "metric"}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "param", LabelNames: []string{"key"}}, {Type: "early_stopping", LabelNames: []string{"rule"}}},
	}
	paramSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: DistValues}, {Name: DistUniform}, {Name: DistLogUniform}, {Name: DistIntRange}, {Name: "step"}, {Name: "points"}}}
	stoppingSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "grace_epochs"}, {Name: "min_trials"}, {Name: "min_epochs"}, {Name: "reduction_factor"}}}
)

// decodeSweep reads the sweep block of the last file of the chain that has one (a sweep
// block is never merged: the nearest one is the sweep) and checks it against the merged
// experiment k: every key must be one --set accepts, every listed value must parse as that
// key's type, and ranges need numeric keys.
func (l *loader) decodeSweep(chain []*sourceFile, ctx *hcl.EvalContext, k *koanf.Koanf, root *structSchema) (*Sweep, hcl.Diagnostics) {
	var blk *hcl.Block
	var diags hcl.Diagnostics
	for _, f := range chain {
		content, _, _ := f.file.Body.PartialContent(fileSchema)
		var inFile *hcl.Block
		for _, b := range content.Blocks {
			if b.Type != "sweep" {
				continue
			}
			if inFile != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate sweep block",
					Detail:  fmt.Sprintf("Only one sweep block is allowed in a file; the first one is at %s.", rangeString(inFile.DefRange)),
					Subject: b.DefRange.Ptr()})
				continue
			}
			inFile = b
		}
		if inFile != nil {
			blk = inFile
		}
	}
	if blk == nil || diags.HasErrors() {
		return nil, diags
	}
	s := &Sweep{Name: "sweep", Method: "grid", Metric: "best_map", Range: blk.DefRange}
	content, d := blk.Body.Content(sweepSchema)
	diags = append(diags, d...)
	for name, attr := range content.Attributes {
		switch name {
		case "name":
			var v string
			if d := evalInto(attr, ctx, &v); d != nil {
				diags = append(diags, d)
			} else if !validLabel(v) {
				diags = append(diags, attrDiag(attr, "Invalid sweep name",
					fmt.Sprintf("sweep.name = %q: use letters, digits, '_' and '-', starting with a letter (it names a folder).", v)))
			} else {
				s.Name = v
			}
		case "method":
			diags = append(diags, evalOneOf(attr, ctx, &s.Method, "sweep.method", SweepMethods)...)
		case "metric":
			diags = append(diags, evalOneOf(attr, ctx, &s.Metric, "sweep.metric", SweepMetrics)...)
		case "trials":
			if d := evalInto(attr, ctx, &s.Trials); d != nil {
				diags = append(diags, d)
			} else if s.Trials < 1 {
				diags = append(diags, attrDiag(attr, "Invalid value for trials", fmt.Sprintf("sweep.trials must be greater than 0, got %d.", s.Trials)))
			}
		case "seed":
			if d := evalInto(attr, ctx, &s.Seed); d != nil {
				diags = append(diags, d)
			}
		}
	}
	seen := map[string]hcl.Range{}
	for _, b := range content.Blocks {
		switch b.Type {
		case "param":
			key := b.Labels[0]
			if prev, dup := seen[key]; dup {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate sweep param",
					Detail:  fmt.Sprintf("%q is already swept at %s.", key, rangeString(prev)),
					Subject: b.LabelRanges[0].Ptr()})
				continue
			}
			seen[key] = b.LabelRanges[0]
			p, d := l.decodeParam(b, ctx, k, root, s.Method)
			diags = append(diags, d...)
			if p != nil {
				s.Params = append(s.Params, *p)
			}
		case "early_stopping":
			if s.EarlyStopping != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate early_stopping block",
					Detail:  fmt.Sprintf("A sweep has one early-stopping rule; the first one is at %s.", rangeString(s.EarlyStopping.Range)),
					Subject: b.DefRange.Ptr()})
				continue
			}
			es, d := decodeStopping(b, ctx)
			diags = append(diags, d...)
			if es != nil {
				s.EarlyStopping = es
			}
		}
	}
	if len(s.Params) == 0 && len(seen) == 0 {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Sweep without params",
			Detail:  `A sweep needs at least one param block, e.g. param "optimizer.lr" { log_uniform = [1e-4, 1e-1] }.`,
			Subject: blk.DefRange.Ptr()})
	}
	if s.Method == "random" && s.Trials == 0 {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing trials",
			Detail:  "A random sweep needs a budget: set sweep.trials, e.g. trials = 8.",
			Subject: blk.DefRange.Ptr()})
	}
	return s, diags
}

// decodeParam reads one `param "key" { … }` block.
func (l *loader) decodeParam(b *hcl.Block, ctx *hcl.EvalContext, k *koanf.Koanf, root *structSchema, method string) (*SweepParam, hcl.Diagnostics) {
	p := &SweepParam{Key: b.Labels[0], Range: b.LabelRanges[0], Step: 1}
	content, diags := b.Body.Content(paramSchema)
	if diags.HasErrors() {
		return nil, diags
	}
	// the key and its type, through the --set machinery: any key --set accepts
	typ, parse, err := l.resolveKey(k, root, p.Key)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid sweep param",
			Detail: fmt.Sprintf("param %q: %s", p.Key, sentence(err)), Subject: b.LabelRanges[0].Ptr()}}
	}
	keyKind := typ.Kind()
	var dists []*hcl.Attribute
	for _, name := range []string{DistValues, DistUniform, DistLogUniform, DistIntRange} {
		if a, ok := content.Attributes[name]; ok {
			dists = append(dists, a)
		}
	}
	if len(dists) != 1 {
		d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid sweep param", Subject: b.DefRange.Ptr(),
			Detail: fmt.Sprintf("param %q needs exactly one of values, uniform, log_uniform, int_range", p.Key)}
		if len(dists) > 1 {
			d.Detail += fmt.Sprintf("; it has %d", len(dists))
		}
		d.Detail += "."
		if len(dists) > 1 {
			d.Subject = dists[1].NameRange.Ptr()
		}
		return nil, hcl.Diagnostics{d}
	}
	attr := dists[0]
	p.Dist, p.DistRange = attr.Name, attr.Expr.Range()
	numeric := keyKind == reflect.Float64 || keyKind == reflect.Float32 || isIntKind(keyKind)
	switch p.Dist {
	case DistValues:
		vals, ranges, d := literalList(attr, ctx)
		if d != nil {
			return nil, hcl.Diagnostics{d}
		}
		if len(vals) == 0 {
			return nil, hcl.Diagnostics{attrDiag(attr, "Invalid sweep param", fmt.Sprintf("param %q: values is empty.", p.Key))}
		}
		for i, v := range vals {
			if _, err := parse(v); err != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid sweep value",
					Detail:  fmt.Sprintf("param %q, value %d (%s): %s", p.Key, i, v, sentence(err)),
					Subject: ranges[i].Ptr()})
			}
		}
		p.Values, p.ValueRanges = vals, ranges
	default:
		var lohi []float64
		if d := evalInto(attr, ctx, &lohi); d != nil {
			return nil, hcl.Diagnostics{d}
		}
		if len(lohi) != 2 {
			return nil, hcl.Diagnostics{attrDiag(attr, "Invalid sweep range",
				fmt.Sprintf("param %q: %s takes [low, high], got %d values.", p.Key, p.Dist, len(lohi)))}
		}
		p.Low, p.High = lohi[0], lohi[1]
		switch {
		case !numeric:
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid sweep range",
				Detail:  fmt.Sprintf("param %q: a %s range needs a numeric key, and this one is %s. Use values = [...] instead.", p.Key, p.Dist, typeWord(typ)),
				Subject: attr.NameRange.Ptr()})
		case isIntKind(keyKind) && p.Dist != DistIntRange:
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid sweep range",
				Detail:  fmt.Sprintf("param %q is a whole number: use int_range = [%g, %g] (or values) instead of %s.", p.Key, math.Ceil(p.Low), math.Floor(p.High), p.Dist),
				Subject: attr.NameRange.Ptr()})
		case !(p.Low < p.High):
			diags = append(diags, attrDiag(attr, "Invalid sweep range",
				fmt.Sprintf("param %q: %s = [%g, %g]: the low end must be below the high end.", p.Key, p.Dist, p.Low, p.High)))
		case p.Dist == DistLogUniform && !(p.Low > 0):
			diags = append(diags, attrDiag(attr, "Invalid sweep range",
				fmt.Sprintf("param %q: log_uniform = [%g, %g]: both ends must be greater than 0.", p.Key, p.Low, p.High)))
		case p.Dist == DistIntRange && (p.Low != math.Trunc(p.Low) || p.High != math.Trunc(p.High)):
			diags = append(diags, attrDiag(attr, "Invalid sweep range",
				fmt.Sprintf("param %q: int_range = [%g, %g]: both ends must be whole numbers.", p.Key, p.Low, p.High)))
		}
	}
	if a, ok := content.Attributes["step"]; ok {
		if p.Dist != DistIntRange {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unexpected step",
				Detail: fmt.Sprintf("param %q: step goes with int_range only.", p.Key), Subject: a.NameRange.Ptr()})
		} else if d := evalInto(a, ctx, &p.Step); d != nil {
			diags = append(diags, d)
		} else if p.Step < 1 {
			diags = append(diags, attrDiag(a, "Invalid value for step", fmt.Sprintf("param %q: step must be at least 1, got %d.", p.Key, p.Step)))
		}
	}
	if a, ok := content.Attributes["points"]; ok {
		switch {
		case p.Dist != DistUniform && p.Dist != DistLogUniform:
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unexpected points",
				Detail: fmt.Sprintf("param %q: points goes with uniform and log_uniform ranges only.", p.Key), Subject: a.NameRange.Ptr()})
		default:
			if d := evalInto(a, ctx, &p.Points); d != nil {
				diags = append(diags, d)
			} else if p.Points < 2 || p.Points > 1000 {
				diags = append(diags, attrDiag(a, "Invalid value for points", fmt.Sprintf("param %q: points must be between 2 and 1000, got %d.", p.Key, p.Points)))
			}
		}
	}
	if method == "grid" && (p.Dist == DistUniform || p.Dist == DistLogUniform) && p.Points == 0 {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Continuous range in a grid",
			Detail:  fmt.Sprintf("param %q: a grid sweep takes a %s range as points = N values spread over it (e.g. points = 4), or use method = \"random\".", p.Key, p.Dist),
			Subject: attr.NameRange.Ptr()})
	}
	if method == "random" && p.Points != 0 {
		if a, ok := content.Attributes["points"]; ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unexpected points",
				Detail:  fmt.Sprintf("param %q: points spreads a range over a grid; a random sweep draws from the whole range.", p.Key),
				Subject: a.NameRange.Ptr()})
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return p, diags
}

func decodeStopping(b *hcl.Block, ctx *hcl.EvalContext) (*EarlyStopping, hcl.Diagnostics) {
	es := &EarlyStopping{Rule: b.Labels[0], Range: b.DefRange, GraceEpochs: 1, MinTrials: 2, MinEpochs: 1, ReductionFactor: 3}
	if !slices.Contains(StoppingRules, es.Rule) {
		detail := fmt.Sprintf("early_stopping %q: expected one of: %s.", es.Rule, strings.Join(StoppingRules, ", "))
		if s := registry.Suggest(es.Rule, StoppingRules); s != "" {
			detail += fmt.Sprintf(" Did you mean %q?", s)
		}
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unknown early-stopping rule", Detail: detail, Subject: b.LabelRanges[0].Ptr()}}
	}
	content, diags := b.Body.Content(stoppingSchema)
	allowed := map[string]map[string]*int{
		"median":             {"grace_epochs": &es.GraceEpochs, "min_trials": &es.MinTrials},
		"successive_halving": {"min_epochs": &es.MinEpochs, "reduction_factor": &es.ReductionFactor, "min_trials": &es.MinTrials},
	}[es.Rule]
	for name, attr := range content.Attributes {
		dst, ok := allowed[name]
		if !ok {
			var names []string
			for n := range allowed {
				names = append(names, n)
			}
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported argument",
				Detail:  fmt.Sprintf("%s does not apply to the %s rule (its settings: %s).", name, es.Rule, strings.Join(slices.Sorted(slices.Values(names)), ", ")),
				Subject: attr.NameRange.Ptr()})
			continue
		}
		if d := evalInto(attr, ctx, dst); d != nil {
			diags = append(diags, d)
			continue
		}
		low := 1
		if name == "reduction_factor" {
			low = 2
		}
		if *dst < low {
			diags = append(diags, attrDiag(attr, "Invalid value for "+name, fmt.Sprintf("early_stopping.%s must be at least %d, got %d.", name, low, *dst)))
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	if es.Rule == "median" { // the other rule's settings stay unset in sweep.json
		es.MinEpochs, es.ReductionFactor = 0, 0
	} else {
		es.GraceEpochs = 0
	}
	return es, diags
}

// evalInto evaluates an attribute into *dst (a bool, whole number, float, string or list).
func evalInto[T any](attr *hcl.Attribute, ctx *hcl.EvalContext, dst *T) *hcl.Diagnostic {
	val, d := attr.Expr.Value(ctx)
	if d.HasErrors() {
		return d[0]
	}
	v, err := ctyToGo(val, reflect.TypeOf(*dst))
	if err != nil {
		return attrDiag(attr, fmt.Sprintf("Invalid value for %q", attr.Name), fmt.Sprintf("sweep: %s: %s.", attr.Name, err))
	}
	*dst = v.(T)
	return nil
}

func evalOneOf(attr *hcl.Attribute, ctx *hcl.EvalContext, dst *string, path string, allowed []string) hcl.Diagnostics {
	var v string
	if d := evalInto(attr, ctx, &v); d != nil {
		return hcl.Diagnostics{d}
	}
	if !slices.Contains(allowed, v) {
		detail := fmt.Sprintf("%s = %q; expected one of: %s.", path, v, strings.Join(allowed, ", "))
		if s := registry.Suggest(v, allowed); s != "" {
			detail += fmt.Sprintf(" Did you mean %q?", s)
		}
		return hcl.Diagnostics{attrDiag(attr, "Invalid value for "+attr.Name, detail)}
	}
	*dst = v
	return nil
}

func attrDiag(attr *hcl.Attribute, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: attr.Expr.Range().Ptr()}
}

// literalList evaluates a list attribute and returns each element as the text of an HCL
// literal, with the element's place in the file when it is written as a list literal.
func literalList(attr *hcl.Attribute, ctx *hcl.EvalContext) ([]string, []hcl.Range, *hcl.Diagnostic) {
	val, d := attr.Expr.Value(ctx)
	if d.HasErrors() {
		return nil, nil, d[0]
	}
	if val.IsNull() || !val.IsWhollyKnown() || !(val.Type().IsTupleType() || val.Type().IsListType()) {
		return nil, nil, attrDiag(attr, "Invalid sweep values", fmt.Sprintf("values must be a list, e.g. values = [0.01, 0.1]; got %s.", val.Type().FriendlyName()))
	}
	var elems []hcl.Expression
	if exprs, d := hcl.ExprList(attr.Expr); !d.HasErrors() {
		elems = exprs
	}
	var out []string
	var ranges []hcl.Range
	i := 0
	for it := val.ElementIterator(); it.Next(); i++ {
		_, e := it.Element()
		r := attr.Expr.Range()
		if len(elems) == val.LengthInt() {
			r = elems[i].Range()
		}
		if e.IsNull() {
			return nil, nil, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid sweep values",
				Detail: fmt.Sprintf("value %d is null.", i), Subject: r.Ptr()}
		}
		out = append(out, literalText(e))
		ranges = append(ranges, r)
	}
	return out, ranges, nil
}

// literalText writes a value as HCL literal text that --set parses back to it (strings
// quoted, numbers in their shortest exact form).
func literalText(v cty.Value) string {
	if v.Type() == cty.Number {
		f, _ := v.AsBigFloat().Float64()
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strings.TrimSpace(string(hclwrite.TokensForValue(v).Bytes()))
}

func isIntKind(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return true
	}
	return false
}
