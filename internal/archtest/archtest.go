// Package archtest keeps the package boundaries of the module: it reads the imports of
// every non-test Go file (go/parser, imports only) and reports the imports that a rule
// forbids. Its test runs it on the whole module, so a change that crosses a boundary fails
// `go test ./...`.
//
// The rules (Rules):
//   - components/** is the library of the project: it imports nothing of runner/**,
//     reports or experiments (whoever glues them, the runner, converts between them);
//   - reports and registry are leaves: they import nothing of this module;
//   - the backbones and the heads share the layer kit of components/nn, not each other;
//     transform does not read datasets (the loader turns a dataset's image into a sample)
//     and model does not read label files (its callers do);
//   - the downloaders (runner/download/**) use neither libtorch nor the components: they
//     only write the files that the datasets read;
//   - only internal/torch, internal/jpeg and internal/dist (libtorch's c10d collectives)
//     use cgo (import "C"): every other binding to C goes through them.
package archtest

import (
	"bufio"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Package is one package's non-test imports.
type Package struct {
	Path    string              // import path, e.g. github.com/ssdrunner/ssdrunner/components/loss
	Imports map[string][]string // imported path → the files (relative to the module root) that import it
}

// Rule forbids the packages matched by From to import the packages matched by To.
// Patterns are relative to the module path: "components/..." matches components and
// everything below it, "reports" that package alone, "..." the whole module.
type Rule struct {
	From, To string
	Why      string
}

// Rules are the module's boundaries (see the package comment).
var Rules = []Rule{
	{"components/...", "runner/...", "components are libraries; the runner glues them"},
	{"components/...", "reports/...", "components do not draw charts; the runner converts results for reports"},
	{"components/...", "experiments/...", "components do not read experiment files"},
	{"reports/...", "...", "reports is a leaf: it imports nothing of the module"},
	{"registry/...", "...", "registry is a leaf: it imports nothing of the module"},
	{"components/head/...", "components/backbone/...", "heads and backbones share components/nn, not each other"},
	{"components/backbone/...", "components/head/...", "heads and backbones share components/nn, not each other"},
	{"components/transform/...", "components/dataset/...", "transforms work on samples; the loader converts a dataset's images"},
	{"components/model/...", "components/dataset/...", "model is given labels; its callers read label files"},
	{"runner/download/...", "internal/torch", "the downloaders are plain Go: they never load libtorch"},
	{"runner/download/...", "components/...", "the downloaders write files; the datasets read them"},
}

// CgoAllowed are the only packages (relative to the module path) that may import "C".
var CgoAllowed = []string{"internal/torch", "internal/jpeg", "internal/dist"}

// match reports whether the import path p of module mod matches pattern pat.
func match(mod, pat, p string) bool {
	if pat == "..." {
		return p == mod || strings.HasPrefix(p, mod+"/")
	}
	if base, ok := strings.CutSuffix(pat, "/..."); ok {
		full := mod + "/" + base
		return p == full || strings.HasPrefix(p, full+"/")
	}
	return p == mod+"/"+pat
}

// Check returns one line per forbidden import of pkgs (packages of module mod), sorted.
func Check(mod string, pkgs []Package) []string {
	var out []string
	for _, pkg := range pkgs {
		for imp, files := range pkg.Imports {
			if imp == "C" {
				rel := strings.TrimPrefix(pkg.Path, mod+"/")
				if !slices.Contains(CgoAllowed, rel) {
					out = append(out, fmt.Sprintf("%s uses cgo (import \"C\" in %s): only %v may", pkg.Path, strings.Join(files, ", "), CgoAllowed))
				}
				continue
			}
			for _, r := range Rules {
				if match(mod, r.From, pkg.Path) && match(mod, r.To, imp) && imp != pkg.Path {
					out = append(out, fmt.Sprintf("%s imports %s (in %s): %s", pkg.Path, imp, strings.Join(files, ", "), r.Why))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// Load reads the module at root: its path (from go.mod) and the imports of every package,
// from the non-test .go files. Folders named testdata or build, and hidden ones, are
// skipped, as the go command skips testdata and build/ holds the patched gotch copy.
func Load(root string) (mod string, pkgs []Package, err error) {
	mod, err = modulePath(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", nil, err
	}
	byDir := map[string]*Package{}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") ||
				(filepath.Dir(path) == root && name == "build")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(rel))
		p := byDir[dir]
		if p == nil {
			ip := mod
			if dir != "." {
				ip = mod + "/" + dir
			}
			p = &Package{Path: ip, Imports: map[string][]string{}}
			byDir[dir] = p
		}
		for _, is := range f.Imports {
			imp, err := strconv.Unquote(is.Path.Value)
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			p.Imports[imp] = append(p.Imports[imp], filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	for _, p := range byDir {
		pkgs = append(pkgs, *p)
	}
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].Path < pkgs[j].Path })
	return mod, pkgs, nil
}

// modulePath returns the module path that go.mod declares.
func modulePath(gomod string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s: no module line", gomod)
}
