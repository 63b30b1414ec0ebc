package config

import (
	"fmt"
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
	cv, err := convert.Convert(val, ty)
	if err != nil {
		return nil, fmt.Errorf("expected %s, got %s", typeWord(t), val.Type().FriendlyName())
	}
	if cv.IsNull() {
		return nil, fmt.Errorf("expected %s, got null", typeWord(t))
	}
	p := reflect.New(t)
	if err := gocty.FromCtyValue(cv, p.Interface()); err != nil {
		msg := err.Error()
		if strings.Contains(msg, "whole number") || strings.Contains(msg, "must be a whole number") {
			return nil, fmt.Errorf("expected a whole number, got %s", cv.AsBigFloat().Text('g', -1))
		}
		return nil, fmt.Errorf("expected %s: %s", typeWord(t), msg)
	}
	return p.Elem().Interface(), nil
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
