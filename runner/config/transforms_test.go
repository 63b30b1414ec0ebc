package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssdrunner/ssdrunner/registry"
)

func TestTransformChain(t *testing.T) {
	src := strings.Replace(minimal, "data {\n", `data {
  transform "expand" {
    max_ratio = 2
  }
  transform "hflip" {}
  transform "expand" {}
`, 1)
	res := mustLoad(t, memFS{"x.hcl": src}, "x.hcl", Options{})
	want := []registry.Ref{
		{Type: "expand", Options: map[string]any{"max_ratio": 2.0}},
		{Type: "hflip", Options: map[string]any{}},
		{Type: "expand", Options: map[string]any{}},
	}
	if diff := cmp.Diff(want, res.Experiment.Data.Transforms); diff != "" {
		t.Errorf("chain differs (-want +got):\n%s", diff)
	}
	if o, _ := res.OriginOf("data.transform[1]"); o.Range.Start.Line != 10 {
		t.Errorf("origin of the second transform = %v", o)
	}

	// A child's chain replaces the base's whole.
	files := memFS{"base.hcl": src, "child.hcl": "inherits = \"base.hcl\"\ndata {\n  transform \"hflip\" {}\n}\n"}
	res = mustLoad(t, files, "child.hcl", Options{})
	if got := res.Experiment.Data.Transforms; len(got) != 1 || got[0].Type != "hflip" {
		t.Errorf("inherited chain = %#v", got)
	}
}

func TestTransformErrors(t *testing.T) {
	cases := []struct {
		src, want string
	}{
		{strings.Replace(minimal, "data {\n", "data {\n  augmentation = \"ssd\"\n  transform \"hflip\" {}\n", 1),
			"bad.hcl:7:18: error: Conflicting augmentation"},
		{strings.Replace(minimal, "data {\n", "data {\n  augmentation = \"sdd\"\n", 1),
			`bad.hcl:7:18: error: Unknown transform "sdd"`},
		{strings.Replace(minimal, "data {\n", "data {\n  transform \"flip\" {}\n", 1),
			`bad.hcl:7:13: error: Unknown transform "flip"`},
		{strings.Replace(minimal, "data {\n", "data {\n  transform \"expand\" {\n    max = 2\n  }\n", 1),
			`bad.hcl:8:5: error: Unsupported argument`},
	}
	for _, c := range cases {
		res, diags := load(t, memFS{"bad.hcl": c.src}, "bad.hcl", Options{})
		var b strings.Builder
		WriteDiagnostics(&b, diags, res.Files)
		if !strings.Contains(b.String(), c.want) {
			t.Errorf("want %q in:\n%s", c.want, b.String())
		}
	}
	_, diags := load(t, memFS{"x.hcl": minimal}, "x.hcl", Options{Set: []string{"data.transform.hflip=1"}})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "ordered list of blocks") {
		t.Errorf("--set into a chain: %v", diags)
	}
}

// TestSetChainElement: --set (and a sweep) changes an option of one element of a chain as
// data.transform[N].<option>, leaving the other elements and the order as they were.
func TestSetChainElement(t *testing.T) {
	src := strings.Replace(minimal, "data {\n", `data {
  transform "expand" {
    max_ratio = 2
  }
  transform "hflip" {}
  transform "expand" {}
`, 1)
	res := mustLoad(t, memFS{"x.hcl": src}, "x.hcl", Options{Set: []string{"data.transform[2].max_ratio=3", "data.transform[0].max_ratio=1.5"}})
	want := []registry.Ref{
		{Type: "expand", Options: map[string]any{"max_ratio": 1.5}},
		{Type: "hflip", Options: map[string]any{}},
		{Type: "expand", Options: map[string]any{"max_ratio": 3.0}},
	}
	if diff := cmp.Diff(want, res.Experiment.Data.Transforms); diff != "" {
		t.Errorf("chain differs (-want +got):\n%s", diff)
	}
	if o, _ := res.OriginOf("data.transform[2].max_ratio"); o.Layer != "set" {
		t.Errorf("origin %v", o)
	}
	for set, want := range map[string]string{
		"data.transform[3].max_ratio=2": "data.transform[3]: no such element (elements 0 to 2: expand, hflip, expand)",
		"data.transform[1].max_ratio=2": `data.transform[1] (transform "hflip"): unknown option "max_ratio"`,
		"data.transform[0].type=hflip":  "adding, removing or replacing elements is done in the experiment file",
		"data.transform[0].max_ratio=x": "expected a number",
		"data.batch_size[0]=2":          `data.batch_size is not a list of blocks: "batch_size[0]" takes no [index]`,
	} {
		_, diags := load(t, memFS{"x.hcl": src}, "x.hcl", Options{Set: []string{set}})
		if !diags.HasErrors() || !strings.Contains(diags.Error(), want) {
			t.Errorf("--set %s: want %q in %v", set, want, diags)
		}
	}
}
