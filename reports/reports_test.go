package reports

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/wcharczuk/go-chart/v2/drawing"
)

// render runs draw into a buffer.
func render(t *testing.T, draw func(w io.Writer) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := draw(&b); err != nil {
		t.Fatalf("render: %v", err)
	}
	return b.Bytes()
}

// countColor counts the pixels of img that have exactly colour c.
func countColor(img image.Image, c drawing.Color) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if sameColor(img, x, y, c) {
				n++
			}
		}
	}
	return n
}

func sameColor(img image.Image, x, y int, c drawing.Color) bool {
	r, g, b, a := img.At(x, y).RGBA()
	return uint8(r>>8) == c.R && uint8(g>>8) == c.G && uint8(b>>8) == c.B && uint8(a>>8) == 255
}

// colorRuns returns, for each block of consecutive image rows that contain colour c, the largest
// number of c pixels in one of its rows: the lengths of horizontal bars of that colour.
func colorRuns(img image.Image, c drawing.Color) []int {
	var runs []int
	in := false
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		n := 0
		for x := b.Min.X; x < b.Max.X; x++ {
			if sameColor(img, x, y, c) {
				n++
			}
		}
		switch {
		case n > 0 && !in:
			runs = append(runs, n)
			in = true
		case n > 0:
			runs[len(runs)-1] = max(runs[len(runs)-1], n)
		default:
			in = false
		}
	}
	return runs
}

func TestPerClassAPPNG(t *testing.T) {
	e := vocEval("vgg16-ssd", 199, 1, 0.7)
	img := decodePNG(t, render(t, func(w io.Writer) error { return PerClassAP(w, e) }))
	b := img.Bounds()
	if b.Dx() < 700 || b.Dx() > 900 || b.Dy() < 20*rowH || b.Dy() > 20*rowH+250 {
		t.Errorf("VOC chart is %dx%d, want about 760 wide and 20*%d+200 tall", b.Dx(), b.Dy(), rowH)
	}
	// The image grows by exactly one row per class.
	coco := synthEval("coco", 1, 2, 0.5, cocoClasses(80))
	img80 := decodePNG(t, render(t, func(w io.Writer) error { return PerClassAP(w, coco) }))
	// 80 classes add 60 rows and the repeated tick labels above a tall plot (20 px).
	if got, want := img80.Bounds().Dy()-b.Dy(), 60*rowH+20; got != want {
		t.Errorf("80 classes are %d px taller than 20, want %d", got, want)
	}
}

// TestPerClassAPBarLengths checks that bars are drawn to scale: AP 1 spans the whole AP axis
// (600 px), AP 0.5 half of it, AP 0.25 a quarter, within 2 px.
func TestPerClassAPBarLengths(t *testing.T) {
	e := Eval{Run: "r", MAP: 0.5833, Classes: []ClassAP{{Class: "a", AP: 1}, {Class: "b", AP: 0.5}, {Class: "c", AP: 0.25}}}
	img := decodePNG(t, render(t, func(w io.Writer) error { return PerClassAP(w, e) }))
	runs := colorRuns(img, colBar)
	want := []int{600, 300, 150}
	if len(runs) != len(want) {
		t.Fatalf("found %d bars %v, want 3", len(runs), runs)
	}
	for i := range want {
		if math.Abs(float64(runs[i]-want[i])) > 2 {
			t.Errorf("bar %d is %d px long, want %d±2", i, runs[i], want[i])
		}
	}
}

func TestCompareAPPNG(t *testing.T) {
	a, b, c := vocEval("a", 10, 1, 0.7), vocEval("b", 10, 2, 0.6), vocEval("c", 20, 3, 0.65)
	c.Classes = c.Classes[:18]
	img := decodePNG(t, render(t, func(w io.Writer) error { return CompareAP(w, []Eval{a, b, c}) }))
	bandH := 3*12 + 2*barGap + bandPad
	if h := img.Bounds().Dy(); h < 21*bandH || h > 21*bandH+300 {
		t.Errorf("height %d, want 21 groups of %d px plus about 250", h, bandH)
	}
	// A legend swatch, then one bar per run and group: 21 for a and b (mAP + 20 classes), 19 for c
	// (2 classes missing).
	for r, want := range []int{21, 21, 19} {
		if got := len(colorRuns(img, palette[r])) - 1; got != want {
			t.Errorf("run %d: %d bars, want %d", r, got, want)
		}
	}
}

