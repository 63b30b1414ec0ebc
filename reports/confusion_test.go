package reports

import (
	"bytes"
	"fmt"
	"image"
	"io"
	"math"
	"math/rand"
	"strings"
	"testing"
)

// shapesConfusion is the quickstart's matrix in README.md (8 shapes, 200 validation images).
func shapesConfusion() ConfusionMatrix {
	return ConfusionMatrix{Run: "quickstart", Epoch: 14, ScoreThreshold: 0.25, IoUThreshold: 0.5,
		Classes: []string{"BACKGROUND", "circle", "ellipse", "square", "triangle", "hexagon", "star", "cross", "ring"},
		Counts: [][]int{
			{0, 114, 74, 113, 67, 121, 69, 133, 115},
			{33, 19, 6, 12, 3, 16, 1, 0, 1},
			{48, 5, 14, 3, 2, 4, 1, 2, 10},
			{44, 9, 2, 9, 4, 14, 2, 3, 1},
			{59, 1, 2, 3, 5, 3, 2, 1, 5},
			{32, 11, 2, 6, 1, 12, 2, 2, 1},
			{54, 2, 3, 2, 4, 3, 12, 9, 5},
			{57, 1, 2, 3, 2, 2, 8, 11, 4},
			{44, 3, 5, 2, 1, 2, 6, 1, 23},
		}}
}

// squareConfusion has the background and the given classes, every count k.
func squareConfusion(classes []string, k int) ConfusionMatrix {
	n := len(classes) + 1
	cm := ConfusionMatrix{Run: "sq", Epoch: 1, ScoreThreshold: 0.25, IoUThreshold: 0.5, Classes: append([]string{"BACKGROUND"}, classes...)}
	for t := 0; t < n; t++ {
		row := make([]int, n)
		for d := range row {
			if t != 0 || d != 0 {
				row[d] = k
			}
		}
		cm.Counts = append(cm.Counts, row)
	}
	return cm
}

func TestConfusionMatrixErrors(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	cases := []struct {
		name string
		edit func(m *ConfusionMatrix)
		want string // substring of the error
	}{
		{"no classes", func(m *ConfusionMatrix) { m.Classes, m.Counts = nil, nil }, "0 class names; want the background and at least one class"},
		{"background only", func(m *ConfusionMatrix) { m.Classes, m.Counts = m.Classes[:1], [][]int{{0}} }, "1 class name; want the background"},
		{"empty name", func(m *ConfusionMatrix) { m.Classes[3] = "" }, "class 3 has an empty name"},
		{"empty background name", func(m *ConfusionMatrix) { m.Classes[0] = "" }, "class 0 has an empty name"},
		{"repeated name", func(m *ConfusionMatrix) { m.Classes[4] = "circle" }, `class "circle" appears more than once`},
		{"NaN score", func(m *ConfusionMatrix) { m.ScoreThreshold = nan }, "score threshold is NaN"},
		{"score in percent", func(m *ConfusionMatrix) { m.ScoreThreshold = 25 }, "score threshold is 25, outside [0, 1]"},
		{"negative score", func(m *ConfusionMatrix) { m.ScoreThreshold = -0.1 }, "score threshold is -0.1, outside [0, 1]"},
		{"Inf IoU", func(m *ConfusionMatrix) { m.IoUThreshold = inf }, "IoU threshold is +Inf"},
		{"IoU above 1", func(m *ConfusionMatrix) { m.IoUThreshold = 1.5 }, "IoU threshold is 1.5, outside [0, 1]"},
		{"IoU 0", func(m *ConfusionMatrix) { m.IoUThreshold = 0 }, "IoU threshold is 0, want one in (0, 1]"},
		{"a row missing", func(m *ConfusionMatrix) { m.Counts = m.Counts[:8] }, "8 rows of counts for 9 classes"},
		{"a row too many", func(m *ConfusionMatrix) { m.Counts = append(m.Counts, make([]int, 9)) }, "10 rows of counts for 9 classes"},
		{"short row", func(m *ConfusionMatrix) { m.Counts[2] = m.Counts[2][:8] }, `row 2 ("ellipse") has 8 counts for 9 classes`},
		{"negative count", func(m *ConfusionMatrix) { m.Counts[1][5] = -1 }, `count [1][5] ("circle" detected as "hexagon") is -1, negative`},
		{"count in the corner", func(m *ConfusionMatrix) { m.Counts[0][0] = 3 }, "count [0][0] is 3; it counts nothing"},
		{"overflow", func(m *ConfusionMatrix) { m.Counts[2][1], m.Counts[5][3] = math.MaxInt-10, math.MaxInt-10 }, "the counts sum beyond the largest int"},
	}
	for _, c := range cases {
		m := shapesConfusion()
		c.edit(&m)
		for _, ch := range []Charts{{PNG}, {SVG}} {
			var b bytes.Buffer
			err := ch.Confusion(&b, m)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `confusion matrix of run "quickstart" epoch 14`) {
				t.Errorf("%s %v: error %v, want one containing %q and naming the run", c.name, ch.Format, err, c.want)
			}
			if b.Len() != 0 {
				t.Errorf("%s %v: wrote %d bytes despite the error", c.name, ch.Format, b.Len())
			}
		}
		if err := Confusion(io.Discard, m); err == nil {
			t.Errorf("%s: the PNG function accepted it", c.name)
		}
	}
	if err := shapesConfusion().Validate(); err != nil {
		t.Errorf("the README's matrix: %v", err)
	}
}

