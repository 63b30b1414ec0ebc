package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/knadh/koanf/v2"

	"github.com/ssdrunner/ssdrunner/registry"
)

type override struct {
	path, raw string
	origin    Origin
}

// overrides applies the environment's RUNNER_<PATH> variables, then the --set flags, each
// as its own koanf layer so that a later one sees what an earlier one set (e.g. a
// component's type before its options).
func (l *loader) overrides(k *koanf.Koanf, root *structSchema) hcl.Diagnostics {
	var diags hcl.Diagnostics
	var envs []override
	for _, kv := range l.opts.Env {
		key, raw, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(key, envPrefix) || strings.HasPrefix(key, envVarPrefix) || envReserved[key] {
			continue
		}
		path := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(key, envPrefix), "__", "."))
		envs = append(envs, override{path: path, raw: raw, origin: Origin{Layer: "env", Source: kv}})
	}
	// Environment order is arbitrary: component types first, then by path.
	sort.Slice(envs, func(i, j int) bool {
		ti, tj := strings.HasSuffix(envs[i].path, ".type"), strings.HasSuffix(envs[j].path, ".type")
		if ti != tj {
			return ti
		}
		return envs[i].path < envs[j].path
	})
	all := envs
	for _, kv := range l.opts.Set {
		path, raw, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(path) == "" {
			diags = append(diags, errorDiag("Invalid --set", fmt.Sprintf("--set %s: expected PATH=VALUE, e.g. --set training.epochs=10.", kv)))
			continue
		}
		all = append(all, override{path: strings.TrimSpace(path), raw: raw, origin: Origin{Layer: "set", Source: kv}})
	}
	for _, o := range all {
		v, err := l.resolveOverride(k, root, o.path, o.raw)
		if err != nil {
			what := "--set"
			if o.origin.Layer == "env" {
				what = "environment override"
			}
			diags = append(diags, errorDiag("Invalid "+what, fmt.Sprintf("%s: %s", o.origin, sentence(err))))
			continue
		}
		ly := newLayer()
		ly.values = overrideValues(k, o.path, v)
		ly.origins[o.path] = o.origin
		if err := l.merge(k, ly); err != nil {
			diags = append(diags, errorDiag("Internal error", err.Error()))
		}
	}
	return diags
}

// trialOverrides applies a sweep trial's keys (Options.Trial), each as its own layer whose
// origin is the place in the sweep block the value came from.
func (l *loader) trialOverrides(k *koanf.Koanf, root *structSchema) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, o := range l.opts.Trial {
		v, err := l.resolveOverride(k, root, o.Path, o.Value)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid sweep value",
				Detail: fmt.Sprintf("%s: %s", o, sentence(err)), Subject: o.Range.Ptr()})
			continue
		}
		ly := newLayer()
		ly.values = overrideValues(k, o.Path, v)
		ly.origins[o.Path] = fileOrigin(o.Range)
		if err := l.merge(k, ly); err != nil {
			diags = append(diags, errorDiag("Internal error", err.Error()))
		}
	}
	return diags
}

// resolveOverride finds the key a dotted path names and parses raw as its type.
func (l *loader) resolveOverride(k *koanf.Koanf, s *structSchema, path, raw string) (any, error) {
	_, parse, err := l.resolveKey(k, s, path)
	if err != nil {
		return nil, err
	}
	return parse(raw)
}