func TestCompareAPUnionOrder(t *testing.T) {
	a := Eval{Run: "a", MAP: 0.5, Classes: []ClassAP{{Class: "cat", AP: 0.5}, {Class: "dog", AP: 0.5}}}
	b := Eval{Run: "b", MAP: 0.5, Classes: []ClassAP{{Class: "bird", AP: 0.4}, {Class: "cat", AP: 0.6}}}
	img := decodePNG(t, render(t, func(w io.Writer) error { return CompareAP(w, []Eval{a, b}) }))
	// Groups: mAP, cat, dog, bird. Run a has bars in mAP, cat, dog; run b in mAP, cat, bird.
	ra, rb := colorRuns(img, palette[0])[1:], colorRuns(img, palette[1])[1:] // [0] is the legend swatch
	if len(ra) != 3 || len(rb) != 3 {
		t.Fatalf("bars: run a %v, run b %v; want 3 each", ra, rb)
	}
	// Bird (0.4 → 240 px) is b's last bar; dog (0.5 → 300 px) is a's last.
	if math.Abs(float64(rb[2]-240)) > 2 || math.Abs(float64(ra[2]-300)) > 2 {
		t.Errorf("last bars: a %d px (dog, want 300), b %d px (bird, want 240)", ra[2], rb[2])
	}
}

func TestPRCurvesPNG(t *testing.T) {
	e := vocEval("vgg16-ssd", 199, 1, 0.7)
	img := decodePNG(t, render(t, func(w io.Writer) error { return PRCurves(w, e) }))
	if b := img.Bounds(); b.Dx() < 700 || b.Dy() < 600 {
		t.Errorf("PR chart is %dx%d, want at least 700x600", b.Dx(), b.Dy())
	}
	// The first ten classes are drawn in the ten palette colours.
	for i := 0; i < 10; i++ {
		if countColor(img, palette[i]) < 50 {
			t.Errorf("colour of class %d barely present", i)
		}
	}
	// Chosen classes: only their colours.
	img = decodePNG(t, render(t, func(w io.Writer) error { return PRCurves(w, e, "dog", "cat", "dog") }))
	if countColor(img, palette[0]) < 50 || countColor(img, palette[1]) < 50 || countColor(img, palette[2]) > 0 {
		t.Errorf("with 2 chosen classes, want colours 0 and 1 only")
	}
}

func TestPRCurvesManyClasses(t *testing.T) {
	e := synthEval("coco", 1, 4, 0.5, cocoClasses(80))
	shown, others, note, err := pickPRClasses(e, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(shown) != 20 || len(others) != 60 || !strings.Contains(note, "20 of 80") {
		t.Fatalf("shown %d, others %d, note %q; want 20, 60, 20 of 80", len(shown), len(others), note)
	}
	minShown, maxOther, minOther := 1.0, 0.0, 1.0
	for _, i := range others {
		maxOther, minOther = math.Max(maxOther, e.Classes[i].AP), math.Min(minOther, e.Classes[i].AP)
	}
	best, worst := 0, 0
	for k, i := range shown {
		if k > 0 && i <= shown[k-1] {
			t.Errorf("shown classes not in eval order: %v", shown)
		}
		minShown = math.Min(minShown, e.Classes[i].AP)
		if e.Classes[i].AP >= maxOther {
			best++
		}
		if e.Classes[i].AP <= minOther {
			worst++
		}
	}
	if best != 10 || worst != 10 {
		t.Errorf("%d shown classes beat every other class and %d are below all; want 10 and 10", best, worst)
	}
	decodePNG(t, render(t, func(w io.Writer) error { return PRCurves(w, e) }))
	if countColorAt := countColor(decodePNG(t, render(t, func(w io.Writer) error { return PRCurves(w, e) })), colOther); countColorAt < 100 {
		t.Errorf("other classes not drawn in grey (%d px)", countColorAt)
	}
}

func TestCurvesPNG(t *testing.T) {
	la, ma := trainingSeries("a", 60, 1)
	lb, mb := trainingSeries("b", 40, 0.5)
	img := decodePNG(t, render(t, func(w io.Writer) error {
		return Curves(w, "loss and mAP", "value", []Series{la, ma, lb, mb})
	}))
	if b := img.Bounds(); b.Dx() < 900 || b.Dy() < 500 {
		t.Errorf("curves chart is %dx%d, want at least 900x500", b.Dx(), b.Dy())
	}
	// Colour per run: a's two series share palette[0], b's share palette[1]; nothing in palette[2].
	if countColor(img, palette[0]) < 100 || countColor(img, palette[1]) < 100 || countColor(img, palette[2]) > 0 {
		t.Errorf("want runs coloured 0 and 1 only")
	}
}

func TestSeriesLabelsAndStyles(t *testing.T) {
	s := func(run, name string) Series { return Series{Run: run, Name: name, Points: []Point{{0, 1}}} }
	cases := []struct {
		in   []Series
		want []string
	}{
		{[]Series{s("a", "loss"), s("a", "mAP")}, []string{"loss", "mAP"}},
		{[]Series{s("a", "loss"), s("b", "loss")}, []string{"a", "b"}},
		{[]Series{s("a", "loss"), s("b", "mAP")}, []string{"a · loss", "b · mAP"}},
		{[]Series{s("", ""), s("", "")}, []string{"series 1", "series 2"}},
		{[]Series{s("a", "x"), s("a", "x")}, []string{"x #1", "x #2"}},
	}
	for _, c := range cases {
		got := seriesLabels(c.in)
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("labels %v, want %v", got, c.want)
		}
	}
	st := seriesStyles([]Series{s("a", "loss"), s("a", "mAP"), s("b", "loss"), s("b", "mAP")})
	if st[0].color != st[1].color || st[0].color == st[2].color || len(st[0].dash) != 0 || len(st[1].dash) == 0 ||
		len(st[3].dash) != len(st[1].dash) {
		t.Errorf("styles by run and name wrong: %+v", st)
	}
}

