package registry

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/go-viper/mapstructure/v2"
)

// Field describes one option of a component config (or of a nested block).
type Field struct {
	Name     string       `json:"name"`
	Type     string       `json:"type"` // "number", "string", "bool", "list(number)", "block", "list(block)" …
	Required bool         `json:"required,omitempty"`
	Default  any          `json:"default,omitempty"`
	Doc      string       `json:"doc,omitempty"`
	Fields   []Field      `json:"fields,omitempty"` // for blocks
	GoType   reflect.Type `json:"-"`
}

// IsBlock reports whether the field is a nested block (or a list of them).
func (f Field) IsBlock() bool { return f.Fields != nil }

// Validator is implemented by configs that check their values after decoding.
type Validator interface{ Validate() error }

// Describe lists the options of a config struct pointer (as returned by Spec.Config), with
// their defaults. It fails on field types that experiment files cannot express.
func Describe(cfg any) ([]Field, error) {
	v := reflect.ValueOf(cfg)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("config must be a pointer to a struct, got %T", cfg)
	}
	return describeStruct(v.Elem())
}

func describeStruct(v reflect.Value) ([]Field, error) {
	t := v.Type()
	var out []Field
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("hcl")
		if !ok || !sf.IsExported() {
			continue
		}
		name, kind, _ := strings.Cut(tag, ",")
		if name == "" || name == "type" {
			return nil, fmt.Errorf("field %s: hcl name %q is not allowed", sf.Name, name)
		}
		f := Field{Name: name, Doc: sf.Tag.Get("doc"), GoType: sf.Type, Required: kind == ""}
		fv := v.Field(i)
		if kind == "block" {
			et := sf.Type
			f.Type = "block"
			if et.Kind() == reflect.Slice {
				et = et.Elem()
				f.Type = "list(block)"
			}
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() != reflect.Struct {
				return nil, fmt.Errorf("field %s: a block must be a struct, a pointer to one or a slice of them", sf.Name)
			}
			sub, err := describeStruct(reflect.New(et).Elem())
			if err != nil {
				return nil, fmt.Errorf("block %s: %w", name, err)
			}
			if sub == nil {
				sub = []Field{}
			}
			f.Fields = sub
			f.Required = false
			out = append(out, f)
			continue
		}
		tn, err := typeName(sf.Type)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", sf.Name, err)
		}
		f.Type = tn
		if !fv.IsZero() {
			f.Default = fv.Interface()
		}
		out = append(out, f)
	}
	return out, nil
}

func typeName(t reflect.Type) (string, error) {
	switch t.Kind() {
	case reflect.Bool:
		return "bool", nil
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "number", nil
	case reflect.Float64, reflect.Float32:
		return "number", nil
	case reflect.String:
		return "string", nil
	case reflect.Slice:
		et, err := typeName(t.Elem())
		if err != nil || strings.HasPrefix(et, "list") {
			return "", fmt.Errorf("unsupported list element type %s", t.Elem())
		}
		return "list(" + et + ")", nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return "", fmt.Errorf("unsupported map key type %s", t.Key())
		}
		et, err := typeName(t.Elem())
		if err != nil {
			return "", err
		}
		return "map(" + et + ")", nil
	}
	return "", fmt.Errorf("unsupported option type %s", t)
}

// FieldByPath finds the field that a dotted option path (relative to the config) names.
func FieldByPath(fields []Field, path []string) (Field, error) {
	for i, name := range path {
		f, ok := findField(fields, name)
		if !ok {
			return Field{}, unknownKey(strings.Join(path[:i+1], "."), name, fields)
		}
		if i == len(path)-1 {
			return f, nil
		}
		if !f.IsBlock() || f.Type != "block" {
			return Field{}, fmt.Errorf("%q is not a block; it has no key %q", strings.Join(path[:i+1], "."), path[i+1])
		}
		fields = f.Fields
	}
	return Field{}, errors.New("empty option path")
}

func findField(fields []Field, name string) (Field, bool) {
	for _, f := range fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// FieldNames lists the names of fields, sorted.
func FieldNames(fields []Field) []string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Name
	}
	sort.Strings(names)
	return names
}

func unknownKey(path, name string, fields []Field) error {
	names := FieldNames(fields)
	msg := fmt.Sprintf("unknown option %q", path)
	if s := Suggest(name, names); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	if len(names) == 0 {
		return errors.New(msg + " (this component takes no options)")
	}
	return fmt.Errorf("%s (valid: %s)", msg, strings.Join(names, ", "))
}

// DecodeConfig returns spec's default config with opts applied and validated. Unknown
// keys, missing required options and values of the wrong type are errors naming the key.
func DecodeConfig(spec Spec, opts map[string]any) (any, error) {
	cfg := spec.NewConfig()
	fields, err := Describe(cfg)
	if err != nil {
		return nil, err
	}
	if err := checkKeys(fields, opts, ""); err != nil {
		return nil, err
	}
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		TagName:     "hcl",
		Result:      cfg,
		ErrorUnused: true,
		// Values arrive already converted to the option's Go type (by the experiment
		// decoder); int→float widening is the only conversion allowed here.
		WeaklyTypedInput: false,
	})
	if err != nil {
		return nil, err
	}
	if err := dec.Decode(opts); err != nil {
		return nil, err
	}
	if v, ok := cfg.(Validator); ok {
		if err := v.Validate(); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

func checkKeys(fields []Field, opts map[string]any, prefix string) error {
	for k, v := range opts {
		f, ok := findField(fields, k)
		if !ok {
			return unknownKey(prefix+k, k, fields)
		}
		if !f.IsBlock() {
			continue
		}
		switch b := v.(type) {
		case map[string]any:
			if err := checkKeys(f.Fields, b, prefix+k+"."); err != nil {
				return err
			}
		case []any:
			for i, e := range b {
				m, ok := e.(map[string]any)
				if !ok {
					return fmt.Errorf("%s%s[%d]: expected a block, got %T", prefix, k, i, e)
				}
				if err := checkKeys(f.Fields, m, fmt.Sprintf("%s%s[%d].", prefix, k, i)); err != nil {
					return err
				}
			}
		case []map[string]any:
			for i, m := range b {
				if err := checkKeys(f.Fields, m, fmt.Sprintf("%s%s[%d].", prefix, k, i)); err != nil {
					return err
				}
			}
		}
	}
	for _, f := range fields {
		if _, ok := opts[f.Name]; f.Required && !ok {
			return fmt.Errorf("missing required option %q", prefix+f.Name)
		}
	}
	return nil
}

// As returns cfg as *T, the typed config a factory was registered with. A mismatch is a
// programming error in the registering package.
func As[T any](cfg any) *T {
	c, ok := cfg.(*T)
	if !ok {
		panic(fmt.Sprintf("registry: config is %T, want *%T", cfg, *new(T)))
	}
	return c
}
