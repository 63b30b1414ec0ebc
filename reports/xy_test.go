package reports

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestXYCharts(t *testing.T) {
	cases := map[string]XYChart{
		"log x": {Title: "best mAP against optimizer.lr", XName: "optimizer.lr", YName: "best mAP", LogX: true,
			Series: []XYChartSeries{{Name: "finished", X: []float64{1e-4, 3e-3, 0.1}, Y: []float64{0.1, 0.3, 0.2}, Scatter: true},
				{Name: "stopped early", X: []float64{2e-2}, Y: []float64{0.05}, Scatter: true}}},
		"log x within a decade": {LogX: true, Series: []XYChartSeries{{X: []float64{0.002, 0.003, 0.0045}, Y: []float64{1, 2, 3}}}},
		"log x one value":       {LogX: true, Series: []XYChartSeries{{X: []float64{0.01, 0.01}, Y: []float64{1, 2}, Scatter: true}}},
		"categories": {XName: "model.backbone.type", Categories: []string{"mobilenet_v1", "mobilenet_v2", "vgg16"},
			Series: []XYChartSeries{{X: []float64{0, 2, 2}, Y: []float64{0.4, 0.5, 0.45}, Scatter: true}}},
		"integer x, one point, all zero": {IntegerX: true, Series: []XYChartSeries{{X: []float64{1}, Y: []float64{0}}}},
		"best so far": {IntegerX: true, Series: []XYChartSeries{{Name: "best so far", X: []float64{1, 2, 3}, Y: []float64{0.1, 0.1, 0.3}},
			{Name: "trial", X: []float64{1, 2, 3}, Y: []float64{0.1, 0.05, 0.3}, Scatter: true}}},
	}
	for name, c := range cases {
		for _, f := range []Format{PNG, SVG} {
			var a, b bytes.Buffer
			if err := (Charts{Format: f}).XY(&a, c); err != nil {
				t.Errorf("%s (%s): %v", name, f, err)
				continue
			}
			if err := (Charts{Format: f}).XY(&b, c); err != nil || !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Errorf("%s (%s): not deterministic", name, f)
			}
			if f == SVG && (strings.Contains(a.String(), "NaN") || strings.Contains(a.String(), "Inf")) {
				t.Errorf("%s: NaN or Inf in the SVG", name)
			}
		}
	}
	var b bytes.Buffer
	if err := (Charts{Format: SVG}).XY(&b, cases["log x"]); err != nil {
		t.Fatal(err)
	}
	// decade ticks labelled with the values themselves
	for _, want := range []string{">0.0001<", ">0.001<", ">0.01<", ">0.1<"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("log axis lacks the tick %s", want)
		}
	}
}

func TestXYErrors(t *testing.T) {
	cases := map[string]XYChart{
		"no series":         {},
		"no points":         {Series: []XYChartSeries{{Name: "a"}}},
		"lengths":           {Series: []XYChartSeries{{X: []float64{1, 2}, Y: []float64{1}}}},
		"NaN":               {Series: []XYChartSeries{{X: []float64{1}, Y: []float64{math.NaN()}}}},
		"Inf x":             {Series: []XYChartSeries{{X: []float64{math.Inf(1)}, Y: []float64{1}}}},
		"log of 0":          {LogX: true, Series: []XYChartSeries{{X: []float64{0, 1}, Y: []float64{1, 2}}}},
		"category 3 of 2":   {Categories: []string{"a", "b"}, Series: []XYChartSeries{{X: []float64{3}, Y: []float64{1}}}},
		"category 0.5":      {Categories: []string{"a", "b"}, Series: []XYChartSeries{{X: []float64{0.5}, Y: []float64{1}}}},
		"log 1e-300..1e300": {LogX: true, Series: []XYChartSeries{{X: []float64{1e-300, 1e300}, Y: []float64{1, 2}}}},
	}
	for name, c := range cases {
		var b bytes.Buffer
		if err := (Charts{}).XY(&b, c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
