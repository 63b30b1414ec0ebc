package reports

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
	"sync"

	"github.com/golang/freetype/truetype"
	chart "github.com/wcharczuk/go-chart/v2"
	"github.com/wcharczuk/go-chart/v2/drawing"
	"github.com/wcharczuk/go-chart/v2/roboto"
	"golang.org/x/image/font"
)

// dpi makes font sizes pixel sizes in text measurement and in SVG. go-chart's rasteriser sizes
// glyphs at size×DPI/64 pixels rather than size×DPI/72, so PNG renderers get rasterDPI instead.
const (
	dpi       = 72
	rasterDPI = 64
)

// maxSide bounds each side of a chart, in pixels, so that huge inputs fail clearly instead of
// allocating gigabytes. It fits Open Images' 601 classes compared across five runs.
const maxSide = 50000

var (
	fontOnce   sync.Once
	robotoFont *truetype.Font
	fontErr    error
)

// loadFont parses go-chart's embedded Roboto once.
func loadFont() (*truetype.Font, error) {
	fontOnce.Do(func() {
		robotoFont, fontErr = truetype.Parse(roboto.Roboto)
		if fontErr != nil {
			fontErr = fmt.Errorf("reports: parsing the embedded font: %w", fontErr)
		}
	})
	return robotoFont, fontErr
}

// metrics measures text before a canvas exists, so layouts can size the image. Not safe for
// concurrent use; each chart makes its own.
type metrics struct {
	font  *truetype.Font
	faces map[float64]font.Face
	scale float64 // widths are multiplied by scale
}

// svgWidthScale allows for SVG viewers that lack Roboto and fall back to a wider sans-serif
// (DejaVu Sans runs about 12% wider): SVG layouts measure text this much wider than Roboto.
const svgWidthScale = 1.15

// newMetrics measures text for charts in format f.
func newMetrics(f Format) (*metrics, error) {
	fnt, err := loadFont()
	if err != nil {
		return nil, err
	}
	m := &metrics{font: fnt, faces: map[float64]font.Face{}, scale: 1}
	if f == SVG {
		m.scale = svgWidthScale
	}
	return m, nil
}

// width is the advance width of s in pixels at the given size.
func (m *metrics) width(s string, size float64) int {
	face, ok := m.faces[size]
	if !ok {
		face = truetype.NewFace(m.font, &truetype.Options{Size: size, DPI: dpi})
		m.faces[size] = face
	}
	w := font.MeasureString(face, s).Ceil()
	if m.scale != 1 {
		w = int(math.Ceil(float64(w) * m.scale))
	}
	return w
}

// maxWidth is the widest of the texts at the given size.
func (m *metrics) maxWidth(size float64, texts ...string) int {
	w := 0
	for _, t := range texts {
		w = max(w, m.width(t, size))
	}
	return w
}

// align is a horizontal text alignment relative to the given x.
type align int

const (
	alignLeft align = iota
	alignCenter
	alignRight
)

// canvas draws shapes and text on a go-chart renderer in pixel coordinates.
type canvas struct {
	r   chart.Renderer
	m   *metrics
	svg bool
}

func newCanvas(f Format, m *metrics, w, h int) (*canvas, error) {
	if w <= 0 || h <= 0 || w > maxSide || h > maxSide {
		return nil, fmt.Errorf("reports: chart would be %dx%d pixels; at most %d per side fit (too many classes or series for one chart?)", w, h, maxSide)
	}
	var (
		r   chart.Renderer
		err error
	)
	switch f {
	case PNG:
		r, err = chart.PNG(w, h)
	case SVG:
		r, err = chart.SVG(w, h)
	default:
		return nil, fmt.Errorf("reports: unknown chart format %v", f)
	}
	if err != nil {
		return nil, fmt.Errorf("reports: creating a %v renderer: %w", f, err)
	}
	if f == PNG {
		r.SetDPI(rasterDPI)
	} else {
		r.SetDPI(dpi)
	}
	c := &canvas{r: r, m: m, svg: f == SVG}
	c.rect(0, 0, w, h, colBackground)
	return c, nil
}

func (c *canvas) save(w io.Writer) error {
	if err := c.r.Save(w); err != nil {
		return fmt.Errorf("reports: writing the chart: %w", err)
	}
	return nil
}

