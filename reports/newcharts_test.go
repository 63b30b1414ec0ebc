package reports

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"math/rand"
	"strings"
	"testing"
)

// TestPRGrid checks the small multiples: one shaded panel per class in a grid whose columns
// follow the class count, and a panel without detections for a class without curve points.
func TestPRGrid(t *testing.T) {
	for _, c := range []struct {
		n, cols int
	}{{1, 1}, {8, 4}, {20, 6}, {80, 8}} {
		e := synthEval("grid", 3, int64(c.n), 0.6, cocoClasses(c.n))
		img := decodePNG(t, render(t, func(w io.Writer) error { return PRGrid(w, e) }))
		// The shaded areas under the curves are colFill: a line across a row of panels
		// crosses one shaded area per panel.
		b := img.Bounds()
		rows := 0
		for y := b.Min.Y; y < b.Max.Y; y++ {
			runs, in := 0, false
			for x := b.Min.X; x < b.Max.X; x++ {
				s := sameColor(img, x, y, colFill)
				if s && !in {
					runs++
				}
				in = s
			}
			rows = max(rows, runs)
		}
		if rows != c.cols {
			t.Errorf("%d classes: %d panels on the first row, want %d", c.n, rows, c.cols)
		}
		if c.n == 80 && b.Dx() > 1300 {
			t.Errorf("80 classes: %d px wide, more than a laptop screen", b.Dx())
		}
	}
	// A class without detections, a class of one point, AP 0 and 1: no error, no NaN.
	e := Eval{Run: "edge", Classes: []ClassAP{{Class: "none"}, {Class: "one", AP: 0.25, Precision: []float64{1}, Recall: []float64{0.25}},
		{Class: "perfect", AP: 1, Precision: []float64{1, 1}, Recall: []float64{0.5, 1}}}, MAP: 0.4167}
	svg := render(t, func(w io.Writer) error { return Charts{Format: SVG}.PRGrid(w, e) })
	checkSVG(t, svg)
	if !strings.Contains(string(svg), "no detections") || strings.Contains(string(svg), "NaN") {
		t.Errorf("edge-case grid: no 'no detections' or a NaN in the SVG")
	}
	if err := PRGrid(io.Discard, Eval{Run: "empty"}); err == nil {
		t.Errorf("PRGrid accepted an eval without classes")
	}
}

// TestPerClassAPColumns checks the layout of many classes: ranked by AP, best first, in
// columns of at most 100 rows, every bar drawn to scale on its column's 260-px axis.
func TestPerClassAPColumns(t *testing.T) {
	e := Eval{Run: "oi", MAP: 0.5}
	for i := 0; i < 601; i++ {
		e.Classes = append(e.Classes, ClassAP{Class: fmt.Sprintf("Open Images class %d", i), AP: float64(i%101) / 100})
	}
	img := decodePNG(t, render(t, func(w io.Writer) error { return PerClassAP(w, e) }))
	b := img.Bounds()
	if b.Dy() > 86*colRowH+300 || b.Dy() < 86*colRowH {
		t.Errorf("601 classes: %dx%d, want 7 columns of 86 rows of %d px", b.Dx(), b.Dy(), colRowH)
	}
	// The first row of bars crosses every column: the best of each column, ranked. Bars are
	// colBar runs along a line through the row's centre.
	header := header("x") + 46
	y := header + colRowH/2
	var lengths []int
	n := 0
	for x := b.Min.X; x < b.Max.X; x++ {
		if sameColor(img, x, y, colBar) {
			n++
		} else if n > 0 {
			lengths = append(lengths, n)
			n = 0
		}
	}
	if len(lengths) != 7 {
		t.Fatalf("first row: %d bars %v, want 7 (one per column)", len(lengths), lengths)
	}
	// Column k starts at rank 86k: the APs are 1.00 (rank 0: six classes have AP 1), then
	// decreasing; AP = length / 260 within 2 px.
	if math.Abs(float64(lengths[0]-colPlotW)) > 2 {
		t.Errorf("best bar %d px, want %d", lengths[0], colPlotW)
	}
	for k := 1; k < len(lengths); k++ {
		if lengths[k] > lengths[k-1] {
			t.Errorf("column %d starts with a longer bar (%d px) than column %d (%d px): not ranked", k, lengths[k], k-1, lengths[k-1])
		}
	}
}