func TestRunLabels(t *testing.T) {
	got, withEpoch := runLabels([]Eval{{Run: "a", Epoch: 1}, {Run: "a", Epoch: 2}, {Run: ""}, {Run: "b", Epoch: 3}, {Run: "b", Epoch: 3}})
	want := []string{"a @ epoch 1", "a @ epoch 2", "run 3", "b @ epoch 3 #1", "b @ epoch 3 #2"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("runLabels = %q, want %q", got, want)
	}
	if fmt.Sprint(withEpoch) != "[true true false true true]" {
		t.Errorf("withEpoch = %v", withEpoch)
	}
}

func TestDeterministic(t *testing.T) {
	a, b := vocEval("a", 1, 1, 0.7), vocEval("b", 1, 2, 0.6)
	la, ma := trainingSeries("a", 30, 1)
	draws := map[string]func(Charts, io.Writer) error{
		"PerClassAP": func(ch Charts, w io.Writer) error { return ch.PerClassAP(w, a) },
		"CompareAP":  func(ch Charts, w io.Writer) error { return ch.CompareAP(w, []Eval{a, b}) },
		"PRCurves":   func(ch Charts, w io.Writer) error { return ch.PRCurves(w, a) },
		"Curves":     func(ch Charts, w io.Writer) error { return ch.Curves(w, "t", "y", []Series{la, ma}) },
		"Confusion":  func(ch Charts, w io.Writer) error { return ch.Confusion(w, shapesConfusion()) },
	}
	for name, draw := range draws {
		for _, f := range []Format{PNG, SVG} {
			ch := Charts{Format: f}
			first := render(t, func(w io.Writer) error { return draw(ch, w) })
			second := render(t, func(w io.Writer) error { return draw(ch, w) })
			if !bytes.Equal(first, second) {
				t.Errorf("%s %v: two renders differ", name, f)
			}
		}
	}
}

// TestConcurrent renders in parallel goroutines and compares with a sequential render.
func TestConcurrent(t *testing.T) {
	e := vocEval("a", 1, 1, 0.7)
	want := render(t, func(w io.Writer) error { return PRCurves(w, e) })
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			var b bytes.Buffer
			err := PRCurves(&b, e)
			if err == nil && !bytes.Equal(b.Bytes(), want) {
				err = errors.New("concurrent render differs")
			}
			errs <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// checkSVG fails unless b is well-formed XML with an <svg> root.
func checkSVG(t *testing.T, b []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	root := ""
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		t.Fatalf("SVG root element is %q", root)
	}
}

func TestSVG(t *testing.T) {
	e := Eval{Run: `<run & "co">`, MAP: 0.5, Classes: []ClassAP{
		{Class: "a<b>&c", AP: 0.5, Precision: []float64{1, 0.5}, Recall: []float64{0.2, 0.6}},
		{Class: "d", AP: 0.5, Precision: []float64{0.9}, Recall: []float64{0.4}},
	}}
	ch := Charts{Format: SVG}
	checkSVG(t, render(t, func(w io.Writer) error { return ch.PerClassAP(w, e) }))
	checkSVG(t, render(t, func(w io.Writer) error { return ch.CompareAP(w, []Eval{e, e}) }))
	checkSVG(t, render(t, func(w io.Writer) error { return ch.PRCurves(w, e) }))
	checkSVG(t, render(t, func(w io.Writer) error {
		return ch.Curves(w, "<t>", "&y", []Series{{Run: "<r>", Name: "n&", Points: []Point{{1, 2}, {2, 3}}}})
	}))
	checkSVG(t, render(t, func(w io.Writer) error {
		return ch.Confusion(w, ConfusionMatrix{Run: "<r>", ScoreThreshold: 0.5, IoUThreshold: 0.5,
			Classes: []string{"<bg>", "a<b>&c"}, Counts: [][]int{{0, 1}, {2, 3}}})
	}))
}

func TestFormat(t *testing.T) {
	for in, want := range map[string]Format{"png": PNG, ".SVG": SVG, "Png": PNG} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseFormat("jpg"); err == nil {
		t.Error("ParseFormat(jpg) succeeded")
	}
	if PNG.Ext() != ".png" || SVG.Ext() != ".svg" {
		t.Error("Ext")
	}
	var b bytes.Buffer
	if err := (Charts{Format: Format(7)}).PerClassAP(&b, vocEval("a", 1, 1, 0.5)); err == nil {
		t.Error("unknown format accepted")
	}
}
