package config

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/ssdrunner/ssdrunner/registry"
)

// layer is what one source (a file, the environment, the --set flags) contributes: nested
// values keyed like the experiment (component nodes hold "type" plus their options), and
// where each value came from.
type layer struct {
	values  map[string]any
	origins map[string]Origin
}

func newLayer() *layer { return &layer{values: map[string]any{}, origins: map[string]Origin{}} }

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// decodeBody decodes one body against a struct schema into out (a map inside layer l at
// path). Every attribute is optional here: requirements are checked after merging.
func decodeBody(body hcl.Body, ctx *hcl.EvalContext, s *structSchema, path string, out map[string]any, l *layer, extra *hcl.BodySchema) hcl.Diagnostics {
	schema := s.body
	if extra != nil {
		schema = &hcl.BodySchema{
			Attributes: append(append([]hcl.AttributeSchema{}, s.body.Attributes...), extra.Attributes...),
			Blocks:     append(append([]hcl.BlockHeaderSchema{}, s.body.Blocks...), extra.Blocks...),
		}
	}
	content, diags := body.Content(schema)
	for name, attr := range content.Attributes {
		f, ok := s.byName[name]
		if !ok { // one of the extra (file-level) attributes, handled by the caller
			continue
		}
		p := join(path, name)
		v, d := evalAttr(attr, ctx, f.typ, p)
		diags = append(diags, d...)
		if v != nil {
			out[name] = v
			l.origins[p] = fileOrigin(attr.Expr.Range())
		}
	}
	seen := map[string]*hcl.Block{}
	var chains = map[string][]any{}
	for _, blk := range content.Blocks {
		f, ok := s.byName[blk.Type]
		if !ok {
			continue
		}
		p := join(path, blk.Type)
		key := blk.Type
		switch f.kind {
		case componentSetNode, labeledNode:
			key += "\x00" + blk.Labels[0]
		case componentListNode: // a chain may repeat a component
			key += fmt.Sprintf("\x00%d", len(chains[blk.Type]))
		}
		if prev, dup := seen[key]; dup {
			what := fmt.Sprintf("%q block", blk.Type)
			if len(blk.Labels) > 0 {
				what = fmt.Sprintf("%s %q block", blk.Type, blk.Labels[0])
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate " + blk.Type + " block",
				Detail:   fmt.Sprintf("Only one %s is allowed here; the first one is at %s.", what, rangeString(prev.DefRange)),
				Subject:  blk.DefRange.Ptr(),
			})
			continue
		}
		seen[key] = blk
		switch f.kind {
		case blockNode:
			sub := map[string]any{}
			l.origins[p] = fileOrigin(blk.DefRange)
			diags = append(diags, decodeBody(blk.Body, ctx, f.sub, p, sub, l, nil)...)
			out[blk.Type] = sub
		case labeledNode:
			name := blk.Labels[0]
			if !validLabel(name) {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError, Summary: "Invalid " + f.label,
					Detail:  fmt.Sprintf("%q is not a valid %s %s: use letters, digits, '_' and '-', starting with a letter.", name, blk.Type, f.label),
					Subject: blk.LabelRanges[0].Ptr(),
				})
				continue
			}
			set, _ := out[blk.Type].(map[string]any)
			if set == nil {
				set = map[string]any{}
				out[blk.Type] = set
			}
			sub := map[string]any{}
			lp := join(p, name)
			l.origins[lp] = fileOrigin(blk.DefRange)
			diags = append(diags, decodeBody(blk.Body, ctx, f.sub, lp, sub, l, nil)...)
			set[name] = sub
		case componentListNode:
			np := fmt.Sprintf("%s[%d]", p, len(chains[blk.Type]))
			node, d := decodeComponent(blk, ctx, f.regKind, np, l)
			diags = append(diags, d...)
			if node != nil {
				l.origins[np] = fileOrigin(blk.DefRange)
				chains[blk.Type] = append(chains[blk.Type], node)
			}
		case componentNode, componentSetNode:
			np := p
			if f.kind == componentSetNode {
				np = join(p, blk.Labels[0])
			}
			node, d := decodeComponent(blk, ctx, f.regKind, np, l)
			diags = append(diags, d...)
			if node == nil {
				continue
			}
			if f.kind == componentNode {
				l.origins[p] = fileOrigin(blk.DefRange)
				out[blk.Type] = node
			} else {
				set, _ := out[blk.Type].(map[string]any)
				if set == nil {
					set = map[string]any{}
					out[blk.Type] = set
				}
				delete(node, "type")
				l.origins[join(p, blk.Labels[0])] = fileOrigin(blk.DefRange)
				set[blk.Labels[0]] = node
			}
		}
	}
	for name, chain := range chains {
		out[name] = chain
	}
	return diags
}