// TestLines checks the real-valued line chart: its errors and degenerate inputs.
func TestLines(t *testing.T) {
	pts := func(xy ...float64) []XY {
		var out []XY
		for i := 0; i+1 < len(xy); i += 2 {
			out = append(out, XY{xy[i], xy[i+1]})
		}
		return out
	}
	good := []XYSeries{{Run: "r", Name: "heads", Points: pts(1, 0.01, 500, 0.005, 1000, 0)}, {Run: "r", Name: "base", Points: pts(1, 0.001)}}
	img := decodePNG(t, render(t, func(w io.Writer) error { return Lines(w, "lr", "step", "learning rate", good) }))
	if img.Bounds().Dx() < 700 {
		t.Errorf("chart %v", img.Bounds())
	}
	for name, s := range map[string][]XYSeries{
		"one point":  {{Points: pts(3, 3)}},
		"same x":     {{Points: pts(2, 1, 2, 5)}},
		"zeros":      {{Points: pts(0, 0, 0, 0)}},
		"tiny range": {{Points: pts(1e-9, 1, 2e-9, 1)}},
	} {
		svg := render(t, func(w io.Writer) error { return Charts{Format: SVG}.Lines(w, name, "", "", s) })
		checkSVG(t, svg)
		if strings.Contains(string(svg), "NaN") {
			t.Errorf("%s: NaN in the SVG", name)
		}
	}
	for name, s := range map[string][]XYSeries{
		"none":     nil,
		"empty":    {{Name: "e"}},
		"NaN x":    {{Points: pts(math.NaN(), 1)}},
		"Inf y":    {{Points: pts(1, math.Inf(1))}},
		"too many": make([]XYSeries, maxLines+1),
	} {
		if err := Lines(io.Discard, name, "", "", s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestNewChartsRandomInputs feeds the random and edge-case inputs of TestRandomInputs to
// PRGrid and Lines, and random confusion matrices to Confusion: each call returns an error
// and writes nothing, or writes a valid image.
func TestNewChartsRandomInputs(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	var ok, failed int
	for iter := 0; iter < 90; iter++ {
		ch := Charts{Format: Format(iter % 2)}
		var draw func(io.Writer) error
		switch iter % 3 {
		case 0:
			var xs []XYSeries
			for _, s := range randomSeries(rng) {
				x := XYSeries{Run: s.Run, Name: s.Name}
				for _, p := range s.Points {
					x.Points = append(x.Points, XY{float64(p.Epoch) * rng.Float64(), p.Value})
				}
				xs = append(xs, x)
			}
			draw = func(w io.Writer) error { return ch.Lines(w, "random", "x", "y", xs) }
		case 1:
			e := randomEval(rng, "a")
			draw = func(w io.Writer) error { return ch.PRGrid(w, e) }
		case 2:
			cm := randomConfusion(rng)
			draw = func(w io.Writer) error { return ch.Confusion(w, cm) }
		}
		var b bytes.Buffer
		err := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic: %v", r)
					t.Errorf("iteration %d panicked: %v", iter, r)
				}
			}()
			return draw(&b)
		}()
		switch {
		case err != nil:
			failed++
			if b.Len() != 0 {
				t.Errorf("iteration %d: error %v but wrote %d bytes", iter, err, b.Len())
			}
		case ch.Format == PNG:
			ok++
			decodePNG(t, b.Bytes())
		default:
			ok++
			checkSVG(t, b.Bytes())
		}
	}
	if ok < 15 || failed < 15 {
		t.Errorf("random inputs not mixed enough: %d drawn, %d rejected", ok, failed)
	}
}
