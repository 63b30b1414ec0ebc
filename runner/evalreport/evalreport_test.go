package evalreport

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/ssdrunner/ssdrunner/components/metric"
	"github.com/ssdrunner/ssdrunner/reports"
)

func TestEval(t *testing.T) {
	r := metric.Result{Metric: "voc", Value: 0.5, PerClass: []metric.ClassResult{
		{Class: "cat", AP: 0.75, Precision: []float64{1, 0.5}, Recall: []float64{0.5, 1}},
		{Class: "dog", AP: 0.25},
	}}
	got := Eval("run1", 3, r)
	want := reports.Eval{Run: "run1", Epoch: 3, MAP: 0.5, Classes: []reports.ClassAP{
		{Class: "cat", AP: 0.75, Precision: []float64{1, 0.5}, Recall: []float64{0.5, 1}},
		{Class: "dog", AP: 0.25},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Eval = %+v, want %+v", got, want)
	}
	// The converted value is valid input for a chart.
	var buf bytes.Buffer
	if err := reports.PerClassAP(&buf, got); err != nil {
		t.Fatalf("charting the converted result: %v", err)
	}
}
