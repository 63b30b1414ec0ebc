package build

import (
	"reflect"
	"strings"
	"testing"

	"github.com/ssdrunner/ssdrunner/registry"
	"github.com/ssdrunner/ssdrunner/runner/config"
)

func f64(v float64) *float64 { return &v }

var vggModules = []string{"base_net", "source_layer_add_ons", "extras", "classification_headers", "regression_headers"}

func experiment(freeze string, groups map[string]config.ParamGroup) *config.Experiment {
	e := config.Defaults()
	e.Optimizer = registry.Ref{Type: "sgd", Options: map[string]any{"lr": 0.01, "weight_decay": 5e-4}}
	e.Training.Freeze = freeze
	e.ParamGroups = groups
	return &e
}

func TestResolveGroupsLikeTrainSSD(t *testing.T) {
	// --base_net_lr 0.001 --extra_layers_lr 0.005: three groups as train_ssd.py builds them.
	e := experiment("none", map[string]config.ParamGroup{
		"base_net": {Modules: []string{"base_net"}, LR: f64(0.001)},
		"extras":   {Modules: []string{"source_layer_add_ons", "extras"}, LR: f64(0.005), WeightDecay: f64(0)},
	})
	a, err := ResolveGroups(vggModules, e)
	if err != nil {
		t.Fatal(err)
	}
	want := []Group{
		{Name: "base_net", Modules: []string{"base_net"}, LR: 0.001, WeightDecay: 5e-4},
		{Name: "extras", Modules: []string{"source_layer_add_ons", "extras"}, LR: 0.005, WeightDecay: 0},
		{Name: "default", Modules: []string{"classification_headers", "regression_headers"}, LR: 0.01, WeightDecay: 5e-4},
	}
	if !reflect.DeepEqual(a.Groups, want) {
		t.Errorf("groups = %+v\nwant %+v", a.Groups, want)
	}
	if len(a.Frozen) != 0 {
		t.Errorf("nothing should be frozen: %v", a.Frozen)
	}
}

func TestFreezePolicies(t *testing.T) {
	a, err := ResolveGroups(vggModules, experiment("base_net", nil))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.Frozen, map[string]bool{"base_net": true}) {
		t.Errorf("--freeze_base_net froze %v", a.Frozen)
	}
	a, err = ResolveGroups(vggModules, experiment("all_but_heads", nil))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"base_net": true, "source_layer_add_ons": true, "extras": true}
	if !reflect.DeepEqual(a.Frozen, want) {
		t.Errorf("--freeze_net froze %v, want %v", a.Frozen, want)
	}
	a, err = ResolveGroups(vggModules, experiment("none", map[string]config.ParamGroup{"x": {Modules: []string{"extras"}, Freeze: true}}))
	if err != nil || !reflect.DeepEqual(a.Frozen, map[string]bool{"extras": true}) {
		t.Errorf("group freeze: %v %v", a.Frozen, err)
	}
}

func TestUnknownModule(t *testing.T) {
	_, err := ResolveGroups([]string{"base_net", "extras"}, experiment("none", map[string]config.ParamGroup{
		"x": {Modules: []string{"source_layer_add_ons"}},
	}))
	if err == nil || !strings.Contains(err.Error(), `param_group "x" lists module "source_layer_add_ons", which this model does not have (its modules: base_net, extras)`) {
		t.Errorf("err = %v", err)
	}
}
