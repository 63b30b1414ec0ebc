package cli

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/ssdrunner/ssdrunner/experiments"
	"github.com/ssdrunner/ssdrunner/internal/fsutil"
	"github.com/ssdrunner/ssdrunner/internal/textfile"
	"github.com/ssdrunner/ssdrunner/registry"
	"github.com/ssdrunner/ssdrunner/runner/config"
)

// fmt rewrites HCL experiment files in canonical style (hclwrite), like `terraform fmt`.
func (a *app) fmt(args []string) int {
	fs := newFlagSet(a, "fmt", "[--check] [PATH…]", commandSummary("fmt"))
	check := fs.Bool("check", false, "only list the files that are not formatted; exit 1 if any")
	paths, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(paths) == 0 {
		paths = []string{"experiments"}
	}
	files, err := hclFiles(paths)
	if err != nil {
		fmt.Fprintf(a.stderr, "runner fmt: %v\n", err)
		return exitError
	}
	code = exitOK
	for _, path := range files {
		src, err := textfile.ReadFile(path, textfile.Config)
		if err != nil {
			fmt.Fprintf(a.stderr, "runner fmt: %v\n", err)
			code = exitError
			continue
		}
		if d := config.CheckNesting(src, path); d != nil {
			fmt.Fprintf(a.stderr, "runner fmt: %s: not rewritten: %s: %s\n", path, d.Subject, d.Detail)
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
		// Write through a symlink to its target: renaming over the link itself would
		// replace it with a regular file.
		target, err := filepath.EvalSymlinks(path)
		if err == nil {
			err = writeFileAtomic(target, out)
		}
		if err != nil {
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

// writeFileAtomic replaces path's content without a window where it is half written,
// keeping the file's permissions.
func writeFileAtomic(path string, data []byte) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	return fsutil.WriteBytesAtomic(path, st.Mode().Perm(), data)
}

// list prints the registered components of every kind, or of one, with their options.
func (a *app) list(args []string) int {
	fs := newFlagSet(a, "list", "[KIND]", commandSummary("list"))
	asJSON := fs.Bool("json", false, "machine-readable output")
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 && (pos[0] == "model" || pos[0] == "models") {
		return a.listModels(*asJSON)
	}
	kinds := sortedKinds()
	if len(pos) > 0 {
		c, ok := registry.Kind(pos[0])
		if !ok {
			kinds := append(registry.KindNames(), "model")
			msg := fmt.Sprintf("runner list: unknown kind %q", pos[0])
			if s := registry.Suggest(pos[0], kinds); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			fmt.Fprintf(a.stderr, "%s (kinds: %s)\n", msg, strings.Join(kinds, ", "))
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

// listModels prints the built-in bases: the named models of the reference and the
// shared training and dataset settings, each usable as inherits = "builtin:NAME".
func (a *app) listModels(asJSON bool) int {
	b := experiments.Builtins()
	if asJSON {
		return a.writeJSON(b)
	}
	fmt.Fprintln(a.stdout, "built-in bases — inherit one with: inherits = \"builtin:NAME\"")
	for _, m := range b {
		fmt.Fprintf(a.stdout, "\n  %s\n    %s\n", m.Name, m.Summary)
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
