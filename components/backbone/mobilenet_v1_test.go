package backbone

import (
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/registry"
)

func buildV1(t *testing.T, opts map[string]any) (*MobileNetV1, *nn.VarStore) {
	t.Helper()
	vs := nn.NewVarStore(gotch.CPU)
	bb, err := Build(registry.Ref{Type: "mobilenet_v1", Options: opts}, vs.Root())
	if err != nil {
		t.Fatal(err)
	}
	return bb.(*MobileNetV1), vs
}

func TestMobileNetV1Structure(t *testing.T) {
	for _, c := range []struct {
		extras string
		want   map[string][]int64
		n      int
	}{
		{"ssd", map[string][]int64{
			"base_net.0.0.weight": {32, 3, 3, 3}, "base_net.0.1.running_mean": {32},
			"base_net.1.0.weight": {32, 1, 3, 3}, "base_net.1.3.weight": {64, 32, 1, 1},
			"base_net.13.4.bias": {1024}, "extras.0.0.weight": {256, 1024, 1, 1},
			"extras.0.2.weight": {512, 256, 3, 3}, "extras.3.2.bias": {256},
		}, 27*5 + 4*4},
		{"ssd_lite", map[string][]int64{
			"extras.0.0.weight": {256, 1024, 1, 1}, "extras.0.2.0.weight": {256, 1, 3, 3},
			"extras.0.2.0.bias": {256}, "extras.0.2.2.weight": {512, 256, 1, 1}, "extras.3.2.2.bias": {256},
		}, 27*5 + 4*6},
	} {
		m, vs := buildV1(t, map[string]any{"extras": c.extras})
		got := map[string][]int64{}
		for name, v := range vs.Variables() {
			got[name] = v.MustSize()
			if strings.HasPrefix(name, "base_net.") && strings.HasSuffix(name, ".bias") && !strings.Contains(name, ".1.") && !strings.Contains(name, ".4.") {
				t.Errorf("%s: base-net convolutions have no bias", name)
			}
		}
		for name, shape := range c.want {
			if !slices.Equal(got[name], shape) {
				t.Errorf("%s: %s has shape %v, want %v", c.extras, name, got[name], shape)
			}
		}
		if len(got) != c.n {
			t.Errorf("%s: %d variables, want %d", c.extras, len(got), c.n)
		}
		if ch := m.Channels(); !slices.Equal(ch, []int{512, 1024, 512, 256, 256, 256}) {
			t.Errorf("channels %v", ch)
		}
		if !slices.Equal(m.Modules(), []string{"base_net", "extras"}) {
			t.Errorf("modules %v", m.Modules())
		}
	}
}

func TestMobileNetV1WidthMult(t *testing.T) {
	m, _ := buildV1(t, map[string]any{"width_mult": 0.25, "extras": "ssd_lite"})
	if ch := m.Channels(); !slices.Equal(ch, []int{128, 256, 512, 256, 256, 256}) {
		t.Errorf("channels %v", ch)
	}
	x := ts.MustRandn([]int64{2, 3, 96, 96}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	feats, err := m.Forward(x, true)
	if err != nil {
		t.Fatal(err)
	}
	defer dropAll(feats)
	wantSizes := []int64{6, 3, 2, 1, 1, 1}
	for i, f := range feats {
		if got := f.MustSize(); !slices.Equal(got, []int64{2, int64(m.Channels()[i]), wantSizes[i], wantSizes[i]}) {
			t.Errorf("feature %d: shape %v", i, got)
		}
	}
}

func TestMobileNetV1Errors(t *testing.T) {
	root := nn.NewVarStore(gotch.CPU).Root()
	for opts, want := range map[string]map[string]any{
		"width_mult must be in":               {"width_mult": 0.0},
		`extras must be "ssd"`:                {"extras": "lite"},
		`did you mean "extras"`:               {"extra": "ssd"},
		"must end at 14":                      {"source_layers": []int{6, 12}},
		"must be increasing":                  {"source_layers": []int{12, 6, 14}},
		"in [2, 14]":                          {"source_layers": []int{0, 14}},
		`stem must be "separable" or "fused"`: {"stem": "dense"},
		"top_down needs at least two":         {"top_down": true, "source_layers": []int{14}},
	} {
		if _, err := Build(registry.Ref{Type: "mobilenet_v1", Options: want}, root); err == nil || !strings.Contains(err.Error(), opts) {
			t.Errorf("options %v: %v, want an error containing %q", want, err, opts)
		}
	}
	m, _ := buildV1(t, nil)
	x := ts.MustZeros([]int64{3, 32, 32}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	if _, err := m.Forward(x, false); err == nil || !strings.Contains(err.Error(), "[B,3,H,W]") {
		t.Errorf("3-d input: %v", err)
	}
}
