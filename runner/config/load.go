package config

import (
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/ssdrunner/ssdrunner/experiments"
	"github.com/ssdrunner/ssdrunner/internal/textfile"
	"github.com/ssdrunner/ssdrunner/registry"
)

// Options are the command line's contributions to loading an experiment.
type Options struct {
	// Vars are -var NAME=VALUE arguments, applied in order.
	Vars []string
	// VarFiles are -var-file paths: HCL files of NAME = VALUE lines.
	VarFiles []string
	// Env is the environment (os.Environ() form). RUNNER_VAR_<name> sets variables,
	// RUNNER_<PATH> (segments joined by "__", e.g. RUNNER_TRAINING__EPOCHS) overrides keys.
	Env []string
	// Set are --set PATH=VALUE overrides, applied in order after the environment.
	Set []string
	// ReadFile reads experiment and var files; nil means textfile.ReadText: regular files
	// of at most textfile.Config bytes, without a byte-order mark.
	ReadFile func(string) ([]byte, error)
}

// Origin says where a value came from.
type Origin struct {
	Layer  string    `json:"layer"` // default | file | env | set
	Range  hcl.Range `json:"-"`
	Source string    `json:"source,omitempty"` // the environment variable or --set argument
}

func fileOrigin(r hcl.Range) Origin { return Origin{Layer: "file", Range: r} }

func (o Origin) String() string {
	switch o.Layer {
	case "file":
		return rangeString(o.Range)
	case "env":
		return "environment variable " + o.Source
	case "set":
		return "--set " + o.Source
	}
	return o.Layer
}

// Result is a loaded experiment with what is needed to explain it.
type Result struct {
	Experiment Experiment
	// Path is the experiment file as given; Chain lists it after the files it inherits
	// from, in merge order.
	Path  string
	Chain []string
	// Origins maps dotted keys (model.backbone.width_mult) to where their value came from.
	Origins map[string]Origin
	// Vars are the resolved variables.
	Vars map[string]cty.Value
	// Files holds the parsed sources, for printing diagnostics with snippets.
	Files map[string]*hcl.File
}

// DiagAt makes an error diagnostic pointing at where path's value came from: its place in
// a file, the override that set it, or (for something missing, or path "") the enclosing
// block or the top of the experiment file.
func (r *Result) DiagAt(path, summary, detail string) *hcl.Diagnostic {
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail}
	if o, ok := r.OriginOf(path); ok && path != "" {
		switch o.Layer {
		case "file":
			d.Subject = o.Range.Ptr()
		case "env", "set":
			// no place in a file: pointing at the experiment's first line would mislead
			d.Detail += fmt.Sprintf(" (set by %s)", o)
			return d
		}
	}
	if d.Subject == nil && len(r.Chain) > 0 {
		root := r.Chain[len(r.Chain)-1]
		d.Subject = &hcl.Range{Filename: root, Start: hcl.InitialPos, End: hcl.InitialPos}
	}
	return d
}

// OriginOf returns where a key's value came from, looking at its parents when the key
// itself was not written anywhere.
func (r *Result) OriginOf(path string) (Origin, bool) {
	for p := path; p != ""; {
		if o, ok := r.Origins[p]; ok {
			return o, true
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return Origin{}, false
}

const (
	envPrefix    = "RUNNER_"
	envVarPrefix = "RUNNER_VAR_"
	maxDepth     = 16
)

// envReserved are RUNNER_ variables that configure the program, not the experiment.
var envReserved = map[string]bool{"RUNNER_LOG_LEVEL": true, "RUNNER_LOG_FORMAT": true, "RUNNER_MALLOC": true,
	"RUNNER_OPEN_IMAGES_BASE_URL": true, "RUNNER_OPEN_IMAGES_IMAGES_URL": true}

var fileSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "inherits"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "variable", LabelNames: []string{"name"}}, {Type: "locals"}},
}

type loader struct {
	opts   Options
	parser *hclparse.Parser
	res    *Result
}

