package config

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/gocty"

	"github.com/ssdrunner/ssdrunner/registry"
)

// Resolved returns the experiment as a tree keyed by the names experiment files use:
// attributes with their values (zero values included, so that every setting is on
// record), blocks as nested maps, a component as a map with "type" and its options, an
// ordered chain of components as a list of such maps, and labelled blocks as a map by
// label. It is what a run folder records (experiment.json, experiment.hcl) and what a
// resume compares.
func (e *Experiment) Resolved() map[string]any {
	return resolvedStruct(reflect.ValueOf(*e), schemaOf(reflect.TypeOf(*e)))
}

func resolvedStruct(v reflect.Value, s *structSchema) map[string]any {
	out := map[string]any{}
	for _, f := range s.fields {
		fv := v.Field(f.index)
		switch f.kind {
		case attrNode:
			if f.ptr {
				if fv.IsNil() {
					continue
				}
				fv = fv.Elem()
			}
			out[f.name] = fv.Interface()
		case blockNode:
			out[f.name] = resolvedStruct(fv, f.sub)
		case componentNode:
			if ref := fv.Interface().(registry.Ref); ref.Type != "" {
				out[f.name] = refMap(ref)
			}
		case componentSetNode, componentListNode:
			refs := fv.Interface().([]registry.Ref)
			if len(refs) == 0 {
				continue
			}
			list := make([]any, len(refs))
			for i, r := range refs {
				list[i] = refMap(r)
			}
			out[f.name] = list
		case labeledNode:
			if fv.Len() == 0 {
				continue
			}
			m := map[string]any{}
			iter := fv.MapRange()
			for iter.Next() {
				m[iter.Key().String()] = resolvedStruct(iter.Value(), f.sub)
			}
			out[f.name] = m
		}
	}
	return out
}

func refMap(r registry.Ref) map[string]any {
	m := map[string]any{"type": r.Type}
	for k, v := range r.Options {
		m[k] = v
	}
	return m
}

// Flatten turns a Resolved tree into dotted keys ("training.epochs",
// "model.backbone.width_mult", "data.transform[0].type") with leaf values.
func Flatten(tree map[string]any) map[string]any {
	out := map[string]any{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, sub := range x {
				walk(join(prefix, k), sub)
			}
		case []any:
			if len(x) > 0 {
				if _, ok := x[0].(map[string]any); ok {
					for i, sub := range x {
						walk(fmt.Sprintf("%s[%d]", prefix, i), sub)
					}
					return
				}
			}
			out[prefix] = x
		default:
			out[prefix] = x
		}
	}
	walk("", tree)
	return out
}

