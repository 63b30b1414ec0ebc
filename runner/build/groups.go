package build

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ssdrunner/ssdrunner/runner/config"
)

// HeadModules are the modules that "all_but_heads" keeps trainable.
var HeadModules = []string{"classification_headers", "regression_headers"}

// Group is a resolved parameter group: the modules it covers and their settings.
type Group struct {
	Name        string   `json:"name"`
	Modules     []string `json:"modules"`
	LR          float64  `json:"lr"`
	WeightDecay float64  `json:"weight_decay"`
}

// Assignment says, for each module of a model, its group and whether it is frozen.
type Assignment struct {
	Groups  []Group           `json:"groups"`
	GroupOf map[string]string `json:"group_of"`
	Frozen  map[string]bool   `json:"frozen"`
}

// DefaultGroup names the group of modules that no param_group lists.
const DefaultGroup = "default"

// ResolveGroups assigns modules to parameter groups and applies the freeze policy, as the
// reference's train_ssd.py does: a group's lr and weight decay default to the optimizer's,
// modules outside every group form the "default" group, training.freeze = "base_net"
// freezes base_net and "all_but_heads" everything but the prediction heads.
func ResolveGroups(modules []string, e *config.Experiment) (Assignment, error) {
	baseLR, _ := asFloat(e.Optimizer.Options["lr"])
	baseWD, _ := asFloat(e.Optimizer.Options["weight_decay"])
	known := map[string]bool{}
	for _, m := range modules {
		known[m] = true
	}
	a := Assignment{GroupOf: map[string]string{}, Frozen: map[string]bool{}}
	names := make([]string, 0, len(e.ParamGroups))
	for n := range e.ParamGroups {
		names = append(names, n)
	}
	sort.Strings(names)
	var problems []string
	for _, n := range names {
		pg := e.ParamGroups[n]
		g := Group{Name: n, LR: baseLR, WeightDecay: baseWD}
		if pg.LR != nil {
			g.LR = *pg.LR
		}
		if pg.WeightDecay != nil {
			g.WeightDecay = *pg.WeightDecay
		}
		for _, m := range pg.Modules {
			if !known[m] {
				problems = append(problems, fmt.Sprintf("param_group %q lists module %q, which this model does not have (its modules: %s)", n, m, strings.Join(modules, ", ")))
				continue
			}
			g.Modules = append(g.Modules, m)
			a.GroupOf[m] = n
			if pg.Freeze {
				a.Frozen[m] = true
			}
		}
		a.Groups = append(a.Groups, g)
	}
	if len(problems) > 0 {
		return a, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	def := Group{Name: DefaultGroup, LR: baseLR, WeightDecay: baseWD}
	for _, m := range modules {
		if _, ok := a.GroupOf[m]; !ok {
			def.Modules = append(def.Modules, m)
			a.GroupOf[m] = DefaultGroup
		}
	}
	if len(def.Modules) > 0 {
		a.Groups = append(a.Groups, def)
	}
	switch e.Training.Freeze {
	case "base_net":
		if known["base_net"] {
			a.Frozen["base_net"] = true
		}
	case "all_but_heads":
		for _, m := range modules {
			if !isHead(m) {
				a.Frozen[m] = true
			}
		}
	}
	return a, nil
}

func isHead(m string) bool {
	for _, h := range HeadModules {
		if m == h {
			return true
		}
	}
	return false
}

func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	}
	return 0, false
}
