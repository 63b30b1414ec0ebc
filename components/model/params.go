package model

import (
	"sort"
	"strings"

	"github.com/sugarme/gotch/ts"
)

// bufferSuffixes end the names of batch-norm statistics: state, not parameters.
var bufferSuffixes = []string{".running_mean", ".running_var", ".num_batches_tracked"}

// IsBuffer reports whether a variable name is a buffer (batch-norm running statistics)
// rather than a parameter. gotch's VarStore does not expose variable kinds, so this goes
// by torch's buffer names, the only buffers the project's layers create.
func IsBuffer(name string) bool {
	for _, s := range bufferSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// ModuleParams summarises the parameters of one top-level module.
type ModuleParams struct {
	Module string
	// Params counts the elements of the module's parameters, buffers excluded: torch's
	// sum(p.numel() for p in module.parameters()).
	Params int64
	// Trainable counts the elements of the parameters that require gradients.
	Trainable int64
	// Names lists the trainable parameters' full names, sorted.
	Names []string
}

// ParamCounts returns one entry per module of Modules(), in that order, grouping the
// variables by the first segment of their names; variables of other top-level names,
// if any, follow in name order.
func (m *SSD) ParamCounts() []ModuleParams {
	byModule := map[string]*ModuleParams{}
	var order []string
	for _, name := range m.Modules() {
		byModule[name] = &ModuleParams{Module: name}
		order = append(order, name)
	}
	var extra []string
	root := m.vs.Root()
	for _, name := range m.VariableNames() {
		if IsBuffer(name) {
			continue
		}
		mod, _, _ := strings.Cut(name, ".")
		mp, ok := byModule[mod]
		if !ok {
			mp = &ModuleParams{Module: mod}
			byModule[mod] = mp
			extra = append(extra, mod)
		}
		t, err := root.Get(name)
		if err != nil {
			continue // listed a moment ago: cannot happen
		}
		n := numel(t)
		mp.Params += n
		if t.MustRequiresGrad() {
			mp.Trainable += n
			mp.Names = append(mp.Names, name)
		}
	}
	sort.Strings(extra)
	out := make([]ModuleParams, 0, len(order)+len(extra))
	for _, name := range append(order, extra...) {
		out = append(out, *byModule[name])
	}
	return out
}

// VariableNames returns the names of all the model's variables (parameters and
// buffers), sorted.
func (m *SSD) VariableNames() []string {
	vars := m.vs.Variables()
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Parameters returns the parameters (not buffers) whose names start with module + "."
// (all of them for module ""), sorted by name, with the tensors the VarStore holds: an
// optimizer updating them updates the model.
func (m *SSD) Parameters(module string) (names []string, params []*ts.Tensor) {
	root := m.vs.Root()
	for _, name := range m.VariableNames() {
		if IsBuffer(name) || (module != "" && !strings.HasPrefix(name, module+".")) {
			continue
		}
		t, err := root.Get(name)
		if err != nil {
			continue
		}
		names = append(names, name)
		params = append(params, t)
	}
	return names, params
}

func numel(t *ts.Tensor) int64 {
	n := int64(1)
	for _, d := range t.MustSize() {
		n *= d
	}
	return n
}
