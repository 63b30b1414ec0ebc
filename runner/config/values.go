package config

import (
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/gocty"
)

// ctyToGo converts an evaluated HCL value into a Go value of type t (bool, ints, float64,
// string, slices and maps of those).
func ctyToGo(val cty.Value, t reflect.Type) (any, error) {
	if !val.IsWhollyKnown() {
		return nil, fmt.Errorf("the value is not known")
	}
	ty, err := gocty.ImpliedType(reflect.New(t).Elem().Interface())
	if err != nil {
		return nil, err
	}
	cv, err := convertValue(val, ty)
	if err != nil {
		return nil, fmt.Errorf("expected %s, got %s", typeWord(t), val.Type().FriendlyName())
	}
	if cv.IsNull() {
		return nil, fmt.Errorf("expected %s, got null", typeWord(t))
	}
	if err := checkNumbers(cv, t); err != nil {
		return nil, err
	}
	p := reflect.New(t)
	if err := gocty.FromCtyValue(cv, p.Interface()); err != nil {
		return nil, fmt.Errorf("expected %s: %s", typeWord(t), err)
	}
	return p.Elem().Interface(), nil
}

// convertValue is convert.Convert(val, ty), element by element for tuples into lists and
// objects into maps: cty unifies the element types of a whole tuple in quadratic time (a
// 20,000-element list took seconds, 100,000 minutes), while each element's conversion
// alone is the same conversion in linear time in all.
func convertValue(val cty.Value, ty cty.Type) (cty.Value, error) {
	vt := val.Type()
	switch {
	case val.IsNull() || !val.IsKnown():
	case ty.IsListType() && (vt.IsTupleType() || vt.IsListType()):
		if val.LengthInt() == 0 {
			return cty.ListValEmpty(ty.ElementType()), nil
		}
		elems := make([]cty.Value, 0, val.LengthInt())
		for it := val.ElementIterator(); it.Next(); {
			_, e := it.Element()
			ce, err := convertValue(e, ty.ElementType())
			if err != nil {
				return cty.NilVal, err
			}
			elems = append(elems, ce)
		}
		return cty.ListVal(elems), nil
	case ty.IsMapType() && (vt.IsObjectType() || vt.IsMapType()):
		if val.LengthInt() == 0 {
			return cty.MapValEmpty(ty.ElementType()), nil
		}
		elems := make(map[string]cty.Value, val.LengthInt())
		for it := val.ElementIterator(); it.Next(); {
			k, e := it.Element()
			ce, err := convertValue(e, ty.ElementType())
			if err != nil {
				return cty.NilVal, err
			}
			elems[k.AsString()] = ce
		}
		return cty.MapVal(elems), nil
	}
	return convert.Convert(val, ty)
}

// checkNumbers checks every number in v (converted to t's cty type) before gocty sees it:
// finite, and for whole-number types whole and within the type's range. The error names
// the element of a list or map ("element 0: expected a whole number, got 80.5").
func checkNumbers(v cty.Value, t reflect.Type) error {
	if v.IsNull() || !v.IsKnown() {
		return nil
	}
	ty := v.Type()
	switch {
	case ty == cty.Number:
		f := v.AsBigFloat()
		if f.IsInf() {
			return fmt.Errorf("expected a finite number, got %s", f.Text('g', -1))
		}
		switch t.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			if !f.IsInt() {
				return fmt.Errorf("expected a whole number, got %s", f.Text('g', 10))
			}
			i, acc := f.Int64()
			if acc != big.Exact || reflect.New(t).Elem().OverflowInt(i) {
				return fmt.Errorf("%s is out of range for a whole number here", f.Text('g', 10))
			}
		case reflect.Float32, reflect.Float64:
			if x, _ := f.Float64(); math.IsInf(x, 0) || t.Kind() == reflect.Float32 && math.Abs(x) > math.MaxFloat32 {
				return fmt.Errorf("%s is out of range for a number", f.Text('g', 10))
			}
		}
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType():
		if t.Kind() != reflect.Slice {
			return nil
		}
		i := 0
		for it := v.ElementIterator(); it.Next(); i++ {
			_, e := it.Element()
			if err := checkNumbers(e, t.Elem()); err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
	case ty.IsMapType() || ty.IsObjectType():
		if t.Kind() != reflect.Map {
			return nil
		}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			if err := checkNumbers(e, t.Elem()); err != nil {
				return fmt.Errorf("key %q: %w", k.AsString(), err)
			}
		}
	}
	return nil
}

// typeWord names a Go option type the way experiment files spell it.
func typeWord(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "a bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list of " + strings.TrimPrefix(strings.TrimPrefix(typeWord(t.Elem()), "a "), "an ") + "s"
	case reflect.Map:
		return "a map of " + strings.TrimPrefix(strings.TrimPrefix(typeWord(t.Elem()), "a "), "an ") + "s"
	}
	return t.String()
}

// parseLiteral parses an override's text (from --set, -var or the environment) as a value
// of type t. Strings may be written bare (cpu) or quoted ("cpu"); everything else is an HCL
// expression without references (0.01, true, [80, 100], {a = 1}).
func parseLiteral(text string, t reflect.Type) (any, error) {
	if t.Kind() == reflect.String && !strings.HasPrefix(strings.TrimSpace(text), `"`) {
		return text, nil
	}
	v, err := parseExpr(text)
	if err != nil {
		return nil, fmt.Errorf("expected %s, got %q", typeWord(t), text)
	}
	return ctyToGo(v, t)
}

// sentence ends an error message with a full stop unless it already has punctuation.
func sentence(err error) string {
	s := err.Error()
	if strings.HasSuffix(s, ".") || strings.HasSuffix(s, "?") || strings.HasSuffix(s, ")") && strings.Contains(s, "(valid") {
		return s
	}
	return s + "."
}

// parseExpr evaluates text as an HCL expression without variables or functions.
func parseExpr(text string) (cty.Value, error) {
	if d := CheckNesting([]byte(text), "value"); d != nil {
		return cty.NilVal, fmt.Errorf("cannot parse %q: %s", text, d.Detail)
	}
	expr, diags := hclsyntax.ParseExpression([]byte(text), "value", hcl.InitialPos)
	if diags.HasErrors() {
		return cty.NilVal, fmt.Errorf("cannot parse %q: %s", text, diags[0].Detail)
	}
	v, diags := expr.Value(nil)
	if diags.HasErrors() {
		return cty.NilVal, fmt.Errorf("cannot evaluate %q: %s", text, diags[0].Detail)
	}
	return v, nil
}
