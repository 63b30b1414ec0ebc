// Package experiments embeds the base experiment files (experiments/base/*.hcl) so that any
// experiment can inherit them by name: inherits = "builtin:mb2-ssd-lite". The named models
// of the PyTorch SSD project are such bases: compositions of registered components.
package experiments

import (
	"embed"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:embed base/*.hcl
var baseFS embed.FS

// Prefix marks an inherits path that names a built-in base.
const Prefix = "builtin:"

// ReadBuiltin returns the source of the built-in base called name ("mb2-ssd-lite").
func ReadBuiltin(name string) ([]byte, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return nil, &fs.PathError{Op: "open", Path: Prefix + name, Err: fs.ErrNotExist}
	}
	b, err := baseFS.ReadFile(path.Join("base", name+".hcl"))
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: Prefix + name, Err: fs.ErrNotExist}
	}
	return b, nil
}

// Builtin describes a built-in base.
type Builtin struct {
	Name    string `json:"name"`
	Summary string `json:"summary"` // the first comment line of the file
}

// Builtins lists the built-in bases, sorted by name.
func Builtins() []Builtin {
	entries, _ := fs.ReadDir(baseFS, "base")
	var out []Builtin
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".hcl")
		src, _ := baseFS.ReadFile(path.Join("base", e.Name()))
		summary := ""
		for _, line := range strings.Split(string(src), "\n") {
			if s, ok := strings.CutPrefix(strings.TrimSpace(line), "#"); ok {
				summary = strings.TrimSpace(s)
				break
			}
		}
		out = append(out, Builtin{Name: name, Summary: summary})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
