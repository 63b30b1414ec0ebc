package reports

import (
	"fmt"
	"io"
	"strings"
)

// Format is a chart file format.
type Format int

const (
	// PNG is a raster image (the default).
	PNG Format = iota
	// SVG is a vector image; its text uses the Roboto font when the viewer has it, sans-serif otherwise.
	SVG
)

// String returns "png" or "svg".
func (f Format) String() string {
	switch f {
	case PNG:
		return "png"
	case SVG:
		return "svg"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Ext returns the file name extension of the format, with its dot: ".png" or ".svg".
func (f Format) Ext() string { return "." + f.String() }

// ParseFormat parses "png" or "svg" (any case, with or without a leading dot).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimPrefix(s, ".")) {
	case "png":
		return PNG, nil
	case "svg":
		return SVG, nil
	}
	return 0, fmt.Errorf("reports: unknown chart format %q (want png or svg)", s)
}

// Charts draws the report charts in one format. The zero value draws PNG.
type Charts struct {
	Format Format
}

// PerClassAP writes a PNG bar chart of AP per class; see Charts.PerClassAP.
func PerClassAP(w io.Writer, e Eval) error { return Charts{}.PerClassAP(w, e) }

// CompareAP writes a PNG chart of the per-class AP of several runs; see Charts.CompareAP.
func CompareAP(w io.Writer, evals []Eval) error { return Charts{}.CompareAP(w, evals) }

// PRCurves writes a PNG chart of precision–recall curves; see Charts.PRCurves.
func PRCurves(w io.Writer, e Eval, classes ...string) error {
	return Charts{}.PRCurves(w, e, classes...)
}

// Curves writes a PNG line chart of metrics over epochs; see Charts.Curves.
func Curves(w io.Writer, title, yLabel string, series []Series) error {
	return Charts{}.Curves(w, title, yLabel, series)
}

// PRGrid writes a PNG of precision–recall small multiples; see Charts.PRGrid.
func PRGrid(w io.Writer, e Eval) error { return Charts{}.PRGrid(w, e) }

// Lines writes a PNG line chart over a real-valued x; see Charts.Lines.
func Lines(w io.Writer, title, xLabel, yLabel string, series []XYSeries) error {
	return Charts{}.Lines(w, title, xLabel, yLabel, series)
}

// Confusion writes a PNG of a detection confusion matrix; see Charts.Confusion.
func Confusion(w io.Writer, m ConfusionMatrix) error { return Charts{}.Confusion(w, m) }