// TestConfusionSize checks that the image grows with the class count while the cells keep
// their largest size (up to 17 classes), stays about 1,000 pixels of cells while they shrink,
// and grows again once they reach their smallest size; and that the PNG and the layout agree.
func TestConfusionSize(t *testing.T) {
	m, err := newMetrics(PNG)
	if err != nil {
		t.Fatal(err)
	}
	prev := 0
	for _, k := range []int{1, 4, 8, 16} {
		cm := squareConfusion(cocoClasses(k), 5)
		img := decodePNG(t, render(t, func(w io.Writer) error { return Confusion(w, cm) }))
		l := layoutConfusion(m, cm)
		if b := img.Bounds(); b.Dx() != l.width || b.Dy() != l.height {
			t.Errorf("%d classes: image %v, layout %dx%d", k, b, l.width, l.height)
		}
		if l.cell != confMaxCell {
			t.Errorf("%d classes: cells of %d px, want %d", k, l.cell, confMaxCell)
		}
		if img.Bounds().Dy() <= prev {
			t.Errorf("%d classes: %d px tall, not taller than with fewer classes (%d)", k, img.Bounds().Dy(), prev)
		}
		prev = img.Bounds().Dy()
	}
	for _, c := range []struct{ classes, cell int }{{20, 47}, {80, 12}, {600, 8}} {
		l := layoutConfusion(m, squareConfusion(cocoClasses(c.classes), 5))
		if l.cell != c.cell {
			t.Errorf("%d classes: cells of %d px, want %d", c.classes, l.cell, c.cell)
		}
		if c.classes < 124 && (l.span() < 950 || l.span() > 1010) {
			t.Errorf("%d classes: cells span %d px, want about 1000", c.classes, l.span())
		}
	}
	// Open Images: 601 rows of 8 px.
	cm := squareConfusion(cocoClasses(600), 0)
	cm.Counts[1][1] = 7
	img := decodePNG(t, render(t, func(w io.Writer) error { return Confusion(w, cm) }))
	if b := img.Bounds(); b.Dy() < 601*8 || b.Dy() > 601*8+400 || b.Dx() < 601*8 || b.Dx() > 601*8+600 {
		t.Errorf("601 classes: %v, want a square of 601 8-px cells with its names", b)
	}
}

// pixelIn returns a pixel of the cell in row r and column k (display positions: the
// classes, then the background), 3 pixels in from its top left corner: inside the grid
// lines and away from the count written at the centre.
func pixelIn(img image.Image, l *confLayout, r, k int) (x, y int) {
	return l.left + l.pos(k) + 3, l.top + l.pos(r) + 3
}

// darkness is 765 minus the sum of the pixel's red, green and blue.
func darkness(img image.Image, x, y int) int {
	r, g, b, _ := img.At(x, y).RGBA()
	return 765 - int(r>>8+g>>8+b>>8)
}

