// Package evalreport is the glue between components/metric and reports: reports keeps
// its own input types and imports nothing of this project, so whoever charts a metric's
// result converts it here.
package evalreport

import (
	"github.com/ssdrunner/ssdrunner/components/metric"
	"github.com/ssdrunner/ssdrunner/reports"
)

// Eval converts the result of one evaluation of run (weights from epoch) into the input
// of the reports charts: the headline value as the mAP and the per-class results in the
// metric's order. The precision–recall slices are shared, not copied.
func Eval(run string, epoch int, r metric.Result) reports.Eval {
	e := reports.Eval{Run: run, Epoch: epoch, MAP: r.Value, Classes: make([]reports.ClassAP, len(r.PerClass))}
	for i, c := range r.PerClass {
		e.Classes[i] = reports.ClassAP{Class: c.Class, AP: c.AP, Precision: c.Precision, Recall: c.Recall}
	}
	return e
}
