package config

import (
	"encoding/json"
	"strings"
	"testing"
)

// minimal is a valid experiment the malformed cases start from.
const minimal = `model {
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
`

func TestMalformedFiles(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []string // each must appear in the output, e.g. "bad.hcl:3:5: error: …"
	}{
		{"syntax error", "model {\n  backbone \"mobilenet_v1\" {\n", []string{"bad.hcl:2:", "error: Unclosed configuration block"}},
		{"unknown top-level block", minimal + "trainig {\n  epochs = 1\n}\n",
			[]string{"bad.hcl:12:1: error: Unsupported block type", `Did you mean "training"?`}},
		{"unknown attribute", minimal + "training {\n  epoch = 1\n}\n",
			[]string{"bad.hcl:13:3: error: Unsupported argument", `Did you mean "epochs"?`}},
		{"unknown component", strings.Replace(minimal, `"mobilenet_v1"`, `"mobilenet_v3"`, 1),
			[]string{`bad.hcl:2:12: error: Unknown backbone "mobilenet_v3"`, `Did you mean "mobilenet_v1"?`, "Known backbones: mobilenet_v1, mobilenet_v2."}},
		{"unknown component option", strings.Replace(minimal, `backbone "mobilenet_v1" {}`, "backbone \"mobilenet_v1\" {\n    widht_mult = 1\n  }", 1),
			[]string{"bad.hcl:3:5: error: Unsupported argument", `Did you mean "width_mult"?`}},
		{"wrong type", minimal + "training {\n  epochs = \"many\"\n}\n",
			[]string{`bad.hcl:13:12: error: Invalid value for "epochs"`, "training.epochs: expected a whole number, got string"}},
		{"fractional int", minimal + "training {\n  epochs = 2.5\n}\n",
			[]string{`bad.hcl:13:12: error: Invalid value for "epochs"`, "expected a whole number, got 2.5"}},
		{"enum typo", minimal + "training {\n  freeze = \"base\"\n}\n",
			[]string{"bad.hcl:13:12: error: Invalid value for freeze", `expected one of: none, base_net, all_but_heads. Did you mean "base_net"?`}},
		{"bad ignore_keys glob", strings.Replace(minimal, `anchors "ssd_spec" {}`, "anchors \"ssd_spec\" {}\n  init {\n    ignore_keys = [\"fc\", \"layer[4\"]\n  }", 1),
			[]string{"bad.hcl:6:19: error: Invalid key pattern", `model.init.ignore_keys entry "layer[4" is not a valid glob`}},
		{"negative batch", strings.Replace(minimal, "data {\n", "data {\n  batch_size = -1\n", 1),
			[]string{"bad.hcl:7:16: error: Invalid value for batch_size", "data.batch_size must be greater than 0, got -1."}},
		{"missing required component", strings.Replace(minimal, "  head \"ssd\" {}\n", "", 1),
			[]string{"bad.hcl:1:1: error: Missing head", "runner list head"}},
		{"missing required option", strings.Replace(minimal, "  lr = 0.01\n", "", 1),
			[]string{`bad.hcl:9:1: error: Invalid optimizer "sgd" options`, `missing required option "lr"`}},
		{"component validation", minimal + "scheduler \"cosine\" {\n  t_max = 0\n}\n",
			[]string{`bad.hcl:13:11: error: Invalid scheduler "cosine" options`, "t_max must be > 0."}},
		{"unknown loss", minimal + "loss \"multibx\" {}\n",
			[]string{`bad.hcl:12:6: error: Unknown loss "multibx"`, `Did you mean "multibox"?`, "Known losses: multibox."}},
		{"loss validation", minimal + "loss \"multibox\" {\n  neg_pos_ratio = -1\n}\n",
			[]string{`bad.hcl:13:19: error: Invalid loss "multibox" options`, "neg_pos_ratio must be >= 0."}},
		{"duplicate block", minimal + "training {}\ntraining {}\n",
			[]string{"bad.hcl:13:1: error: Duplicate training block", "the first one is at bad.hcl:12:1"}},
		{"undefined variable", minimal + "training {\n  epochs = var.epochs\n}\n",
			[]string{"bad.hcl:13:15: error: Unsupported attribute", `"epochs"`}},
		{"module in two groups", minimal + "param_group \"a\" {\n  modules = [\"extras\"]\n}\nparam_group \"b\" {\n  modules = [\"extras\"]\n}\n",
			[]string{"bad.hcl:16:13: error: Module in two parameter groups", `Module "extras" is in param_group "a" and in param_group "b"`}},
		{"bad inherits", "inherits = var.base\n" + minimal, []string{"bad.hcl:1:12: error: Invalid inherits"}},
		{"missing base", "inherits = \"nope.hcl\"\n" + minimal, []string{"bad.hcl:1:12: error: Cannot read experiment file", "nope.hcl"}},
		{"variable without value", "variable \"root\" {}\n" + minimal, []string{"bad.hcl:1:1: error: No value for required variable", "-var root=VALUE"}},
		{"locals cycle", "locals {\n  a = local.b\n  b = local.a\n}\n" + minimal, []string{"bad.hcl:2:7: error: Cycle in locals", "bad.hcl:3:7: error: Cycle in locals"}},
		{"bad device", minimal + "training {\n  device = \"gpu\"\n}\n", []string{"bad.hcl:13:12: error: Invalid value for device", "expected cpu, cuda or cuda:N"}},
		{"bad device index", minimal + "training {\n  device = \"cuda:x\"\n}\n", []string{"bad.hcl:13:12: error: Invalid value for device", `training.device = "cuda:x": the GPU index must be a number >= 0`}},
		{"nms method typo", minimal + "evaluation {\n  nms {\n    method = \"sotf\"\n  }\n}\n",
			[]string{"bad.hcl:14:14: error: Invalid value for method", `evaluation.nms.method "sotf": want "hard" or "soft". Did you mean "soft"?`}},
		{"nms options, each at its own range", minimal + "evaluation {\n  nms {\n    iou_threshold   = 1.5\n    score_threshold = -1\n    candidate_size  = 0\n  }\n}\n",
			[]string{"bad.hcl:14:23: error: Invalid value for iou_threshold", "evaluation.nms.iou_threshold must be in [0, 1], got 1.5.",
				"bad.hcl:15:23: error: Invalid value for score_threshold", "evaluation.nms.score_threshold must be in [0, 1], got -1.",
				"bad.hcl:16:23: error: Invalid value for candidate_size", "evaluation.nms.candidate_size must be greater than 0, got 0."}},
		{"soft nms sigma", minimal + "evaluation {\n  nms {\n    method = \"soft\"\n    sigma  = 0\n  }\n}\n",
			[]string{"bad.hcl:15:14: error: Invalid value for sigma", "evaluation.nms.sigma must be a positive number, got 0."}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, diags := load(t, memFS{"bad.hcl": c.src}, "bad.hcl", Options{})
			if !diags.HasErrors() {
				t.Fatalf("no error for:\n%s", c.src)
			}
			var b strings.Builder
			WriteDiagnostics(&b, diags, res.Files)
			for _, w := range c.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}

func TestAllErrorsOfAFileAtOnce(t *testing.T) {
	src := strings.Replace(minimal, "data {\n", "data {\n  batch_size = 0\n", 1) + "training {\n  epochs = 0\n  freeze = \"x\"\n  threads = -1\n}\n"
	_, diags := load(t, memFS{"bad.hcl": src}, "bad.hcl", Options{})
	if len(diags) != 4 {
		t.Errorf("want 4 diagnostics (epochs, freeze, threads, batch_size), got %d: %v", len(diags), diags)
	}
	src = minimal + "trainig {}\nmodel {\n  num_clases = 3\n}\n"
	_, diags = load(t, memFS{"bad.hcl": src}, "bad.hcl", Options{})
	if len(diags) != 2 {
		t.Errorf("want both structural errors, got %d: %v", len(diags), diags)
	}
}

func TestSnippetAndJSON(t *testing.T) {
	src := minimal + "training {\n  freeze = \"base\"\n}\n"
	res, diags := load(t, memFS{"bad.hcl": src}, "bad.hcl", Options{})
	var b strings.Builder
	WriteDiagnostics(&b, diags, res.Files)
	want := "bad.hcl:13:12: error: Invalid value for freeze\n  13 |   freeze = \"base\"\n     |            ^^^^^^\n"
	if !strings.HasPrefix(b.String(), want) {
		t.Errorf("got:\n%s\nwant prefix:\n%s", b.String(), want)
	}
	out, err := json.Marshal(ToJSON(diags))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"range":{"filename":"bad.hcl","line":13,"column":12,"end_line":13,"end_column":18}`) {
		t.Errorf("json = %s", out)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add(minimal)
	f.Add(fullExperiment)
	f.Add(baseFile)
	f.Add("inherits = [\"a.hcl\", \"b.hcl\"]\nlocals { x = local.x }\n")
	f.Add("variable \"x\" { type = list(number) default = [1] }\nmodel { num_classes = var.x[0] }\n")
	f.Add(`{"model": {"backbone": {"mobilenet_v1": {"width_mult": [1]}}}}`)
	f.Fuzz(func(t *testing.T, src string) {
		files := memFS{"fuzz.hcl": src, "fuzz.json": src, "a.hcl": minimal}
		for _, name := range []string{"fuzz.hcl", "fuzz.json"} {
			res, diags := load(t, files, name, Options{Set: []string{"training.epochs=3"}})
			var b strings.Builder
			WriteDiagnostics(&b, diags, res.Files)
			_ = ToJSON(diags)
		}
	})
}

// TestNMSFollowsPostprocess checks that evaluation.nms is held to postprocess's own rules:
// a setting the chosen method does not use is not an error.
func TestNMSFollowsPostprocess(t *testing.T) {
	for name, nms := range map[string]string{
		"hard ignores sigma":        "method = \"hard\"\n    sigma = 0",
		"soft ignores iou":          "method = \"soft\"\n    iou_threshold = 7",
		"top_k 0 keeps every box":   "top_k = 0",
		"class agnostic, soft, big": "method = \"soft\"\n    class_agnostic = true\n    sigma = 3",
	} {
		src := minimal + "evaluation {\n  nms {\n    " + nms + "\n  }\n}\n"
		if _, diags := load(t, memFS{"ok.hcl": src}, "ok.hcl", Options{}); diags.HasErrors() {
			t.Errorf("%s: %s", name, diags.Error())
		}
	}
}
