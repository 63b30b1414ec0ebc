// Package registry turns component names written in experiment files into components.
//
// There is one Registry per kind of component (backbone, head, anchors, dataset, transform,
// optimizer, scheduler, metric). Each component registers itself beside its code, in an init
// function, with a Spec (its name, a one-line summary and a constructor of its typed config,
// pre-filled with defaults) and a factory. Experiment decoding only needs the Specs, reached
// through the kind-agnostic Catalog; the kind's own package turns a Ref into a component.
//
// The registries are the only package-level mutable state of the project, and they are only
// written during program initialisation.
package registry

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Spec describes one registered component.
type Spec struct {
	// Name is what experiment files write, e.g. "cosine" in `scheduler "cosine" { … }`.
	Name string
	// Summary is one line shown by `runner list`.
	Summary string
	// Config returns a fresh pointer to the component's config struct, filled with its
	// defaults. Fields carry `hcl:"name"` (required), `hcl:"name,optional"` or
	// `hcl:"name,block"` tags and an optional `doc:"…"` tag. Nil means "no options".
	Config func() any
}

// NewConfig returns the component's default config (an empty struct pointer when the
// component takes no options).
func (s Spec) NewConfig() any {
	if s.Config == nil {
		return &struct{}{}
	}
	return s.Config()
}

// Ref names a component and carries its options as decoded from an experiment, after
// overrides. Options hold only the keys that were set; the rest keep their defaults.
type Ref struct {
	Type    string         `json:"type"`
	Options map[string]any `json:"options,omitempty"`
}

// Catalog is the kind-agnostic view of a registry.
type Catalog interface {
	Kind() string
	Summary() string
	Names() []string
	Lookup(name string) (Spec, error)
}

// Entry is a registered component: its Spec and its kind-specific factory.
type Entry[F any] struct {
	Spec
	Factory F
}

// Registry holds the components of one kind. F is the kind's factory type.
type Registry[F any] struct {
	kind, summary string
	mu            sync.RWMutex
	entries       map[string]*Entry[F]
}

var (
	kindsMu sync.RWMutex
	kinds   = map[string]Catalog{}
)

// New creates the registry of a kind and adds it to the catalog of kinds. It panics when
// the kind already exists: that is a programming error caught at start-up.
func New[F any](kind, summary string) *Registry[F] {
	r := &Registry[F]{kind: kind, summary: summary, entries: map[string]*Entry[F]{}}
	kindsMu.Lock()
	defer kindsMu.Unlock()
	if _, dup := kinds[kind]; dup {
		panic(fmt.Sprintf("registry: kind %q created twice", kind))
	}
	kinds[kind] = r
	return r
}

// Register adds a component. It panics on an empty or duplicate name, or on a config
// struct that cannot be described (checked once here rather than at every use).
func (r *Registry[F]) Register(spec Spec, factory F) {
	if spec.Name == "" {
		panic(fmt.Sprintf("registry: %s registered with an empty name", r.kind))
	}
	if _, err := Describe(spec.NewConfig()); err != nil {
		panic(fmt.Sprintf("registry: %s %q: %v", r.kind, spec.Name, err))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.entries[spec.Name]; dup {
		panic(fmt.Sprintf("registry: %s %q registered twice", r.kind, spec.Name))
	}
	r.entries[spec.Name] = &Entry[F]{Spec: spec, Factory: factory}
}

// Kind returns the registry's kind, e.g. "backbone".
func (r *Registry[F]) Kind() string { return r.kind }

// Summary describes the kind in one line.
func (r *Registry[F]) Summary() string { return r.summary }

// Names returns the registered names, sorted.
func (r *Registry[F]) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.entries))
	for n := range r.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Get returns the entry of a name, or an *UnknownError listing the known names.
func (r *Registry[F]) Get(name string) (*Entry[F], error) {
	r.mu.RLock()
	e, ok := r.entries[name]
	r.mu.RUnlock()
	if !ok {
		return nil, newUnknown(r.kind, name, r.Names())
	}
	return e, nil
}

// Lookup returns the Spec of a name (Catalog interface).
func (r *Registry[F]) Lookup(name string) (Spec, error) {
	e, err := r.Get(name)
	if err != nil {
		return Spec{}, err
	}
	return e.Spec, nil
}

// Resolve looks a Ref up and decodes its options into the component's typed config.
func (r *Registry[F]) Resolve(ref Ref) (*Entry[F], any, error) {
	e, err := r.Get(ref.Type)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := DecodeConfig(e.Spec, ref.Options)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %q: %w", r.kind, ref.Type, err)
	}
	return e, cfg, nil
}

// Kind returns the catalog of a kind.
func Kind(kind string) (Catalog, bool) {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	c, ok := kinds[kind]
	return c, ok
}

// Kinds returns every kind's catalog, sorted by kind.
func Kinds() []Catalog {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	out := make([]Catalog, 0, len(kinds))
	for _, c := range kinds {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind() < out[j].Kind() })
	return out
}

// KindNames returns the names of all kinds, sorted.
func KindNames() []string {
	var names []string
	for _, c := range Kinds() {
		names = append(names, c.Kind())
	}
	return names
}

// UnknownError reports a name that is not registered.
type UnknownError struct {
	Kind       string
	Name       string
	Known      []string
	Suggestion string // closest known name, or ""
}

func newUnknown(kind, name string, known []string) *UnknownError {
	return &UnknownError{Kind: kind, Name: name, Known: known, Suggestion: Suggest(name, known)}
}

func (e *UnknownError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "unknown %s %q", e.Kind, e.Name)
	if e.Suggestion != "" {
		fmt.Fprintf(&b, "; did you mean %q?", e.Suggestion)
	}
	if len(e.Known) == 0 {
		fmt.Fprintf(&b, " (no %s is registered)", e.Kind)
	} else {
		fmt.Fprintf(&b, " (known: %s)", strings.Join(e.Known, ", "))
	}
	return b.String()
}
