package config

import (
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssdrunner/ssdrunner/registry"
)

func f64(v float64) *float64 { return &v }

func TestDecodeEveryBlock(t *testing.T) {
	res := mustLoad(t, memFS{"full.hcl": fullExperiment}, "full.hcl", Options{})
	e := res.Experiment
	want := Experiment{
		Name: "full", Description: "every block",
		Model: Model{
			Backbone: registry.Ref{Type: "mobilenet_v2", Options: map[string]any{"width_mult": 0.75}},
			Head:     registry.Ref{Type: "ssd_lite", Options: map[string]any{}},
			Anchors: registry.Ref{Type: "ssd_spec", Options: map[string]any{
				"image_size": 300,
				"spec": []any{
					map[string]any{"feature_map_size": 19, "aspect_ratios": []float64{2, 3}},
					map[string]any{"feature_map_size": 10},
				},
			}},
			NumClasses: 21, Labels: "models/voc-model-labels.txt",
			Init: Init{BaseNet: "models/mb2-imagenet-71_8.pth", OnClassMismatch: "reinit"},
		},
		Data: Data{
			Train:        registry.Ref{Type: "voc", Options: map[string]any{"roots": []string{"/data/VOC2007", "/data/VOC2012"}}},
			Validation:   registry.Ref{Type: "voc", Options: map[string]any{"roots": []string{"/data/test/VOC2007"}, "keep_difficult": true}},
			Augmentation: "ssd", Mean: []float64{127, 127, 127}, Std: []float64{128},
			BatchSize: 24, Workers: 2, Prefetch: 3, Shuffle: false, OnBadSample: "skip",
		},
		Optimizer: registry.Ref{Type: "sgd", Options: map[string]any{"lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4}},
		ParamGroups: map[string]ParamGroup{
			"base_net": {Modules: []string{"base_net"}, LR: f64(0.001)},
			"extras":   {Modules: []string{"source_layer_add_ons", "extras"}, WeightDecay: f64(0), Freeze: true},
		},
		Scheduler: registry.Ref{Type: "cosine", Options: map[string]any{"t_max": 200.0, "eta_min": 1e-5}},
		Loss:      registry.Ref{Type: "multibox", Options: map[string]any{"neg_pos_ratio": 2.0}},
		Training: Training{
			Epochs: 200, ValidateEvery: 5, Freeze: "none", Seed: 42, Device: "cpu", Threads: 2, LogEvery: 10, Resume: "auto",
			Checkpoint: Checkpoint{Every: 10, KeepLast: 2, KeepBest: false, Metric: "map"},
			FrozenBN:   "eval", OnNonFinite: "fail", MaxNonFinite: 10,
		},
		Evaluation: Evaluation{
			Metrics: []registry.Ref{{Type: "voc", Options: map[string]any{"use_2007_metric": false}}},
			NMS:     NMS{Method: "soft", IoUThreshold: 0.5, ScoreThreshold: 0.05, CandidateSize: 100, TopK: 50, Sigma: 0.6, ClassAgnostic: true},
		},
		Output: Output{Dir: "out"},
	}
	if diff := cmp.Diff(want, e); diff != "" {
		t.Errorf("decoded experiment differs (-want +got):\n%s", diff)
	}
	if o, _ := res.OriginOf("model.backbone.width_mult"); o.Layer != "file" || o.Range.Start.Line != 7 {
		t.Errorf("origin of width_mult = %v", o)
	}
	if o, _ := res.OriginOf("data.workers"); o.Layer != "file" {
		t.Errorf("origin of data.workers = %v", o)
	}
}

func TestJSONForm(t *testing.T) {
	src := `{
  "name": "j",
  "variable": {"lr": {"default": 0.02}},
  "model": {
    "backbone": {"mobilenet_v1": {}},
    "head": {"ssd": {}},
    "anchors": {"ssd_spec": {"spec": [{"feature_map_size": 19}]}}
  },
  "data": {"train": {"shapes": {}}},
  "optimizer": {"sgd": {"lr": "${var.lr}"}}
}`
	res := mustLoad(t, memFS{"exp.json": src}, "exp.json", Options{})
	if got := res.Experiment.Optimizer.Options["lr"]; got != 0.02 {
		t.Errorf("lr from JSON = %v", got)
	}
	if res.Experiment.Model.Backbone.Type != "mobilenet_v1" {
		t.Errorf("backbone = %q", res.Experiment.Model.Backbone.Type)
	}
}

const baseFile = `
variable "lr" {
  default = 0.01
}
variable "root" {
  type    = string
  default = "/data"
}
locals {
  voc = "${var.root}/VOC0712"
}
model {
  backbone "mobilenet_v2" {
    width_mult = 1.0
    activation = "relu"
  }
  head "ssd_lite" {}
  anchors "ssd_spec" {
    spec {
      feature_map_size = 19
    }
  }
}
data {
  train "voc" {
    roots = ["${local.voc}/VOC2007"]
  }
  batch_size = 32
}
optimizer "sgd" {
  lr       = var.lr
  momentum = 0.9
}
training {
  epochs = 200
}
`

func TestInheritanceVariablesLocals(t *testing.T) {
	files := memFS{
		"experiments/base/mb2.hcl": baseFile,
		"experiments/child.hcl": `
inherits = "base/mb2.hcl"
variable "lr" {
  default = 0.05
}
locals {
  half   = var.lr / 2
  suffix = "${local.tag}-x"
  tag    = "t${var.lr}"
}
name = "child-${local.suffix}"
model {
  backbone "mobilenet_v2" {
    width_mult = 0.5
  }
}
optimizer "sgd" {
  lr = local.half
}
training {
  validate_every = 2
}
`,
	}
	res := mustLoad(t, files, "experiments/child.hcl", Options{})
	e := res.Experiment
	if got := res.Chain; !reflect.DeepEqual(got, []string{"experiments/base/mb2.hcl", "experiments/child.hcl"}) {
		t.Errorf("chain = %v", got)
	}
	if e.Name != "child-t0.05-x" {
		t.Errorf("name = %q (locals depending on later locals)", e.Name)
	}
	if got := e.Model.Backbone.Options; got["width_mult"] != 0.5 || got["activation"] != "relu" {
		t.Errorf("backbone options merged = %v, want width_mult from the child and activation from the base", got)
	}
	if got := e.Optimizer.Options; got["lr"] != 0.025 || got["momentum"] != 0.9 {
		t.Errorf("optimizer = %v", got)
	}
	if got := e.Data.Train.Options["roots"]; !reflect.DeepEqual(got, []string{"/data/VOC0712/VOC2007"}) {
		t.Errorf("roots = %v", got)
	}
	if e.Training.Epochs != 200 || e.Training.ValidateEvery != 2 || e.Data.BatchSize != 32 {
		t.Errorf("training = %+v, batch = %d", e.Training, e.Data.BatchSize)
	}
	if o, _ := res.OriginOf("training.epochs"); o.Range.Filename != "experiments/base/mb2.hcl" {
		t.Errorf("origin of epochs = %v", o)
	}

	// -var and -var-file and RUNNER_VAR_ resolve the base's variables.
	files["vars.hcl"] = `root = "/mnt"`
	res = mustLoad(t, files, "experiments/child.hcl", Options{
		Vars: []string{"lr=0.1"}, VarFiles: []string{"vars.hcl"}, Env: []string{"RUNNER_VAR_root=/env"},
	})
	if got := res.Experiment.Data.Train.Options["roots"]; !reflect.DeepEqual(got, []string{"/mnt/VOC0712/VOC2007"}) {
		t.Errorf("var-file should beat the environment: roots = %v", got)
	}
	if got := res.Experiment.Optimizer.Options["lr"]; got != 0.05 {
		t.Errorf("-var lr=0.1 then half = %v", got)
	}
}

func TestReplacingAComponentDropsItsOptions(t *testing.T) {
	files := memFS{
		"base.hcl": baseFile,
		"child.hcl": `
inherits = "base.hcl"
model {
  backbone "mobilenet_v1" {}
}
`,
	}
	res := mustLoad(t, files, "child.hcl", Options{})
	bb := res.Experiment.Model.Backbone
	if bb.Type != "mobilenet_v1" || len(bb.Options) != 0 {
		t.Errorf("backbone = %+v: the base's mobilenet_v2 options must not carry over", bb)
	}
}

func TestOverridePrecedence(t *testing.T) {
	files := memFS{"base.hcl": baseFile}
	// default (log_every 100) < file (epochs 200) < env < --set
	res := mustLoad(t, files, "base.hcl", Options{
		Env: []string{
			"RUNNER_TRAINING__EPOCHS=50",
			"RUNNER_DATA__BATCH_SIZE=8",
			"RUNNER_MODEL__BACKBONE__WIDTH_MULT=0.75",
			"RUNNER_LOG_LEVEL=debug", // reserved: not an override
			"RUNNER_MALLOC=system",   // reserved too
			"HOME=/root",
		},
		Set: []string{
			"training.epochs=10",
			"scheduler.type=multi_step",
			"scheduler.milestones=[80, 100]",
			"evaluation.metric.voc.use_2007_metric=false",
			"param_group.heads.modules=[\"classification_headers\"]",
			"param_group.heads.lr=0.1",
			"training.device=cpu",
			"name=\"quoted\"",
		},
	})
	e := res.Experiment
	if e.Training.Epochs != 10 {
		t.Errorf("--set must beat the environment: epochs = %d", e.Training.Epochs)
	}
	if e.Data.BatchSize != 8 {
		t.Errorf("the environment must beat the file: batch_size = %d", e.Data.BatchSize)
	}
	if e.Training.LogEvery != 100 {
		t.Errorf("default log_every = %d", e.Training.LogEvery)
	}
	if got := e.Model.Backbone.Options["width_mult"]; got != 0.75 {
		t.Errorf("width_mult = %v", got)
	}
	if e.Scheduler.Type != "multi_step" || !reflect.DeepEqual(e.Scheduler.Options["milestones"], []int{80, 100}) {
		t.Errorf("scheduler = %+v", e.Scheduler)
	}
	if len(e.Evaluation.Metrics) != 1 || e.Evaluation.Metrics[0].Options["use_2007_metric"] != false {
		t.Errorf("metrics = %+v", e.Evaluation.Metrics)
	}
	if g := e.ParamGroups["heads"]; g.LR == nil || *g.LR != 0.1 || len(g.Modules) != 1 {
		t.Errorf("param group = %+v", g)
	}
	if e.Name != "quoted" {
		t.Errorf("name = %q", e.Name)
	}
	for path, layer := range map[string]string{
		"training.epochs": "set", "data.batch_size": "env", "training.log_every": "default", "model.head": "file",
	} {
		if o, _ := res.OriginOf(path); o.Layer != layer {
			t.Errorf("origin of %s = %v, want layer %s", path, o, layer)
		}
	}
}

func TestOverrideErrors(t *testing.T) {
	files := memFS{"base.hcl": baseFile}
	cases := []struct {
		set  string
		want string
	}{
		{"training.epoch=3", `unknown key "training.epoch"; did you mean "epochs"? (valid keys here: channels_last, checkpoint, clip_grad_norm, device, epochs, freeze, frozen_batch_norm, log_every, max_nonfinite, on_nonfinite, resume, seed, sync_batchnorm, threads, validate_every)`},
		{"trainig.epochs=3", `did you mean "training"?`},
		{"training.epochs=abc", `expected a whole number`},
		{"training.epochs=1.5", `expected a whole number, got 1.5`},
		{"data.mean=[1, \"x\"]", `expected a list of numbers`},
		{"training=3", `training is a block: set one of its keys`},
		{"model.backbone.widht_mult=1", `unknown option "widht_mult"; did you mean "width_mult"?`},
		{"model.backbone.type=mobilenet_v3", `unknown backbone "mobilenet_v3"`},
		{"scheduler.t_max=5", `scheduler has no component yet: set scheduler.type first`},
		{"training.epochs", `expected PATH=VALUE`},
	}
	for _, c := range cases {
		res, diags := load(t, files, "base.hcl", Options{Set: []string{c.set}})
		var b strings.Builder
		WriteDiagnostics(&b, diags, res.Files)
		if !diags.HasErrors() || !strings.Contains(b.String(), c.want) {
			t.Errorf("--set %s:\n%s\nwant it to contain %q", c.set, b.String(), c.want)
		}
		if !strings.Contains(b.String(), c.set) {
			t.Errorf("--set %s: the message must quote the flag:\n%s", c.set, b.String())
		}
	}
	_, diags := load(t, files, "base.hcl", Options{Env: []string{"RUNNER_TRAINING__EPOHCS=5"}})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "RUNNER_TRAINING__EPOHCS") || !strings.Contains(diags.Error(), `did you mean "epochs"`) {
		t.Errorf("unknown env override: %v", diags)
	}
}
