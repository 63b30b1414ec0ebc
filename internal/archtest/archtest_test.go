package archtest

import (
	"path/filepath"
	"strings"
	"testing"
)

const mod = "github.com/ssdrunner/ssdrunner"

// known are violations that the module has today and that are being removed elsewhere;
// each must still occur (the test fails once it is gone, so the entry is deleted with it).
var known = map[string]string{}

// TestModuleBoundaries checks every non-test file of this module against the rules.
func TestModuleBoundaries(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	got, pkgs, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	if got != mod {
		t.Fatalf("module path %q, want %q", got, mod)
	}
	// The walk must have seen the packages the rules are about, with their imports.
	seen := map[string]Package{}
	for _, p := range pkgs {
		seen[strings.TrimPrefix(p.Path, mod+"/")] = p
	}
	for _, want := range []string{"components/loss", "components/nn", "components/dataset/shapes", "reports", "registry", "runner/loader", "internal/torch", "internal/jpeg"} {
		if _, ok := seen[want]; !ok {
			t.Errorf("package %s not found under %s", want, root)
		}
	}
	if _, ok := seen["internal/torch"].Imports["C"]; !ok {
		t.Error(`internal/torch's import "C" was not seen: the cgo rule would check nothing`)
	}
	if _, ok := seen["components/head"].Imports[mod+"/components/nn"]; !ok {
		t.Error("components/head's import of components/nn was not seen")
	}
	stillThere := map[string]bool{}
	for _, v := range Check(mod, pkgs) {
		if _, ok := known[v]; ok {
			stillThere[v] = true
			t.Logf("known violation (%s): %s", known[v], v)
			continue
		}
		t.Error(v)
	}
	for v, why := range known {
		if !stillThere[v] {
			t.Errorf("the known violation (%s) no longer occurs: delete it from known: %s", why, v)
		}
	}
}

// TestCheckFindsViolations runs the checker on a synthetic module that breaks every rule
// once, and on one that breaks none.
func TestCheckFindsViolations(t *testing.T) {
	pkg := func(path string, imports ...string) Package {
		p := Package{Path: mod + "/" + path, Imports: map[string][]string{}}
		for _, imp := range imports {
			switch strings.Split(imp, "/")[0] {
			case "components", "runner", "reports", "registry", "internal", "experiments":
				imp = mod + "/" + imp
			}
			p.Imports[imp] = []string{path + "/x.go"}
		}
		return p
	}
	bad := []Package{
		pkg("components/loss", "runner/loader", "internal/torch", "fmt"),
		pkg("components/metric", "reports"),
		pkg("components/anchors", "experiments"),
		pkg("reports", "components/metric", "github.com/wcharczuk/go-chart/v2"),
		pkg("registry", "internal/torch"),
		pkg("components/head", "components/backbone", "components/nn"),
		pkg("components/backbone", "components/head"),
		pkg("components/transform", "components/dataset"),
		pkg("components/model", "components/dataset"),
		pkg("components/dataset/shapes", "C"),
		pkg("internal/torch", "C"),
		pkg("internal/jpeg", "C"),
		pkg("runner/loader", "components/dataset", "reports"),
	}
	got := Check(mod, bad)
	wantSubs := []string{
		"components/loss imports " + mod + "/runner/loader",
		"components/metric imports " + mod + "/reports",
		"components/anchors imports " + mod + "/experiments",
		"reports imports " + mod + "/components/metric",
		"registry imports " + mod + "/internal/torch",
		"components/head imports " + mod + "/components/backbone",
		"components/backbone imports " + mod + "/components/head",
		"components/transform imports " + mod + "/components/dataset",
		"components/model imports " + mod + "/components/dataset",
		"components/dataset/shapes uses cgo",
	}
	if len(got) != len(wantSubs) {
		t.Errorf("got %d violations, want %d:\n%s", len(got), len(wantSubs), strings.Join(got, "\n"))
	}
	for _, w := range wantSubs {
		found := false
		for _, g := range got {
			found = found || strings.Contains(g, w)
		}
		if !found {
			t.Errorf("no violation %q in:\n%s", w, strings.Join(got, "\n"))
		}
	}

	good := []Package{
		pkg("components/head", "components/nn", "internal/torch", "registry"),
		pkg("components/dataset/shapes", "components/dataset", "internal/rng"),
		pkg("reports", "github.com/wcharczuk/go-chart/v2", "image/png"),
		pkg("runner/evalreport", "components/metric", "reports"),
		pkg("internal/torch", "C"),
	}
	if v := Check(mod, good); len(v) != 0 {
		t.Errorf("violations in a module that keeps the rules:\n%s", strings.Join(v, "\n"))
	}
}

func TestMatch(t *testing.T) {
	cases := []struct {
		pat, path string
		want      bool
	}{
		{"components/...", mod + "/components", true},
		{"components/...", mod + "/components/dataset/shapes", true},
		{"components/...", mod + "/componentsx", false},
		{"reports", mod + "/reports", true},
		{"reports", mod + "/reports/x", false},
		{"...", mod, true},
		{"...", mod + "/a", true},
		{"...", "github.com/other/x", false},
		{"...", mod + "x/y", false},
	}
	for _, c := range cases {
		if got := match(mod, c.pat, c.path); got != c.want {
			t.Errorf("match(%q, %q) = %v, want %v", c.pat, c.path, got, c.want)
		}
	}
}
