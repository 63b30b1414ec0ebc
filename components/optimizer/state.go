package optimizer

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// stateKey names a parameter's state entry: "g<group>.p<param>.<name>".
func stateKey(g, p int, name string) string { return fmt.Sprintf("g%d.p%d.%s", g, p, name) }

// parseStateKey splits a state name into its group, parameter and entry name.
func parseStateKey(k string) (g, p int, name string, err error) {
	parts := strings.SplitN(k, ".", 3)
	if len(parts) == 3 {
		_, e1 := fmt.Sscanf(parts[0], "g%d", &g)
		_, e2 := fmt.Sscanf(parts[1], "p%d", &p)
		if e1 == nil && e2 == nil && parts[0] == fmt.Sprintf("g%d", g) && parts[1] == fmt.Sprintf("p%d", p) {
			return g, p, parts[2], nil
		}
	}
	return 0, 0, "", fmt.Errorf("state entry %q: want a name like \"g0.p3.momentum_buffer\"", k)
}

// State returns copies of the state of every parameter updated so far: its slots and, for
// optimizers that count steps, "step" (a 0-dim int64 tensor). The caller owns the tensors.
func (e *engine) State() map[string]*ts.Tensor {
	out := map[string]*ts.Tensor{}
	if e.closed {
		return out
	}
	names := e.rule.slots()
	for gi, g := range e.groups {
		for pi := range g.params {
			st := &g.state[pi]
			if !st.started() {
				continue
			}
			for si, t := range st.t {
				if t == nil {
					continue
				}
				c := t.MustZerosLike(false)
				c.Copy_(t)
				out[stateKey(gi, pi, names[si])] = c
			}
			if e.rule.countsSteps() {
				s := ts.IntScalar(st.step)
				out[stateKey(gi, pi, "step")] = ts.MustScalarTensor(s, gotch.Int64, gotch.CPU)
				s.MustDrop()
			}
		}
	}
	return out
}

// LoadState replaces the whole state with copies of m's tensors (converted to each
// parameter's dtype and device). A parameter absent from m starts afresh. Every entry is
// checked before anything changes: names must be this optimizer's, a parameter's entries
// complete and shaped like the parameter.
func (e *engine) LoadState(m map[string]*ts.Tensor) error {
	if e.closed {
		return fmt.Errorf("%s: LoadState: %w", e.kind, errClosed)
	}
	names := e.rule.slots()
	want := slices.Clone(names)
	if e.rule.countsSteps() {
		want = append(want, "step")
	}
	type pkey struct{ g, p int }
	byParam := map[pkey]map[string]*ts.Tensor{}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		g, p, name, err := parseStateKey(k)
		if err != nil {
			return fmt.Errorf("%s: %w", e.kind, err)
		}
		if g < 0 || g >= len(e.groups) {
			return fmt.Errorf("%s: state entry %q: no group %d (the optimizer has %d)", e.kind, k, g, len(e.groups))
		}
		if p < 0 || p >= len(e.groups[g].params) {
			return fmt.Errorf("%s: state entry %q: group %d has no parameter %d (it has %d)", e.kind, k, g, p, len(e.groups[g].params))
		}
		if !slices.Contains(want, name) {
			return fmt.Errorf("%s: state entry %q: unknown name %q (this optimizer keeps: %s)", e.kind, k, name, listOrNone(want))
		}
		t := m[k]
		if t == nil {
			return fmt.Errorf("%s: state entry %q is nil", e.kind, k)
		}
		if byParam[pkey{g, p}] == nil {
			byParam[pkey{g, p}] = map[string]*ts.Tensor{}
		}
		byParam[pkey{g, p}][name] = t
	}
	// Check completeness, shapes and steps.
	steps := map[pkey]int64{}
	for pk, entries := range byParam {
		param := e.groups[pk.g].params[pk.p]
		shape, err := param.Size()
		if err != nil {
			return fmt.Errorf("%s: group %d parameter %d: %w", e.kind, pk.g, pk.p, err)
		}
		for _, name := range want {
			k := stateKey(pk.g, pk.p, name)
			t, ok := entries[name]
			if !ok {
				return fmt.Errorf("%s: state entry %q is missing (the state has other entries of g%d.p%d)", e.kind, k, pk.g, pk.p)
			}
			got, err := t.Size()
			if err != nil {
				return fmt.Errorf("%s: state entry %q: %w", e.kind, k, err)
			}
			if name == "step" {
				if ts.FlattenDim(got) != 1 {
					return fmt.Errorf("%s: state entry %q has shape %v, want a single number", e.kind, k, got)
				}
				v := t.Float64Values()[0]
				if v < 0 || v != math.Trunc(v) || v > 1<<53 {
					return fmt.Errorf("%s: state entry %q is %g, want a whole number >= 0", e.kind, k, v)
				}
				steps[pk] = int64(v)
				continue
			}
			if !slices.Equal(got, shape) {
				return fmt.Errorf("%s: state entry %q has shape %v, but the parameter has shape %v", e.kind, k, got, shape)
			}
		}
	}
	// Copy, then replace.
	fresh := make([][]paramState, len(e.groups))
	for gi, g := range e.groups {
		fresh[gi] = make([]paramState, len(g.params))
		for pi, param := range g.params {
			st := &fresh[gi][pi]
			st.t = make([]*ts.Tensor, len(names))
			entries, ok := byParam[pkey{gi, pi}]
			if !ok {
				continue
			}
			for si, name := range names {
				c := param.MustZerosLike(false)
				c.Copy_(entries[name])
				st.t[si] = c
			}
			st.step = steps[pkey{gi, pi}]
		}
	}
	for gi := range e.groups {
		for pi := range e.groups[gi].state {
			e.groups[gi].state[pi].free()
		}
		e.groups[gi].state = fresh[gi]
	}
	return nil
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "nothing"
	}
	return strings.Join(names, ", ")
}
