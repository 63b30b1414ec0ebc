package config

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/ssdrunner/ssdrunner/registry"
)

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "default"}, {Name: "type"}, {Name: "description"}},
}

type variable struct {
	name     string
	def      cty.Value // cty.NilVal when there is no default
	typ      cty.Type  // cty.DynamicPseudoType when neither a type nor a default says
	explicit bool      // typ was declared
	decl     hcl.Range
}

// variables collects the variable blocks of every file (a later file's declaration
// replaces an earlier one's) and resolves their values: default, then RUNNER_VAR_<name>,
// then -var-file, then -var.
func (l *loader) variables(chain []*sourceFile) (map[string]cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	decls := map[string]*variable{}
	for _, f := range chain {
		content, _, d := f.file.Body.PartialContent(fileSchema)
		diags = append(diags, d...)
		inFile := map[string]hcl.Range{}
		for _, blk := range content.Blocks {
			if blk.Type != "variable" {
				continue
			}
			name := blk.Labels[0]
			if !hclsyntax.ValidIdentifier(name) {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid variable name",
					Detail: fmt.Sprintf("%q is not a valid identifier.", name), Subject: blk.LabelRanges[0].Ptr()})
				continue
			}
			if prev, dup := inFile[name]; dup {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate variable",
					Detail:  fmt.Sprintf("Variable %q is already declared at %s.", name, rangeString(prev)),
					Subject: blk.DefRange.Ptr()})
				continue
			}
			inFile[name] = blk.DefRange
			v, d := decodeVariable(name, blk)
			diags = append(diags, d...)
			if v != nil {
				decls[name] = v
			}
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}

	values := map[string]cty.Value{}
	for name, v := range decls {
		if v.def != cty.NilVal {
			values[name] = v.def
		}
	}
	names := func() []string {
		out := make([]string, 0, len(decls))
		for n := range decls {
			out = append(out, n)
		}
		sort.Strings(out)
		return out
	}
	undeclared := func(name, where string, subject *hcl.Range) *hcl.Diagnostic {
		detail := fmt.Sprintf("%s sets variable %q, which no experiment file declares.", where, name)
		if s := registry.Suggest(name, names()); s != "" {
			detail += fmt.Sprintf(" Did you mean %q?", s)
		}
		if len(decls) > 0 {
			detail += " Declared: " + strings.Join(names(), ", ") + "."
		}
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Undeclared variable", Detail: detail, Subject: subject}
	}

	invalid := map[string]bool{} // variables given a value that could not be used
	// environment
	env := append([]string(nil), l.opts.Env...)
	sort.Strings(env)
	for _, kv := range env {
		k, raw, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, envVarPrefix) {
			continue
		}
		name := strings.TrimPrefix(k, envVarPrefix)
		v, ok := decls[name]
		if !ok {
			diags = append(diags, undeclared(name, "Environment variable "+k, nil))
			continue
		}
		val, err := v.parse(raw)
		if err != nil {
			invalid[name] = true
			diags = append(diags, errorDiag("Invalid value for variable "+name, fmt.Sprintf("Environment variable %s: %s", k, sentence(err))))
			continue
		}
		values[name] = val
	}
	// var files
	for _, vf := range l.opts.VarFiles {
		src, err := l.opts.ReadFile(vf)
		if err != nil {
			diags = append(diags, errorDiag("Cannot read variables file", err.Error()+"."))
			continue
		}
		if d := CheckNesting(src, vf); d != nil {
			diags = append(diags, d)
			continue
		}
		var f *hcl.File
		var d hcl.Diagnostics
		if strings.HasSuffix(vf, ".json") {
			f, d = l.parser.ParseJSON(src, vf)
		} else {
			f, d = l.parser.ParseHCL(src, vf)
		}
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		attrs, d := f.Body.JustAttributes()
		diags = append(diags, d...)
		for name, attr := range attrs {
			v, ok := decls[name]
			if !ok {
				diags = append(diags, undeclared(name, "Variables file "+vf, attr.NameRange.Ptr()))
				continue
			}
			val, d := attr.Expr.Value(nil)
			if d.HasErrors() {
				diags = append(diags, d...)
				continue
			}
			if val, err := v.convert(val); err != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for variable " + name,
					Detail: err.Error() + ".", Subject: attr.Expr.Range().Ptr()})
			} else {
				values[name] = val
			}
		}
	}
	// -var
	for _, kv := range l.opts.Vars {
		name, raw, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			diags = append(diags, errorDiag("Invalid -var", fmt.Sprintf("%q: expected NAME=VALUE.", kv)))
			continue
		}
		v, ok := decls[name]
		if !ok {
			diags = append(diags, undeclared(name, "-var "+kv, nil))
			continue
		}
		val, err := v.parse(raw)
		if err != nil {
			diags = append(diags, errorDiag("Invalid value for variable "+name, fmt.Sprintf("-var %s: %s", kv, sentence(err))))
			invalid[name] = true
			continue
		}
		values[name] = val
	}
	for _, name := range names() {
		if _, ok := values[name]; !ok && !invalid[name] { // an invalid value was reported already
			d := decls[name].decl
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No value for required variable",
				Detail:  fmt.Sprintf("Variable %q has no default; give it with -var %s=VALUE, a -var-file or %s%s.", name, name, envVarPrefix, name),
				Subject: &d})
		}
	}
	return values, diags
}