// Load reads an experiment file with everything it inherits, resolves variables and locals,
// applies the defaults, the environment and the --set overrides, and checks the result.
// All problems found are returned together; the Result is usable only without errors.
func Load(path string, opts Options) (*Result, hcl.Diagnostics) {
	if opts.ReadFile == nil {
		opts.ReadFile = func(p string) ([]byte, error) { return textfile.ReadText(p, textfile.Config) }
	}
	l := &loader{opts: opts, parser: hclparse.NewParser(), res: &Result{Path: path, Origins: map[string]Origin{}}}
	defer func() { l.res.Files = l.parser.Files() }()

	chain, diags := l.chain(path, nil, nil)
	if diags.HasErrors() {
		return l.res, diags
	}
	for _, f := range chain {
		l.res.Chain = append(l.res.Chain, f.path)
	}
	vars, d := l.variables(chain)
	diags = append(diags, d...)
	if diags.HasErrors() {
		return l.res, diags
	}
	l.res.Vars = vars
	ctx, d := l.evalContext(chain, vars)
	diags = append(diags, d...)
	if diags.HasErrors() {
		return l.res, diags
	}

	root := schemaOf(reflect.TypeOf(Experiment{}))
	var layers []*layer
	for _, f := range chain {
		ly := newLayer()
		diags = append(diags, decodeBody(f.file.Body, ctx, root, "", ly.values, ly, fileSchema)...)
		layers = append(layers, ly)
	}
	if diags.HasErrors() {
		return l.res, diags
	}

	k := koanf.New(".")
	def := newLayer()
	d0 := Defaults()
	flatten(reflect.ValueOf(d0), root, "", def.values, def.origins)
	if err := l.merge(k, def); err != nil {
		return l.res, append(diags, errorDiag("Internal error", err.Error()))
	}
	for _, ly := range layers {
		if err := l.merge(k, ly); err != nil {
			return l.res, append(diags, errorDiag("Internal error", err.Error()))
		}
	}
	diags = append(diags, l.overrides(k, root)...)
	if diags.HasErrors() {
		return l.res, diags
	}

	exp := Experiment{}
	if err := assign(reflect.ValueOf(&exp).Elem(), k.Raw(), root, ""); err != nil {
		return l.res, append(diags, errorDiag("Internal error", err.Error()))
	}
	if exp.Name == "" {
		base := filepath.Base(path)
		exp.Name = strings.TrimSuffix(strings.TrimSuffix(base, ".json"), filepath.Ext(strings.TrimSuffix(base, ".json")))
		if strings.HasSuffix(base, ".hcl.json") {
			exp.Name = strings.TrimSuffix(base, ".hcl.json")
		}
	}
	l.res.Experiment = exp
	diags = append(diags, l.validate(&exp)...)
	return l.res, diags
}

func errorDiag(summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail}
}

type sourceFile struct {
	path string
	file *hcl.File
}

