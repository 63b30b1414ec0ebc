package model

import (
	"math"
	"testing"

	"github.com/ssdrunner/ssdrunner/internal/reftest"
	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// TestSetChannelsLast: every 4-D variable is laid out channels-last afterwards, with its
// values unchanged bit for bit (set_data copies, it does not compute), and the other
// variables are untouched; the forward pass (evaluation mode, hash-initialised weights, the
// hash input) gives the same outputs as the default layout up to float32 rounding: the
// convolutions then run other kernels that sum the same products in another order, so
// each layer differs by a few units in the last place of its magnitude. 1e-4 of the
// outputs' largest magnitude leaves a factor of about 100 over that through the ~30
// layers; a wrong layout (values read in the wrong order) moves outputs by their own size.
func TestSetChannelsLast(t *testing.T) {
	for _, kind := range []string{"mb1_ssd", "mb1_ssd_lite"} {
		t.Run(kind, func(t *testing.T) {
			m := buildVariant(t, kind)
			defer m.Close()
			hashInit(t, m.vs)
			x := hashInput()
			defer x.MustDrop()
			conf0, loc0, err := m.Forward(x, false)
			if err != nil {
				t.Fatal(err)
			}
			defer conf0.MustDrop()
			defer loc0.MustDrop()
			before := map[string][]float64{}
			for name, v := range m.vs.Variables() {
				before[name] = v.Float64Values()
			}
			if err := m.SetChannelsLast(); err != nil {
				t.Fatal(err)
			}
			four := 0
			for name, v := range m.vs.Variables() {
				if v.Dim() == 4 {
					four++
					if !torch.IsChannelsLast(&v) {
						t.Errorf("%s: not channels-last", name)
					}
				}
				got := v.Float64Values()
				for i := range got {
					if math.Float64bits(got[i]) != math.Float64bits(before[name][i]) {
						t.Fatalf("%s: value %d changed from %v to %v", name, i, before[name][i], got[i])
					}
				}
			}
			if four == 0 {
				t.Fatal("no 4-D variable")
			}
			conf, loc, err := m.Forward(x, false)
			if err != nil {
				t.Fatal(err)
			}
			defer conf.MustDrop()
			defer loc.MustDrop()
			for _, c := range []struct {
				name      string
				got, want []float64
			}{{"conf", conf.Float64Values(), conf0.Float64Values()}, {"loc", loc.Float64Values(), loc0.Float64Values()}} {
				if len(c.got) != len(c.want) {
					t.Fatalf("%s: %d values, want %d", c.name, len(c.got), len(c.want))
				}
				d := reftest.Compare(c.got, c.want)
				t.Logf("%s: %d values, max |diff| %.3g of magnitude %.3g (%.2g)", c.name, d.Length, d.Abs, d.Scale, d.Rel)
				if !(d.Rel <= 1e-4) {
					t.Errorf("%s: max |diff| %.3g relative to the largest magnitude, want <= 1e-4", c.name, d.Rel)
				}
			}
		})
	}
}