// rect fills the rectangle [x0,x1]×[y0,y1].
func (c *canvas) rect(x0, y0, x1, y1 int, fill drawing.Color) {
	c.r.ResetStyle()
	c.r.SetFillColor(fill)
	c.r.MoveTo(x0, y0)
	c.r.LineTo(x1, y0)
	c.r.LineTo(x1, y1)
	c.r.LineTo(x0, y1)
	c.r.Close()
	c.r.Fill()
}

// polygon fills the closed path through pts (at least three).
func (c *canvas) polygon(pts []pt, fill drawing.Color) {
	if len(pts) < 3 {
		return
	}
	c.r.ResetStyle()
	c.r.SetFillColor(fill)
	c.r.MoveTo(pts[0].x, pts[0].y)
	for _, p := range pts[1:] {
		c.r.LineTo(p.x, p.y)
	}
	c.r.Close()
	c.r.Fill()
}

// line strokes a straight segment.
func (c *canvas) line(x0, y0, x1, y1 int, col drawing.Color, width float64, dash []float64) {
	c.polyline([]pt{{x0, y0}, {x1, y1}}, col, width, dash)
}

// pt is a point in pixels.
type pt struct{ x, y int }

// polyline strokes a path through pts; consecutive duplicates are dropped.
func (c *canvas) polyline(pts []pt, col drawing.Color, width float64, dash []float64) {
	if len(pts) < 2 {
		return
	}
	c.r.ResetStyle()
	c.r.SetStrokeColor(col)
	c.r.SetStrokeWidth(width)
	c.r.SetStrokeDashArray(dash)
	c.r.MoveTo(pts[0].x, pts[0].y)
	last := pts[0]
	for _, p := range pts[1:] {
		if p != last {
			c.r.LineTo(p.x, p.y)
			last = p
		}
	}
	c.r.Stroke()
}

// dot fills a disc.
func (c *canvas) dot(x, y int, radius float64, fill drawing.Color) {
	c.r.ResetStyle()
	c.r.SetFillColor(fill)
	c.r.Circle(radius, x, y)
	if !c.svg { // the SVG writer emits the circle itself; the rasteriser only builds its path
		c.r.Fill()
	}
}

// text draws s with its capitals vertically centred on cy.
func (c *canvas) text(s string, x, cy int, size float64, col drawing.Color, a align) {
	switch a {
	case alignCenter:
		x -= c.m.width(s, size) / 2
	case alignRight:
		x -= c.m.width(s, size)
	}
	c.setText(size, col)
	c.r.Text(c.escape(s), x, cy+capHalf(size))
}

// textUp draws s rotated to read bottom to top, centred on (cx, cy).
func (c *canvas) textUp(s string, cx, cy int, size float64, col drawing.Color) {
	c.setText(size, col)
	c.r.SetTextRotation(-math.Pi / 2)
	c.r.Text(c.escape(s), cx+capHalf(size), cy+c.m.width(s, size)/2)
	c.r.ClearTextRotation()
}

func (c *canvas) setText(size float64, col drawing.Color) {
	c.r.ResetStyle()
	c.r.SetFont(c.m.font)
	c.r.SetFontSize(size)
	c.r.SetFontColor(col)
}

// escape protects SVG markup; go-chart writes SVG text verbatim.
func (c *canvas) escape(s string) string {
	if c.svg {
		return html.EscapeString(s)
	}
	return s
}

// capHalf is half the cap height of Roboto at the given size: baseline = centre + capHalf.
func capHalf(size float64) int {
	return int(math.Round(0.355 * size))
}

// nameRunes is the length that class, run and series names are shortened to.
const nameRunes = 28

// shorten cuts s to at most n runes, ending in an ellipsis when cut.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// wrap breaks s at spaces into lines at most width pixels wide (a longer word gets a line of its
// own); width 0 means no limit.
func wrap(m *metrics, s string, size float64, width int) []string {
	var lines []string
	cur := ""
	for _, word := range strings.Fields(s) {
		next := word
		if cur != "" {
			next = cur + " " + word
		}
		if cur != "" && width > 0 && m.width(next, size) > width {
			lines = append(lines, cur)
			next = word
		}
		cur = next
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}