// chain parses path and, depth first, the files it inherits from; bases come first.
func (l *loader) chain(path string, stack []string, via *hcl.Range) ([]*sourceFile, hcl.Diagnostics) {
	clean := path
	builtin := strings.HasPrefix(path, experiments.Prefix)
	if !builtin {
		clean = filepath.Clean(path)
	}
	for _, s := range stack {
		if s == clean {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Inheritance cycle",
				Detail:  fmt.Sprintf("%s inherits from itself: %s -> %s.", clean, strings.Join(stack, " -> "), clean),
				Subject: via}}
		}
	}
	if len(stack) >= maxDepth {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Inheritance too deep",
			Detail: fmt.Sprintf("More than %d levels of inherits.", maxDepth), Subject: via}}
	}
	var src []byte
	var err error
	if builtin {
		src, err = experiments.ReadBuiltin(strings.TrimPrefix(clean, experiments.Prefix))
	} else {
		src, err = l.opts.ReadFile(clean)
	}
	if err != nil {
		detail := err.Error() + "."
		if builtin {
			var names []string
			for _, b := range experiments.Builtins() {
				names = append(names, b.Name)
			}
			name := strings.TrimPrefix(clean, experiments.Prefix)
			if s := registry.Suggest(name, names); s != "" {
				detail += fmt.Sprintf(" Did you mean %q?", experiments.Prefix+s)
			}
			detail += " Built-in bases: " + strings.Join(names, ", ") + " (`runner list model`)."
		}
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read experiment file",
			Detail: detail, Subject: via}}
	}
	if d := CheckNesting(src, clean); d != nil {
		return nil, hcl.Diagnostics{d}
	}
	var f *hcl.File
	var diags hcl.Diagnostics
	if strings.HasSuffix(clean, ".json") {
		f, diags = l.parser.ParseJSON(src, clean)
	} else {
		f, diags = l.parser.ParseHCL(src, clean)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	content, _, d := f.Body.PartialContent(fileSchema)
	diags = append(diags, d...)
	var out []*sourceFile
	if attr, ok := content.Attributes["inherits"]; ok {
		bases, d := literalStrings(attr)
		diags = append(diags, d...)
		for _, b := range bases {
			bp := b
			switch {
			case strings.HasPrefix(b, experiments.Prefix), filepath.IsAbs(b):
			case builtin: // a built-in base inherits its siblings by file name
				bp = experiments.Prefix + strings.TrimSuffix(filepath.Base(b), ".hcl")
			default:
				bp = filepath.Join(filepath.Dir(clean), b)
			}
			sub, d := l.chain(bp, append(stack, clean), attr.Expr.Range().Ptr())
			diags = append(diags, d...)
			for _, s := range sub {
				if !containsFile(out, s.path) {
					out = append(out, s)
				}
			}
		}
	}
	return append(out, &sourceFile{path: clean, file: f}), diags
}

func containsFile(files []*sourceFile, path string) bool {
	for _, f := range files {
		if f.path == path {
			return true
		}
	}
	return false
}

// literalStrings reads an attribute that must be a string or a list of strings written
// without references (inherits is resolved before variables exist).
func literalStrings(attr *hcl.Attribute) ([]string, hcl.Diagnostics) {
	bad := hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid inherits",
		Detail:  `inherits must be a path or a list of paths written literally, e.g. inherits = "base/mb2-ssd-lite.hcl"; variables are not available here.`,
		Subject: attr.Expr.Range().Ptr()}}
	v, diags := attr.Expr.Value(nil)
	if diags.HasErrors() || v.IsNull() || !v.IsWhollyKnown() {
		return nil, bad
	}
	if v.Type() == cty.String {
		return []string{v.AsString()}, nil
	}
	if !v.CanIterateElements() || (!v.Type().IsTupleType() && !v.Type().IsListType()) {
		return nil, bad
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() || e.Type() != cty.String {
			return nil, bad
		}
		out = append(out, e.AsString())
	}
	return out, nil
}

// merge loads a layer into k. A component node whose registered name differs from the one
// already there replaces it whole: options of another component do not carry over.
func (l *loader) merge(k *koanf.Koanf, ly *layer) error {
	replaced := replacedComponents(k, ly.values, schemaOf(reflect.TypeOf(Experiment{})), "")
	for _, p := range replaced {
		k.Delete(p)
		for key := range l.res.Origins {
			if key == p || strings.HasPrefix(key, p+".") || strings.HasPrefix(key, p+"[") {
				delete(l.res.Origins, key)
			}
		}
	}
	if err := k.Load(confmap.Provider(ly.values, ""), nil); err != nil {
		return err
	}
	for p, o := range ly.origins {
		l.res.Origins[p] = o
	}
	return nil
}