// TestConfusionShading checks that each cell is shaded by its share of its row: not by its
// count, nor its share of its column or of the whole matrix; that zeros are blank and the
// corner grey; and that counts are written dark on light cells and white on dark ones.
func TestConfusionShading(t *testing.T) {
	cm := ConfusionMatrix{Run: "shade", Epoch: 2, ScoreThreshold: 0.3, IoUThreshold: 0.5,
		Classes: []string{"bg", "a", "b", "c"},
		Counts: [][]int{
			{0, 1, 0, 3},    // false positives: a 1/4, c 3/4
			{10, 80, 10, 0}, // a: 100 objects, 80 right
			{0, 0, 2, 0},    // b: 2 objects, both right
			{0, 0, 0, 0},    // c: no objects
		}}
	m, err := newMetrics(PNG)
	if err != nil {
		t.Fatal(err)
	}
	l := layoutConfusion(m, cm)
	img := decodePNG(t, render(t, func(w io.Writer) error { return Confusion(w, cm) }))
	// display positions: a 0, b 1, c 2, background 3
	for _, c := range []struct {
		name  string
		r, k  int
		share float64
	}{
		{"a as a", 0, 0, 0.8}, {"a as b", 0, 1, 0.1}, {"a missed", 0, 3, 0.1},
		{"b as b", 1, 1, 1}, {"false a", 3, 0, 0.25}, {"false c", 3, 2, 0.75},
	} {
		x, y := pixelIn(img, l, c.r, c.k)
		if want := shade(c.share); !sameColor(img, x, y, want) {
			t.Errorf("%s: colour %v, want the shade of %.2f %v", c.name, img.At(x, y), c.share, want)
		}
	}
	dark := func(r, k int) int { return darkness(img, l.left+l.pos(k)+3, l.top+l.pos(r)+3) }
	if !(dark(0, 0) > dark(0, 1)) {
		t.Errorf("a as a (80 of 100) is not darker than a as b (10 of 100): %d, %d", dark(0, 0), dark(0, 1))
	}
	if !(dark(1, 1) > dark(0, 0) && dark(1, 1) > dark(0, 3)) {
		t.Errorf("b as b (2 of 2) is not darker than a's cells of 80 and 10 of 100: %d, %d, %d", dark(1, 1), dark(0, 0), dark(0, 3))
	}
	if !(dark(3, 2) > dark(3, 0)) {
		t.Errorf("false positives: c (3 of 4) is not darker than a (1 of 4): %d, %d", dark(3, 2), dark(3, 0))
	}
	// zeros (and the whole row of c, which has no objects) are blank; the corner is grey
	for _, rk := range [][2]int{{0, 2}, {1, 0}, {2, 0}, {2, 2}, {2, 3}, {3, 1}} {
		x0, y0 := l.left+l.pos(rk[1]), l.top+l.pos(rk[0])
		for y := y0 + 1; y < y0+l.cell; y++ {
			for x := x0 + 1; x < x0+l.cell; x++ {
				if !sameColor(img, x, y, colBackground) {
					t.Fatalf("zero cell (%d, %d) has a %v pixel at (%d, %d)", rk[0], rk[1], img.At(x, y), x, y)
				}
			}
		}
	}
	if x, y := pixelIn(img, l, 3, 3); !sameColor(img, x, y, colStripe) {
		t.Errorf("the corner is %v, want grey", img.At(x, y))
	}
	// the count at each cell's centre: white on b as b (share 1), dark on a as b (0.1)
	ink := func(r, k int) (white, darkPx int) {
		cx, cy := l.left+l.pos(k)+l.cell/2, l.top+l.pos(r)+l.cell/2
		for y := cy - 6; y <= cy+6; y++ {
			for x := cx - 10; x <= cx+10; x++ {
				switch d := darkness(img, x, y); {
				case d < 30:
					white++
				case d > 500:
					darkPx++
				}
			}
		}
		return
	}
	if w, _ := ink(1, 1); w < 5 {
		t.Errorf("b as b: %d white pixels at the centre, want its count in white", w)
	}
	if _, d := ink(0, 1); d < 5 {
		t.Errorf("a as b: %d dark pixels at the centre, want its count in dark ink", d)
	}
}

