package target

import (
	"math"
	"strings"
	"testing"
)

func TestCheckBoxes(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, c := range []struct {
		name  string
		boxes [][4]float32
		want  []string // substrings of the error; nil: valid
	}{
		{"empty", nil, nil},
		{"good", [][4]float32{{0, 0, 1, 1}, {0.1, 0.2, 0.3, 0.4}}, nil},
		{"within tolerance", [][4]float32{{-1e-7, 0, 1 + 1e-7, 1}}, nil},
		{"tiny but positive", [][4]float32{{0.5, 0.5, 0.5000001, 0.5000001}}, nil},
		{"zero width", [][4]float32{{0.1, 0.1, 0.5, 0.5}, {0.2, 0.1, 0.2, 0.5}},
			[]string{`image "img7"`, "box 1", "[0.2 0.1 0.2 0.5]", "zero or negative width"}},
		{"negative height", [][4]float32{{0.1, 0.6, 0.5, 0.5}}, []string{"box 0", "zero or negative height"}},
		{"NaN", [][4]float32{{0.1, nan, 0.5, 0.5}}, []string{"box 0", "NaN"}},
		{"Inf", [][4]float32{{0.1, 0.1, inf, 0.5}}, []string{"NaN or infinite"}},
		{"outside", [][4]float32{{0.1, 0.1, 1.01, 0.5}}, []string{"[0.1 0.1 1.01 0.5]", "outside the image"}},
		{"negative", [][4]float32{{-0.001, 0.1, 0.5, 0.5}}, []string{"outside the image"}},
		{"several", [][4]float32{{0, 0, 1, 1}, {0.5, 0.5, 0.4, 0.6}, {0, 0, 0, 0}, {0, 0, 2, 2}},
			[]string{"box 1", "and 2 more bad boxes of 4"}},
	} {
		err := CheckBoxes("img7", c.boxes)
		if c.want == nil {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", c.name, err, w)
			}
		}
	}
}
