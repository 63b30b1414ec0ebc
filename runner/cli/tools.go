package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/registry"
)

// fmt rewrites HCL experiment files in canonical style (hclwrite), like `terraform fmt`.
func (a *app) fmt(args []string) int {
	fs := newFlagSet(a, "fmt", "[--check] [PATH…]", commandSummary("fmt"))
	check := fs.Bool("check", false, "only list the files that are not formatted; exit 1 if any")
	paths, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(paths) == 0 {
		paths = []string{"experiments"}
	}
	files, err := hclFiles(paths)
	if err != nil {
		fmt.Fprintf(a.stderr, "runner fmt: %v\n", err)
		return exitError
	}
	code := exitOK
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(a.stderr, "runner fmt: %v\n", err)
			code = exitError
			continue
		}
		// hclwrite.Format does not check syntax: refuse to rewrite a file that does not parse.
		if _, diags := hclsyntax.ParseConfig(src, path, hcl.InitialPos); diags.HasErrors() {
			fmt.Fprintf(a.stderr, "runner fmt: %s: not rewritten: %s\n", path, diags.Error())
			code = exitError
			continue
		}
		out := hclwrite.Format(src)
		if bytes.Equal(src, out) {
			continue
		}
		fmt.Fprintln(a.stdout, path)
		if *check {
			code = exitError
			continue
		}
		if err := writeFileAtomic(path, out); err != nil {
			fmt.Fprintf(a.stderr, "runner fmt: %v\n", err)
			code = exitError
		}
	}
	return code
}

// hclFiles expands paths: files as given, folders to their *.hcl files, recursively.
func hclFiles(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(path, ".hcl") {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(out)
	return out, nil
}

// writeFileAtomic replaces path's content without a window where it is half written.
func writeFileAtomic(path string, data []byte) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".runner-fmt-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), st.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// list prints the registered components of every kind, or of one, with their options.
func (a *app) list(args []string) int {
	fs := newFlagSet(a, "list", "[KIND]", commandSummary("list"))
	asJSON := fs.Bool("json", false, "machine-readable output")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	kinds := sortedKinds()
	if len(pos) > 0 {
		c, ok := registry.Kind(pos[0])
		if !ok {
			msg := fmt.Sprintf("runner list: unknown kind %q", pos[0])
			if s := registry.Suggest(pos[0], registry.KindNames()); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			fmt.Fprintf(a.stderr, "%s (kinds: %s)\n", msg, strings.Join(registry.KindNames(), ", "))
			return exitUsage
		}
		kinds = []registry.Catalog{c}
	}
	type entry struct {
		Name    string           `json:"name"`
		Summary string           `json:"summary"`
		Options []registry.Field `json:"options"`
	}
	type kind struct {
		Kind       string  `json:"kind"`
		Summary    string  `json:"summary"`
		Components []entry `json:"components"`
	}
	var out []kind
	for _, c := range kinds {
		k := kind{Kind: c.Kind(), Summary: c.Summary()}
		for _, n := range c.Names() {
			spec, _ := c.Lookup(n)
			fields, err := registry.Describe(spec.NewConfig())
			if err != nil {
				fmt.Fprintf(a.stderr, "runner list: %s %s: %v\n", c.Kind(), n, err)
				return exitError
			}
			k.Components = append(k.Components, entry{Name: n, Summary: spec.Summary, Options: fields})
		}
		out = append(out, k)
	}
	if *asJSON {
		return a.writeJSON(out)
	}
	for i, k := range out {
		if i > 0 {
			fmt.Fprintln(a.stdout)
		}
		fmt.Fprintf(a.stdout, "%s — %s\n", k.Kind, k.Summary)
		for _, e := range k.Components {
			fmt.Fprintf(a.stdout, "\n  %s \"%s\"  %s\n", k.Kind, e.Name, e.Summary)
			writeFields(a, e.Options, "    ")
		}
	}
	return exitOK
}

func writeFields(a *app, fields []registry.Field, indent string) {
	for _, f := range fields {
		req := ""
		if f.Required {
			req = " (required)"
		}
		def := ""
		if f.Default != nil {
			def = fmt.Sprintf(" = %v", f.Default)
		}
		fmt.Fprintf(a.stdout, "%s%s: %s%s%s", indent, f.Name, f.Type, def, req)
		if f.Doc != "" {
			fmt.Fprintf(a.stdout, " — %s", f.Doc)
		}
		fmt.Fprintln(a.stdout)
		if f.IsBlock() {
			writeFields(a, f.Fields, indent+"  ")
		}
	}
}

// data runs the dataset tools.
func (a *app) data(args []string) int {
	if len(args) == 0 || args[0] != "gen-shapes" {
		fmt.Fprintln(a.stderr, "Usage: runner data gen-shapes --out DIR [--count N] [--seed S] [--split NAME]")
		return exitUsage
	}
	fs := newFlagSet(a, "data gen-shapes", "--out DIR [flags]", "Write the built-in synthetic shapes dataset as a Pascal VOC folder")
	out := fs.String("out", "", "output folder (created)")
	count := fs.Int("count", 512, "number of images")
	seed := fs.Int("seed", 0, "generator seed")
	split := fs.String("split", "trainval", "name of the ImageSets/Main split file")
	if _, err := parseInterspersed(fs, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *out == "" {
		fmt.Fprintln(a.stderr, "runner data gen-shapes: --out is required")
		return exitUsage
	}
	ds, err := dataset.Build(registry.Ref{Type: "shapes", Options: map[string]any{"count": *count, "seed": *seed}}, dataset.Env{BaseDir: "."})
	if err != nil {
		fmt.Fprintf(a.stderr, "runner data gen-shapes: %v\n", err)
		return exitError
	}
	if err := dataset.WriteVOC(ds, *out, *split); err != nil {
		fmt.Fprintf(a.stderr, "runner data gen-shapes: %v\n", err)
		return exitError
	}
	a.log.Info().Str("dir", *out).Int("images", ds.Len()).Msg("wrote shapes dataset in VOC layout")
	return exitOK
}