func decodeVariable(name string, blk *hcl.Block) (*variable, hcl.Diagnostics) {
	content, diags := blk.Body.Content(variableSchema)
	if diags.HasErrors() {
		return nil, diags
	}
	v := &variable{name: name, def: cty.NilVal, typ: cty.DynamicPseudoType, decl: blk.DefRange}
	if attr, ok := content.Attributes["type"]; ok {
		t, d := typeexpr.TypeConstraint(attr.Expr)
		diags = append(diags, d...)
		if d.HasErrors() {
			return nil, diags
		}
		v.typ, v.explicit = t, true
	}
	if attr, ok := content.Attributes["default"]; ok {
		val, d := attr.Expr.Value(nil)
		diags = append(diags, d...)
		if d.HasErrors() {
			return nil, diags
		}
		if val.IsNull() { // an explicit null default: optional, "not set" unless given
			v.def = cty.NullVal(v.typ)
		} else {
			cv, err := v.convert(val)
			if err != nil {
				return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid default",
					Detail: fmt.Sprintf("Variable %q: %s.", name, err), Subject: attr.Expr.Range().Ptr()})
			}
			v.def = cv
			if !v.explicit && cv.Type().IsPrimitiveType() {
				v.typ = cv.Type()
			}
		}
	}
	return v, diags
}

// convert checks a value against the variable's type.
func (v *variable) convert(val cty.Value) (cty.Value, error) {
	if v.typ == cty.DynamicPseudoType {
		return val, nil
	}
	cv, err := convert.Convert(val, v.typ)
	if err != nil {
		return cty.NilVal, fmt.Errorf("expected %s: %s", v.typ.FriendlyName(), err)
	}
	return cv, nil
}

// parse reads a value given as text (-var, environment). Strings may be bare; other types
// are HCL literals. An untyped variable without default takes the text as a string unless
// it reads as a number, bool, list or object.
func (v *variable) parse(raw string) (cty.Value, error) {
	if v.typ == cty.String || (v.typ == cty.DynamicPseudoType && !looksLiteral(raw)) {
		if strings.HasPrefix(strings.TrimSpace(raw), `"`) {
			if val, err := parseExpr(raw); err == nil && val.Type() == cty.String {
				return val, nil
			}
		}
		return cty.StringVal(raw), nil
	}
	val, err := parseExpr(raw)
	if err != nil {
		// A bare word such as "ten" parses as a reference, whose error ("Variables may
		// not be used here") says nothing useful about a value.
		return cty.NilVal, fmt.Errorf("%q is not a %s", raw, v.typ.FriendlyName())
	}
	return v.convert(val)
}

func looksLiteral(raw string) bool {
	val, err := parseExpr(raw)
	return err == nil && val.Type() != cty.String
}

// evalContext resolves the locals of every file (a later file's local replaces an earlier
// one's) and returns the context expressions are evaluated in: var.*, local.*, path.* and
// the functions.
func (l *loader) evalContext(chain []*sourceFile, vars map[string]cty.Value) (*hcl.EvalContext, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	exprs := map[string]*hcl.Attribute{}
	for _, f := range chain {
		content, _, _ := f.file.Body.PartialContent(fileSchema)
		inFile := map[string]*hcl.Attribute{}
		for _, blk := range content.Blocks {
			if blk.Type != "locals" {
				continue
			}
			attrs, d := blk.Body.JustAttributes()
			diags = append(diags, d...)
			for name, attr := range attrs {
				if prev, dup := inFile[name]; dup {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate local value",
						Detail:  fmt.Sprintf("Local %q is already defined at %s.", name, rangeString(prev.NameRange)),
						Subject: attr.NameRange.Ptr()})
					continue
				}
				inFile[name] = attr
				exprs[name] = attr
			}
		}
	}
	root := chain[len(chain)-1].path
	expDir, _ := filepath.Abs(filepath.Dir(root))
	cwd, _ := os.Getwd()
	ctx := &hcl.EvalContext{Functions: functions(), Variables: map[string]cty.Value{
		"var":  objectOf(vars),
		"path": cty.ObjectVal(map[string]cty.Value{"experiment": cty.StringVal(expDir), "cwd": cty.StringVal(cwd)}),
	}}
	locals := map[string]cty.Value{}
	pending := map[string]*hcl.Attribute{}
	for n, a := range exprs {
		pending[n] = a
	}
	for len(pending) > 0 {
		progress := false
		for _, name := range sortedKeys(pending) {
			attr := pending[name]
			ready := true
			for _, tr := range attr.Expr.Variables() {
				if tr.RootName() != "local" || len(tr) < 2 {
					continue
				}
				if ref, ok := tr[1].(hcl.TraverseAttr); ok {
					if _, waiting := pending[ref.Name]; waiting && ref.Name != name {
						ready = false
					}
					if ref.Name == name {
						ready = false
					}
				}
			}
			if !ready {
				continue
			}
			ctx.Variables["local"] = objectOf(locals)
			val, d := attr.Expr.Value(ctx)
			diags = append(diags, d...)
			locals[name] = val
			delete(pending, name)
			progress = true
		}
		if !progress {
			for _, name := range sortedKeys(pending) {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cycle in locals",
					Detail:  fmt.Sprintf("Local %q depends on itself through: %s.", name, strings.Join(sortedKeys(pending), ", ")),
					Subject: pending[name].Expr.Range().Ptr()})
			}
			break
		}
	}
	ctx.Variables["local"] = objectOf(locals)
	return ctx, diags
}

func objectOf(m map[string]cty.Value) cty.Value {
	if len(m) == 0 {
		return cty.EmptyObjectVal
	}
	return cty.ObjectVal(m)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
