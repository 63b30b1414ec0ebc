package registry

import (
	"strings"
	"testing"
)

type warmCfg struct {
	Epochs int     `hcl:"epochs,optional"`
	Factor float64 `hcl:"factor,optional"`
}

type testCfg struct {
	TMax       int       `hcl:"t_max" doc:"period in epochs"`
	EtaMin     float64   `hcl:"eta_min,optional"`
	Milestones []int     `hcl:"milestones,optional"`
	Name       string    `hcl:"name,optional"`
	Warmup     *warmCfg  `hcl:"warmup,block"`
	Specs      []warmCfg `hcl:"spec,block"`
}

func (c *testCfg) Validate() error {
	if c.TMax <= 0 {
		return errorString("t_max must be > 0")
	}
	return nil
}

type errorString string

func (e errorString) Error() string { return string(e) }

func newTestRegistry(t *testing.T) *Registry[func(any) string] {
	t.Helper()
	r := &Registry[func(any) string]{kind: "scheduler", entries: map[string]*Entry[func(any) string]{}}
	r.Register(Spec{Name: "cosine", Summary: "cosine annealing", Config: func() any { return &testCfg{EtaMin: 0.5, Name: "x"} }},
		func(cfg any) string { return As[testCfg](cfg).Name })
	r.Register(Spec{Name: "multi-step", Summary: "steps"}, func(any) string { return "ms" })
	return r
}

func TestLookupAndSuggestions(t *testing.T) {
	r := newTestRegistry(t)
	if _, err := r.Get("cosine"); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, want string }{
		{"cosin", `unknown scheduler "cosin"; did you mean "cosine"? (known: cosine, multi-step)`},
		{"multi_step", `did you mean "multi-step"?`},
		{"MultiStep", `did you mean "multi-step"?`},
		{"linear", `unknown scheduler "linear" (known: cosine, multi-step)`},
	}
	for _, c := range cases {
		_, err := r.Get(c.name)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Get(%q) = %v, want it to contain %q", c.name, err, c.want)
		}
		if ue, ok := err.(*UnknownError); !ok || ue.Kind != "scheduler" || len(ue.Known) != 2 {
			t.Errorf("Get(%q): want *UnknownError with the known names, got %#v", c.name, err)
		}
	}
}

func TestRegisterPanicsOnDuplicateAndBadConfig(t *testing.T) {
	r := newTestRegistry(t)
	mustPanic(t, "duplicate", func() { r.Register(Spec{Name: "cosine"}, nil) })
	mustPanic(t, "empty name", func() { r.Register(Spec{}, nil) })
	type bad struct {
		C chan int `hcl:"c,optional"`
	}
	mustPanic(t, "bad config", func() { r.Register(Spec{Name: "bad", Config: func() any { return &bad{} }}, nil) })
	type reserved struct {
		T string `hcl:"type,optional"`
	}
	mustPanic(t, "reserved name", func() { r.Register(Spec{Name: "r", Config: func() any { return &reserved{} }}, nil) })
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: expected a panic", what)
		}
	}()
	f()
}

func TestDecodeConfig(t *testing.T) {
	r := newTestRegistry(t)
	e, cfg, err := r.Resolve(Ref{Type: "cosine", Options: map[string]any{
		"t_max":      200,
		"milestones": []int{1, 2},
		"warmup":     map[string]any{"epochs": 5},
		"spec":       []any{map[string]any{"epochs": 1}, map[string]any{"factor": 0.5}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.(*testCfg)
	if c.TMax != 200 || c.EtaMin != 0.5 || c.Name != "x" || c.Warmup == nil || c.Warmup.Epochs != 5 || len(c.Specs) != 2 || c.Specs[1].Factor != 0.5 {
		t.Fatalf("decoded %+v", c)
	}
	if got := e.Factory(cfg); got != "x" {
		t.Fatalf("factory gave %q", got)
	}

	bad := []struct {
		opts map[string]any
		want string
	}{
		{map[string]any{"t_max": 1, "eta_mn": 0.1}, `unknown option "eta_mn"; did you mean "eta_min"? (valid: eta_min, milestones, name, spec, t_max, warmup)`},
		{map[string]any{}, `missing required option "t_max"`},
		{map[string]any{"t_max": 0}, "t_max must be > 0"},
		{map[string]any{"t_max": 1, "warmup": map[string]any{"epoch": 1}}, `unknown option "warmup.epoch"; did you mean "epochs"?`},
		{map[string]any{"t_max": 1, "spec": []any{map[string]any{"x": 1}}}, `unknown option "spec[0].x"`},
		{map[string]any{"t_max": "ten"}, "t_max"},
	}
	for _, b := range bad {
		_, _, err := r.Resolve(Ref{Type: "cosine", Options: b.opts})
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("Resolve(%v) = %v, want it to contain %q", b.opts, err, b.want)
		}
	}
	if _, _, err := r.Resolve(Ref{Type: "multi-step", Options: map[string]any{"x": 1}}); err == nil || !strings.Contains(err.Error(), "takes no options") {
		t.Errorf("options on an option-less component: %v", err)
	}
}

func TestDescribe(t *testing.T) {
	fields, err := Describe(&testCfg{EtaMin: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Field{}
	for _, f := range fields {
		got[f.Name] = f
	}
	if f := got["t_max"]; !f.Required || f.Type != "number" || f.Doc != "period in epochs" {
		t.Errorf("t_max: %+v", f)
	}
	if f := got["eta_min"]; f.Required || f.Default != 0.5 {
		t.Errorf("eta_min: %+v", f)
	}
	if f := got["milestones"]; f.Type != "list(number)" {
		t.Errorf("milestones: %+v", f)
	}
	if f := got["spec"]; f.Type != "list(block)" || len(f.Fields) != 2 {
		t.Errorf("spec: %+v", f)
	}
	if f, err := FieldByPath(fields, []string{"warmup", "epochs"}); err != nil || f.Type != "number" {
		t.Errorf("FieldByPath warmup.epochs = %+v, %v", f, err)
	}
	if _, err := FieldByPath(fields, []string{"warmup", "epoc"}); err == nil || !strings.Contains(err.Error(), `did you mean "epochs"`) {
		t.Errorf("FieldByPath typo: %v", err)
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"mobilenet_v1", "mobilenet_v2", "vgg16", "resnet50"}
	for in, want := range map[string]string{
		"mobilenet_v3": "mobilenet_v1", "MobileNet-V2": "mobilenet_v2", "vgg": "vgg16",
		"resnet": "resnet50", "x": "", "rseent50": "resnet50", "alexnet": "",
	} {
		if got := Suggest(in, names); got != want && !(in == "mobilenet_v3" && got == "mobilenet_v2") {
			t.Errorf("Suggest(%q) = %q, want %q", in, got, want)
		}
	}
	if d := distance("abcd", "abdc"); d != 1 {
		t.Errorf("transposition distance = %d", d)
	}
}