// TestConfusionSVG checks the SVG: well-formed with names that need escaping, every name
// and count written, the column names turned when they do not fit their cells, the counts
// left out when the cells are too small.
func TestConfusionSVG(t *testing.T) {
	cm := shapesConfusion()
	cm.Run = `<run & "co">`
	cm.Classes[2] = "a<b>&c"
	svg := string(render(t, func(w io.Writer) error { return Charts{Format: SVG}.Confusion(w, cm) }))
	checkSVG(t, []byte(svg))
	if strings.Contains(svg, "a<b>") {
		t.Errorf("a class name is not escaped")
	}
	for _, want := range []string{"a&lt;b&gt;&amp;c", "&lt;run &amp;", "circle", "ring", "no object (false positives)", "missed",
		">true<", ">detected<", ">total<", "score ≥ 0.25, IoU ≥ 0.5", "epoch 14", ">133<", ">59<", ">806<", ">91<", "share of the row"} {
		if !strings.Contains(svg, want) {
			t.Errorf("the SVG lacks %q", want)
		}
	}
	// short names fit their cells: only "true" and the colour bar's name are turned
	m, err := newMetrics(PNG)
	if err != nil {
		t.Fatal(err)
	}
	if l := layoutConfusion(m, shapesConfusion()); l.rotated {
		t.Errorf("the shapes' names are turned in the PNG")
	}
	short := squareConfusion([]string{"cat", "dog", "cow", "bird", "boat", "car", "bus", "sofa"}, 3)
	svg = string(render(t, func(w io.Writer) error { return Charts{Format: SVG}.Confusion(w, short) }))
	if n := strings.Count(svg, "rotate("); n != 2 {
		t.Errorf("8 short names: %d turned texts, want 2", n)
	}
	// 20 classes, one with a long name: the column names turn
	many := squareConfusion(cocoClasses(20), 12345)
	svg = string(render(t, func(w io.Writer) error { return Charts{Format: SVG}.Confusion(w, many) }))
	if n := strings.Count(svg, "rotate("); n != 2+21 {
		t.Errorf("20 classes: %d turned texts, want 23", n)
	}
	if !strings.Contains(svg, ">12345<") || strings.Contains(svg, "too small") {
		t.Errorf("20 classes: counts left out")
	}
	// 80 classes: 12-px cells, no counts, and the subtitle says so
	many = squareConfusion(cocoClasses(80), 12345)
	svg = string(render(t, func(w io.Writer) error { return Charts{Format: SVG}.Confusion(w, many) }))
	checkSVG(t, []byte(svg))
	if strings.Contains(svg, ">12345<") || !strings.Contains(svg, "cells too small for the counts") {
		t.Errorf("80 classes: counts written, or the subtitle does not say they are not")
	}
	for _, name := range cocoClasses(80)[4:] {
		if !strings.Contains(svg, ">"+name+"<") {
			t.Errorf("80 classes: %q not written", name)
			break
		}
	}
	// a negative epoch (unknown) is not shown
	cm = shapesConfusion()
	cm.Epoch = -1
	svg = string(render(t, func(w io.Writer) error { return Charts{Format: SVG}.Confusion(w, cm) }))
	if strings.Contains(svg, "epoch") {
		t.Errorf("epoch -1 shown")
	}
}

// randomConfusion returns a random matrix; about a third of them carry one defect.
func randomConfusion(rng *rand.Rand) ConfusionMatrix {
	n := 2 + rng.Intn(40)
	cm := ConfusionMatrix{Run: "r", Epoch: rng.Intn(50) - 2, ScoreThreshold: unit(rng), IoUThreshold: max(unit(rng), 0.01)}
	big := []int{0, 1, 7, 1000, 1 << 40}[rng.Intn(5)]
	for t := 0; t < n; t++ {
		cm.Classes = append(cm.Classes, fmt.Sprintf("class %d", t+rng.Intn(2)*1000))
		row := make([]int, n)
		for d := range row {
			if (t != 0 || d != 0) && rng.Intn(3) == 0 {
				row[d] = rng.Intn(big + 1)
			}
		}
		cm.Counts = append(cm.Counts, row)
	}
	if rng.Intn(3) > 0 {
		return cm
	}
	t, d := rng.Intn(n), rng.Intn(n)
	switch rng.Intn(9) {
	case 0:
		cm.Classes, cm.Counts = cm.Classes[:1], cm.Counts[:1]
	case 1:
		cm.Classes[t] = ""
	case 2:
		cm.Classes[t] = cm.Classes[(t+1)%n]
	case 3:
		cm.Counts[t][d] = -1 - rng.Intn(5)
	case 4:
		cm.Counts[0][0] = 1
	case 5:
		cm.Counts[t] = cm.Counts[t][:n-1]
	case 6:
		cm.Counts = cm.Counts[:n-1]
	case 7:
		cm.ScoreThreshold = bad(rng)
	case 8:
		cm.Counts[t][max(d, 1)], cm.Counts[(t+1)%n][1] = math.MaxInt, math.MaxInt
	}
	return cm
}
