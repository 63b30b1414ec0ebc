package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"

	"github.com/ssdrunner/ssdrunner/registry"
)

// nodeKind says how a field of a config struct appears in a file.
type nodeKind int

const (
	attrNode          nodeKind = iota // name = value
	blockNode                         // name { … } (a nested struct)
	componentNode                     // name "registered-name" { options } (a registry.Ref)
	componentSetNode                  // several `name "registered-name" { … }`, one per name ([]registry.Ref)
	labeledNode                       // several `name "label" { … }` (map[string]Struct)
	componentListNode                 // an ordered chain of `name "registered-name" { … }` ([]registry.Ref, tag ordered:"true")
)

type field struct {
	name    string
	kind    nodeKind
	index   int
	typ     reflect.Type // attrNode: value type (pointer element for pointers); block kinds: struct type
	ptr     bool         // attrNode stored through a pointer
	regKind string       // component kinds: the registry kind
	label   string       // labeledNode: the label's name
	doc     string
	sub     *structSchema // blockNode, labeledNode
}

type structSchema struct {
	typ    reflect.Type
	fields []*field
	byName map[string]*field
	body   *hcl.BodySchema
}

var (
	refType     = reflect.TypeOf(registry.Ref{})
	schemaMu    sync.Mutex
	schemaCache = map[reflect.Type]*structSchema{}
)

// schemaOf derives (once) the decoding schema of a config struct type from its tags.
func schemaOf(t reflect.Type) *structSchema {
	schemaMu.Lock()
	defer schemaMu.Unlock()
	return schemaOfLocked(t)
}

func schemaOfLocked(t reflect.Type) *structSchema {
	if s, ok := schemaCache[t]; ok {
		return s
	}
	s := &structSchema{typ: t, byName: map[string]*field{}, body: &hcl.BodySchema{}}
	schemaCache[t] = s
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("hcl")
		if !ok {
			continue
		}
		name, opt, _ := strings.Cut(tag, ",")
		f := &field{name: name, index: i, doc: sf.Tag.Get("doc"), regKind: sf.Tag.Get("kind")}
		switch {
		case opt != "block":
			f.kind, f.typ = attrNode, sf.Type
			if sf.Type.Kind() == reflect.Pointer {
				f.ptr, f.typ = true, sf.Type.Elem()
			}
			s.body.Attributes = append(s.body.Attributes, hcl.AttributeSchema{Name: name})
		case sf.Type == refType:
			f.kind = componentNode
			s.body.Blocks = append(s.body.Blocks, hcl.BlockHeaderSchema{Type: name, LabelNames: []string{"type"}})
		case sf.Type.Kind() == reflect.Slice && sf.Type.Elem() == refType && sf.Tag.Get("ordered") == "true":
			f.kind = componentListNode
			s.body.Blocks = append(s.body.Blocks, hcl.BlockHeaderSchema{Type: name, LabelNames: []string{"type"}})
		case sf.Type.Kind() == reflect.Slice && sf.Type.Elem() == refType:
			f.kind = componentSetNode
			s.body.Blocks = append(s.body.Blocks, hcl.BlockHeaderSchema{Type: name, LabelNames: []string{"type"}})
		case sf.Type.Kind() == reflect.Map:
			f.kind, f.typ, f.label = labeledNode, sf.Type.Elem(), sf.Tag.Get("label")
			f.sub = schemaOfLocked(f.typ)
			s.body.Blocks = append(s.body.Blocks, hcl.BlockHeaderSchema{Type: name, LabelNames: []string{f.label}})
		case sf.Type.Kind() == reflect.Struct:
			f.kind, f.typ = blockNode, sf.Type
			f.sub = schemaOfLocked(f.typ)
			s.body.Blocks = append(s.body.Blocks, hcl.BlockHeaderSchema{Type: name})
		default:
			panic(fmt.Sprintf("config: field %s.%s: unsupported block type %s", t.Name(), sf.Name, sf.Type))
		}
		s.fields = append(s.fields, f)
		s.byName[name] = f
	}
	return s
}

// names lists the field names of a schema, sorted.
func (s *structSchema) names() []string {
	out := make([]string, 0, len(s.fields))
	for _, f := range s.fields {
		out = append(out, f.name)
	}
	sort.Strings(out)
	return out
}

// componentSchema builds the HCL schema of a component's option body from its config.
func componentSchema(fields []registry.Field) *hcl.BodySchema {
	bs := &hcl.BodySchema{}
	for _, f := range fields {
		if f.IsBlock() {
			bs.Blocks = append(bs.Blocks, hcl.BlockHeaderSchema{Type: f.Name})
		} else {
			bs.Attributes = append(bs.Attributes, hcl.AttributeSchema{Name: f.Name})
		}
	}
	return bs
}

// catalog returns the registry of a component kind, or a diagnostic-ready error.
func catalog(kind string) (registry.Catalog, error) {
	c, ok := registry.Kind(kind)
	if !ok {
		return nil, fmt.Errorf("no %s components are available in this build", kind)
	}
	return c, nil
}