func replacedComponents(k *koanf.Koanf, values map[string]any, s *structSchema, path string) []string {
	var out []string
	for name, v := range values {
		f, ok := s.byName[name]
		if !ok {
			continue
		}
		p := join(path, name)
		switch f.kind {
		case componentNode:
			node, _ := v.(map[string]any)
			if t, ok := node["type"].(string); ok && k.Exists(p+".type") && k.String(p+".type") != t {
				out = append(out, p)
			}
		case blockNode:
			if m, ok := v.(map[string]any); ok {
				out = append(out, replacedComponents(k, m, f.sub, p)...)
			}
		case labeledNode:
			if m, ok := v.(map[string]any); ok {
				for label, sub := range m {
					if sm, ok := sub.(map[string]any); ok {
						out = append(out, replacedComponents(k, sm, f.sub, join(p, label))...)
					}
				}
			}
		}
	}
	return out
}

// flatten writes the non-zero values of a struct (the defaults) into a layer.
func flatten(v reflect.Value, s *structSchema, path string, out map[string]any, origins map[string]Origin) {
	for _, f := range s.fields {
		fv := v.Field(f.index)
		p := join(path, f.name)
		switch f.kind {
		case attrNode:
			if !fv.IsZero() {
				if f.ptr {
					fv = fv.Elem()
				}
				out[f.name] = fv.Interface()
				origins[p] = Origin{Layer: "default"}
			}
		case blockNode:
			sub := map[string]any{}
			flatten(fv, f.sub, p, sub, origins)
			if len(sub) > 0 {
				out[f.name] = sub
			}
		}
	}
}

// assign writes merged values into a typed struct. Values already have their field's type
// (the decoders convert them), apart from numeric widening.
func assign(dst reflect.Value, m map[string]any, s *structSchema, path string) error {
	for name, v := range m {
		f, ok := s.byName[name]
		if !ok {
			return fmt.Errorf("%s: unknown key", join(path, name))
		}
		p := join(path, name)
		fv := dst.Field(f.index)
		switch f.kind {
		case attrNode:
			rv := reflect.ValueOf(v)
			if !rv.IsValid() {
				continue
			}
			if rv.Type() != f.typ {
				if !rv.Type().ConvertibleTo(f.typ) || rv.Kind() == reflect.String != (f.typ.Kind() == reflect.String) {
					return fmt.Errorf("%s: value of type %s, want %s", p, rv.Type(), f.typ)
				}
				rv = rv.Convert(f.typ)
			}
			if f.ptr {
				ptr := reflect.New(f.typ)
				ptr.Elem().Set(rv)
				rv = ptr
			}
			fv.Set(rv)
		case blockNode:
			sub, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("%s: expected a block", p)
			}
			if err := assign(fv, sub, f.sub, p); err != nil {
				return err
			}
		case componentNode:
			node, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("%s: expected a component block", p)
			}
			fv.Set(reflect.ValueOf(refOf(node)))
		case componentSetNode:
			set, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("%s: expected component blocks", p)
			}
			names := make([]string, 0, len(set))
			for n := range set {
				names = append(names, n)
			}
			sort.Strings(names)
			refs := make([]refT, 0, len(names))
			for _, n := range names {
				node, _ := set[n].(map[string]any)
				r := refOf(node)
				r.Type = n
				refs = append(refs, r)
			}
			fv.Set(reflect.ValueOf(refs))
		case componentListNode:
			list, ok := v.([]any)
			if !ok {
				return fmt.Errorf("%s: expected a list of component blocks", p)
			}
			refs := make([]refT, 0, len(list))
			for i, e := range list {
				node, ok := e.(map[string]any)
				if !ok {
					return fmt.Errorf("%s[%d]: expected a component block", p, i)
				}
				refs = append(refs, refOf(node))
			}
			fv.Set(reflect.ValueOf(refs))
		case labeledNode:
			set, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("%s: expected labelled blocks", p)
			}
			mv := reflect.MakeMap(fv.Type())
			for label, sub := range set {
				sm, ok := sub.(map[string]any)
				if !ok {
					return fmt.Errorf("%s.%s: expected a block", p, label)
				}
				ev := reflect.New(f.typ).Elem()
				if err := assign(ev, sm, f.sub, join(p, label)); err != nil {
					return err
				}
				mv.SetMapIndex(reflect.ValueOf(label), ev)
			}
			fv.Set(mv)
		}
	}
	return nil
}