// Diff lists the dotted keys whose values differ between two Resolved trees (present on
// one side only, or with other values), sorted; values are compared by their printed form
// so that numeric types that decode differently (1 and 1.0) compare equal, and an empty
// list equals JSON's null (what a nil list becomes in a checkpoint's record). A setting on
// one side only whose value there is its default (Defaults) is not a difference: a run
// recorded before the setting existed has no key for it, and a setting is added with the
// default that keeps what runs did before it (training.clip_grad_norm = 0 clips nothing),
// so such a run is resumed as it was trained.
func Diff(a, b map[string]any) []string {
	fa, fb := Flatten(a), Flatten(b)
	defaults := Defaults()
	fd := Flatten(AsJSON(defaults.Resolved()))
	isDefault := func(k string, v any) bool {
		d, ok := fd[k]
		return ok && printed(d) == printed(v)
	}
	var out []string
	for k, va := range fa {
		vb, ok := fb[k]
		switch {
		case !ok && isDefault(k, va):
		case !ok || printed(va) != printed(vb):
			out = append(out, k)
		}
	}
	for k, vb := range fb {
		if _, ok := fa[k]; !ok && !isDefault(k, vb) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// printed is the form in which Diff compares values: fmt's, with JSON's null (an empty
// list that went through a checkpoint's record as a nil slice) printed as the empty list.
func printed(v any) string {
	if v == nil {
		return "[]"
	}
	return fmt.Sprint(v)
}

// AsJSON returns a Resolved tree as it reads back from JSON (a checkpoint's record):
// numbers as float64, lists as []any, an empty list as nil.
func AsJSON(tree map[string]any) map[string]any {
	js, err := json.Marshal(tree)
	if err != nil {
		return tree
	}
	var out map[string]any
	if json.Unmarshal(js, &out) != nil {
		return tree
	}
	return out
}

// WriteHCL renders a Resolved tree as an experiment file (canonical HCL) that loads back
// into the same experiment. With a transform chain, data.augmentation (then unused, and
// refused beside transform blocks when set in a file) is left out.
func WriteHCL(tree map[string]any) ([]byte, error) {
	if d, ok := tree["data"].(map[string]any); ok {
		if chain, ok := d["transform"].([]any); ok && len(chain) > 0 {
			// The transform blocks are the whole chain: written beside them, the
			// augmentation preset (on record with its default) would be refused.
			d = maps.Clone(d)
			delete(d, "augmentation")
			tree = maps.Clone(tree)
			tree["data"] = d
		}
	}
	f := hclwrite.NewEmptyFile()
	if err := writeBody(f.Body(), tree, schemaOf(reflect.TypeOf(Experiment{}))); err != nil {
		return nil, err
	}
	return hclwrite.Format(f.Bytes()), nil
}

func writeBody(b *hclwrite.Body, tree map[string]any, s *structSchema) error {
	var attrs, blocks []string
	for k := range tree {
		if f, ok := s.byName[k]; ok && f.kind == attrNode {
			attrs = append(attrs, k)
		} else {
			blocks = append(blocks, k)
		}
	}
	sort.Strings(attrs)
	for _, k := range attrs {
		v, err := toCty(tree[k])
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		b.SetAttributeValue(k, v)
	}
	// blocks in schema order, as people write them
	sort.SliceStable(blocks, func(i, j int) bool { return fieldIndex(s, blocks[i]) < fieldIndex(s, blocks[j]) })
	for _, k := range blocks {
		f, ok := s.byName[k]
		if !ok {
			continue
		}
		switch f.kind {
		case blockNode:
			sub, _ := tree[k].(map[string]any)
			if err := writeBody(b.AppendNewBlock(k, nil).Body(), sub, f.sub); err != nil {
				return err
			}
		case componentNode:
			if err := writeComponent(b, k, tree[k]); err != nil {
				return err
			}
		case componentSetNode, componentListNode:
			list, _ := tree[k].([]any)
			for _, c := range list {
				if err := writeComponent(b, k, c); err != nil {
					return err
				}
			}
		case labeledNode:
			m, _ := tree[k].(map[string]any)
			labels := make([]string, 0, len(m))
			for l := range m {
				labels = append(labels, l)
			}
			sort.Strings(labels)
			for _, l := range labels {
				sub, _ := m[l].(map[string]any)
				if err := writeBody(b.AppendNewBlock(k, []string{l}).Body(), sub, f.sub); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func fieldIndex(s *structSchema, name string) int {
	if f, ok := s.byName[name]; ok {
		return f.index
	}
	return 1 << 30
}

// writeComponent writes `name "type" { options }`; nested option blocks (maps) become
// blocks, lists of maps repeated blocks.
func writeComponent(b *hclwrite.Body, name string, v any) error {
	m, _ := v.(map[string]any)
	typ, _ := m["type"].(string)
	body := b.AppendNewBlock(name, []string{typ}).Body()
	opts := map[string]any{}
	for k, o := range m {
		if k != "type" {
			opts[k] = o
		}
	}
	return writeOptions(body, opts)
}

func writeOptions(body *hclwrite.Body, opts map[string]any) error {
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch x := opts[k].(type) {
		case map[string]any:
			if err := writeOptions(body.AppendNewBlock(k, nil).Body(), x); err != nil {
				return err
			}
			continue
		case []any:
			if len(x) > 0 {
				if _, ok := x[0].(map[string]any); ok {
					for _, e := range x {
						em, _ := e.(map[string]any)
						if err := writeOptions(body.AppendNewBlock(k, nil).Body(), em); err != nil {
							return err
						}
					}
					continue
				}
			}
		}
		cv, err := toCty(opts[k])
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		body.SetAttributeValue(k, cv)
	}
	return nil
}

// toCty converts a decoded value (numbers, strings, bools, lists of them) to cty.
func toCty(v any) (cty.Value, error) {
	switch x := v.(type) {
	case nil:
		return cty.NullVal(cty.DynamicPseudoType), nil
	case string:
		return cty.StringVal(x), nil
	case bool:
		return cty.BoolVal(x), nil
	case []any:
		if len(x) == 0 {
			return cty.ListValEmpty(cty.DynamicPseudoType), nil
		}
		vals := make([]cty.Value, len(x))
		for i, e := range x {
			cv, err := toCty(e)
			if err != nil {
				return cty.NilVal, err
			}
			vals[i] = cv
		}
		return cty.TupleVal(vals), nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return cty.NumberIntVal(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return cty.NumberUIntVal(rv.Uint()), nil
	case reflect.Float32, reflect.Float64:
		return cty.NumberFloatVal(rv.Float()), nil
	case reflect.Slice:
		if rv.Len() == 0 {
			return cty.ListValEmpty(cty.DynamicPseudoType), nil
		}
		vals := make([]cty.Value, rv.Len())
		for i := range vals {
			cv, err := toCty(rv.Index(i).Interface())
			if err != nil {
				return cty.NilVal, err
			}
			vals[i] = cv
		}
		return cty.TupleVal(vals), nil
	case reflect.Map:
		m := map[string]cty.Value{}
		for _, k := range rv.MapKeys() {
			cv, err := toCty(rv.MapIndex(k).Interface())
			if err != nil {
				return cty.NilVal, err
			}
			m[fmt.Sprint(k.Interface())] = cv
		}
		return cty.ObjectVal(m), nil
	}
	ty, err := gocty.ImpliedType(v)
	if err != nil {
		return cty.NilVal, fmt.Errorf("cannot write a %T", v)
	}
	return gocty.ToCtyValue(v, ty)
}
