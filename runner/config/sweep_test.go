package config

import (
	"strings"
	"testing"
)

const sweepBase = `
model {
  backbone "mobilenet_v1" {}
  head "ssd" {}
  anchors "ssd_spec" {}
}
data {
  train "shapes" {}
}
optimizer "sgd" {
  lr = 0.01
}
param_group "base_net" {
  modules = ["base_net"]
}
`

func TestSweepBlock(t *testing.T) {
	files := memFS{
		"exp.hcl": sweepBase,
		"sweep.hcl": `inherits = "exp.hcl"
locals {
  top = 0.1
}
sweep {
  name   = "lr-wd"
  method = "random"
  trials = 5
  seed   = 3
  metric = "last_val_loss"
  param "optimizer.lr" {
    log_uniform = [1e-4, local.top]
  }
  param "param_group.base_net.lr" {
    values = [0.001, 0.01]
  }
  param "model.backbone.width_mult" {
    uniform = [0.5, 1]
  }
  param "training.epochs" {
    int_range = [2, 10]
    step      = 4
  }
  param "model.backbone.type" {
    values = ["mobilenet_v1", "mobilenet_v2"]
  }
  early_stopping "successive_halving" {
    min_epochs       = 2
    reduction_factor = 2
  }
}`,
	}
	res := mustLoad(t, files, "sweep.hcl", Options{})
	s := res.Sweep
	if s == nil {
		t.Fatal("no sweep")
	}
	if s.Name != "lr-wd" || s.Method != "random" || s.Trials != 5 || s.Seed != 3 || s.Metric != "last_val_loss" || len(s.Params) != 5 {
		t.Fatalf("sweep %+v", s)
	}
	if p := s.Params[0]; p.Key != "optimizer.lr" || p.Dist != DistLogUniform || p.Low != 1e-4 || p.High != 0.1 || !p.Log() {
		t.Errorf("param 0 %+v", p)
	}
	if p := s.Params[1]; strings.Join(p.Values, ",") != "0.001,0.01" || p.ValueRanges[1].Start.Line != 15 {
		t.Errorf("param 1 %+v", p)
	}
	if p := s.Params[3]; p.Dist != DistIntRange || p.Low != 2 || p.High != 10 || p.Step != 4 {
		t.Errorf("param 3 %+v", p)
	}
	if p := s.Params[4]; strings.Join(p.Values, ",") != `"mobilenet_v1","mobilenet_v2"` {
		t.Errorf("param 4 values %q", p.Values)
	}
	if es := s.EarlyStopping; es == nil || es.Rule != "successive_halving" || es.MinEpochs != 2 || es.ReductionFactor != 2 || es.MinTrials != 2 {
		t.Errorf("early stopping %+v", es)
	}
	// the base experiment is without any trial's values
	if res.Experiment.Optimizer.Options["lr"] != 0.01 {
		t.Errorf("base lr %v", res.Experiment.Optimizer.Options["lr"])
	}
	// a file without a sweep block has none
	if r := mustLoad(t, files, "exp.hcl", Options{}); r.Sweep != nil {
		t.Error("exp.hcl has a sweep")
	}
	// a trial's overrides apply after --set, and an invalid one is reported at its place
	p := s.Params[1]
	trial := []Override{{Path: "optimizer.lr", Value: "0.5", Range: s.Params[0].DistRange},
		{Path: "param_group.base_net.lr", Value: p.Values[1], Range: p.ValueRanges[1]},
		{Path: "model.backbone.type", Value: "mobilenet_v2", Range: s.Params[4].ValueRanges[1]}}
	r := mustLoad(t, files, "sweep.hcl", Options{Set: []string{"optimizer.lr=0.2"}, Trial: trial})
	e := r.Experiment
	if e.Optimizer.Options["lr"] != 0.5 || *e.ParamGroups["base_net"].LR != 0.01 || e.Model.Backbone.Type != "mobilenet_v2" {
		t.Errorf("trial experiment: lr %v, base_net lr %v, backbone %s", e.Optimizer.Options["lr"], *e.ParamGroups["base_net"].LR, e.Model.Backbone.Type)
	}
	if o, _ := r.OriginOf("optimizer.lr"); o.Layer != "file" || o.Range.Start.Line != 12 {
		t.Errorf("origin of the trial's lr: %+v", o)
	}
	_, diags := load(t, files, "sweep.hcl", Options{Trial: []Override{{Path: "training.epochs", Value: "0", Range: s.Params[3].DistRange}}})
	var b strings.Builder
	WriteDiagnostics(&b, diags, r.Files)
	if !diags.HasErrors() || !strings.Contains(b.String(), "sweep.hcl:21:17: error: Invalid value for epochs") {
		t.Errorf("0 epochs from the sweep:\n%s", b.String())
	}
}

func TestSweepBlockJSON(t *testing.T) {
	files := memFS{
		"exp.hcl":        sweepBase,
		"sweep.hcl.json": `{"inherits": "exp.hcl", "sweep": {"param": {"optimizer.lr": {"values": [0.1, 0.01]}}, "early_stopping": {"median": {"grace_epochs": 3}}}}`,
	}
	s := mustLoad(t, files, "sweep.hcl.json", Options{}).Sweep
	if s == nil || s.Method != "grid" || len(s.Params) != 1 || strings.Join(s.Params[0].Values, ",") != "0.1,0.01" ||
		s.EarlyStopping == nil || s.EarlyStopping.GraceEpochs != 3 || s.Metric != "best_map" || s.Name != "sweep" {
		t.Errorf("JSON sweep %+v", s)
	}
}

func TestSweepBlockDuplicates(t *testing.T) {
	files := memFS{"x.hcl": sweepBase + `
sweep {
  param "optimizer.lr" {
    values = [0.1]
  }
  param "optimizer.lr" {
    values = [0.2]
  }
  early_stopping "median" {}
  early_stopping "median" {}
}
sweep {
  param "optimizer.lr" {
    values = [0.1]
  }
}`}
	res, diags := load(t, files, "x.hcl", Options{})
	var b strings.Builder
	WriteDiagnostics(&b, diags, res.Files)
	if !strings.Contains(b.String(), "Duplicate sweep block") {
		t.Errorf("two sweep blocks:\n%s", b.String())
	}
	files["x.hcl"] = strings.SplitAfterN(files["x.hcl"], "}\nsweep {", 2)[0]
	files["x.hcl"] = strings.TrimSuffix(files["x.hcl"], "\nsweep {")
	res, diags = load(t, files, "x.hcl", Options{})
	b.Reset()
	WriteDiagnostics(&b, diags, res.Files)
	for _, want := range []string{"Duplicate sweep param", `"optimizer.lr" is already swept at x.hcl:18:9`, "Duplicate early_stopping block"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("lacks %q:\n%s", want, b.String())
		}
	}
}