// resolveKey finds the key a dotted path names in the merged experiment k and returns its
// Go type with the function that parses an override's text for it.
func (l *loader) resolveKey(k *koanf.Koanf, s *structSchema, path string) (reflect.Type, func(string) (any, error), error) {
	segs := strings.Split(path, ".")
	prefix := ""
	for i := 0; i < len(segs); i++ {
		name, idx, indexed := splitIndex(segs[i])
		f, ok := s.byName[name]
		if !ok {
			return nil, nil, unknownKeyError(join(prefix, name), name, s.names())
		}
		p := join(prefix, name)
		rest := segs[i+1:]
		if indexed && f.kind != componentListNode {
			return nil, nil, fmt.Errorf("%s is not a list of blocks: %q takes no [index]", p, segs[i])
		}
		switch f.kind {
		case attrNode:
			if len(rest) > 0 {
				return nil, nil, fmt.Errorf("%s is a value, it has no key %q", p, rest[0])
			}
			return f.typ, literalParser(f.typ), nil
		case blockNode:
			if len(rest) == 0 {
				return nil, nil, fmt.Errorf("%s is a block: set one of its keys (%s)", p, strings.Join(f.sub.names(), ", "))
			}
			s, prefix = f.sub, p
		case labeledNode:
			if len(rest) < 2 {
				return nil, nil, fmt.Errorf("%s blocks are set as %s.<%s>.<key> (keys: %s)", p, p, f.label, strings.Join(f.sub.names(), ", "))
			}
			if !validLabel(rest[0]) {
				return nil, nil, fmt.Errorf("%q is not a valid %s", rest[0], f.label)
			}
			s, prefix = f.sub, join(p, rest[0])
			i++
		case componentNode:
			if len(rest) == 0 {
				return nil, nil, fmt.Errorf("%s is a component: set %s.type or one of its options", p, p)
			}
			if rest[0] == "type" && len(rest) == 1 {
				cat, err := catalog(f.regKind)
				if err != nil {
					return nil, nil, err
				}
				return reflect.TypeOf(""), func(raw string) (any, error) {
					v, err := parseLiteral(raw, reflect.TypeOf("")) // bare or quoted
					if err != nil {
						return nil, err
					}
					name := v.(string)
					if _, err := cat.Lookup(name); err != nil {
						return nil, err
					}
					return name, nil
				}, nil
			}
			typ := k.String(p + ".type")
			if typ == "" {
				return nil, nil, fmt.Errorf("%s has no component yet: set %s.type first", p, p)
			}
			return componentOption(f.regKind, typ, p, rest)
		case componentListNode:
			list, _ := k.Get(p).([]any)
			var names []string
			for _, e := range list {
				node, _ := e.(map[string]any)
				t, _ := node["type"].(string)
				names = append(names, t)
			}
			chain := fmt.Sprintf("elements 0 to %d: %s", len(list)-1, strings.Join(names, ", "))
			if len(list) == 0 {
				chain = "it is empty here"
			}
			if !indexed || len(rest) == 0 || rest[0] == "type" {
				return nil, nil, fmt.Errorf("%s is an ordered list of blocks: --set changes an option of one element, as %s[N].<option> (%s); adding, removing or replacing elements is done in the experiment file (or a file that inherits it)", p, p, chain)
			}
			if idx >= len(list) {
				return nil, nil, fmt.Errorf("%s[%d]: no such element (%s)", p, idx, chain)
			}
			return componentOption(f.regKind, names[idx], fmt.Sprintf("%s[%d]", p, idx), rest)
		case componentSetNode:
			if len(rest) < 2 {
				return nil, nil, fmt.Errorf("%s components are set as %s.<name>.<option>", p, p)
			}
			return componentOption(f.regKind, rest[0], join(p, rest[0]), rest[1:])
		}
	}
	return nil, nil, fmt.Errorf("empty path")
}

func literalParser(t reflect.Type) func(string) (any, error) {
	return func(raw string) (any, error) { return parseLiteral(raw, t) }
}

func componentOption(kind, typ, path string, rest []string) (reflect.Type, func(string) (any, error), error) {
	cat, err := catalog(kind)
	if err != nil {
		return nil, nil, err
	}
	spec, err := cat.Lookup(typ)
	if err != nil {
		return nil, nil, err
	}
	fields, err := registry.Describe(spec.NewConfig())
	if err != nil {
		return nil, nil, err
	}
	f, err := registry.FieldByPath(fields, rest)
	if err != nil {
		return nil, nil, fmt.Errorf("%s (%s %q): %w", path, kind, typ, err)
	}
	if f.IsBlock() {
		return nil, nil, fmt.Errorf("%s.%s is a block: set one of its keys", path, strings.Join(rest, "."))
	}
	return f.GoType, literalParser(f.GoType), nil
}

func unknownKeyError(path, name string, valid []string) error {
	msg := fmt.Sprintf("unknown key %q", path)
	if s := registry.Suggest(name, valid); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return fmt.Errorf("%s (valid keys here: %s)", msg, strings.Join(valid, ", "))
}

// splitIndex splits "transform[2]" into ("transform", 2, true); a segment without a
// well-formed [index] comes back whole.
func splitIndex(seg string) (string, int, bool) {
	open := strings.IndexByte(seg, '[')
	if open <= 0 || !strings.HasSuffix(seg, "]") {
		return seg, 0, false
	}
	n, err := strconv.Atoi(seg[open+1 : len(seg)-1])
	if err != nil || n < 0 {
		return seg, 0, false
	}
	return seg[:open], n, true
}

// overrideValues is the layer that sets path to v. A path into an element of an ordered
// list of blocks (data.transform[1].max_ratio) gives the whole list, copied from k with the
// element's option changed, since a layer replaces a list as a whole.
func overrideValues(k *koanf.Koanf, path string, v any) map[string]any {
	out := map[string]any{}
	segs := strings.Split(path, ".")
	for i, seg := range segs {
		name, idx, indexed := splitIndex(seg)
		if !indexed {
			continue
		}
		listPath := append(append([]string{}, segs[:i]...), name)
		list, _ := deepCopy(k.Get(strings.Join(listPath, "."))).([]any)
		if elem, ok := list[idx].(map[string]any); ok {
			setPath(elem, segs[i+1:], v)
		}
		setPath(out, listPath, list)
		return out
	}
	setPath(out, segs, v)
	return out
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}

func setPath(m map[string]any, segs []string, v any) {
	for _, s := range segs[:len(segs)-1] {
		sub, ok := m[s].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[s] = sub
		}
		m = sub
	}
	m[segs[len(segs)-1]] = v
}