// decodeComponent decodes `kind "name" { options }` found at path: the name must be
// registered and the options must be the component's.
func decodeComponent(blk *hcl.Block, ctx *hcl.EvalContext, kind, path string, l *layer) (map[string]any, hcl.Diagnostics) {
	name := blk.Labels[0]
	cat, err := catalog(kind)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unavailable component kind", Detail: err.Error() + ".", Subject: blk.DefRange.Ptr()}}
	}
	spec, err := cat.Lookup(name)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Unknown %s %q", kind, name),
			Detail:   unknownDetail(err),
			Subject:  blk.LabelRanges[0].Ptr(),
			Context:  blk.DefRange.Ptr(),
		}}
	}
	fields, err := registry.Describe(spec.NewConfig())
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Broken component", Detail: err.Error(), Subject: blk.DefRange.Ptr()}}
	}
	node := map[string]any{"type": name}
	l.origins[join(path, "type")] = fileOrigin(blk.LabelRanges[0])
	diags := decodeOptions(blk.Body, ctx, fields, path, node, l)
	return node, diags
}

// plural returns the plural of a component kind: "losses", "anchors", "backbones".
func plural(kind string) string {
	switch {
	case strings.HasSuffix(kind, "ss"):
		return kind + "es"
	case strings.HasSuffix(kind, "s"):
		return kind
	}
	return kind + "s"
}

func unknownDetail(err error) string {
	if ue, ok := err.(*registry.UnknownError); ok {
		var b strings.Builder
		if ue.Suggestion != "" {
			fmt.Fprintf(&b, "Did you mean %q? ", ue.Suggestion)
		}
		if len(ue.Known) == 0 {
			fmt.Fprintf(&b, "No %s is registered in this build.", ue.Kind)
		} else {
			fmt.Fprintf(&b, "Known %s: %s. `runner list %s` describes them.", plural(ue.Kind), strings.Join(ue.Known, ", "), ue.Kind)
		}
		return b.String()
	}
	return err.Error()
}

// decodeOptions decodes a component's option body against its config fields.
func decodeOptions(body hcl.Body, ctx *hcl.EvalContext, fields []registry.Field, path string, out map[string]any, l *layer) hcl.Diagnostics {
	content, diags := body.Content(componentSchema(fields))
	byName := map[string]registry.Field{}
	for _, f := range fields {
		byName[f.Name] = f
	}
	for name, attr := range content.Attributes {
		f := byName[name]
		p := join(path, name)
		v, d := evalAttr(attr, ctx, f.GoType, p)
		diags = append(diags, d...)
		if v != nil {
			out[name] = v
			l.origins[p] = fileOrigin(attr.Expr.Range())
		}
	}
	var lists = map[string][]any{}
	for _, blk := range content.Blocks {
		f := byName[blk.Type]
		p := join(path, blk.Type)
		sub := map[string]any{}
		if f.Type == "list(block)" {
			p = fmt.Sprintf("%s[%d]", p, len(lists[blk.Type]))
		} else if _, dup := out[blk.Type]; dup {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate " + blk.Type + " block",
				Detail: "Only one " + blk.Type + " block is allowed here.", Subject: blk.DefRange.Ptr()})
			continue
		}
		l.origins[p] = fileOrigin(blk.DefRange)
		diags = append(diags, decodeOptions(blk.Body, ctx, f.Fields, p, sub, l)...)
		if f.Type == "list(block)" {
			lists[blk.Type] = append(lists[blk.Type], sub)
		} else {
			out[blk.Type] = sub
		}
	}
	for name, list := range lists {
		out[name] = list
	}
	return diags
}

// evalAttr evaluates an attribute and converts it to t. A null value means "not set".
func evalAttr(attr *hcl.Attribute, ctx *hcl.EvalContext, t reflect.Type, path string) (any, hcl.Diagnostics) {
	val, diags := attr.Expr.Value(ctx)
	if diags.HasErrors() {
		return nil, diags
	}
	if val.IsNull() {
		return nil, nil
	}
	v, err := ctyToGo(val, t)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Invalid value for %q", attr.Name),
			Detail:   fmt.Sprintf("%s: %s.", path, err),
			Subject:  attr.Expr.Range().Ptr(),
		}}
	}
	return v, nil
}

func validLabel(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func rangeString(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}
