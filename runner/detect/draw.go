package detect

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/ssdrunner/ssdrunner/internal/boxdraw"
)

// Draw returns a copy of img with each detection drawn: its box (clipped to the image)
// and a caption "class score" on a filled band, in the class's colour (boxdraw.ClassColor).
func Draw(img image.Image, dets []Detection) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Bounds(), img, b.Min, draw.Src)
	thick := max(1, min(b.Dx(), b.Dy())/300+1)
	face := basicfont.Face7x13
	for _, d := range dets {
		col := boxdraw.ClassColor(d.Label)
		r := image.Rect(int(math.Round(d.Box[0])), int(math.Round(d.Box[1])), int(math.Round(d.Box[2])), int(math.Round(d.Box[3]))).
			Intersect(out.Bounds())
		if r.Empty() {
			continue
		}
		for k := 0; k < thick; k++ {
			boxdraw.StrokeRect(out, r.Inset(k), col)
		}
		name := d.Class
		if name == "" {
			name = fmt.Sprint(d.Label)
		}
		text := fmt.Sprintf("%s %.2f", name, d.Score)
		tw := font.MeasureString(face, text).Ceil() + 4
		band := image.Rect(r.Min.X, r.Min.Y-15, r.Min.X+tw, r.Min.Y)
		if band.Min.Y < 0 { // no room above: inside the box
			band = band.Add(image.Pt(0, 15))
		}
		band = band.Intersect(out.Bounds())
		draw.Draw(out, band, image.NewUniform(col), image.Point{}, draw.Src)
		fd := &font.Drawer{Dst: out, Src: image.NewUniform(textColor(col)), Face: face,
			Dot: fixed.P(band.Min.X+2, band.Max.Y-3)}
		fd.DrawString(text)
	}
	return out
}

// textColor is black or white, whichever reads better on c.
func textColor(c color.RGBA) color.RGBA {
	if 299*int(c.R)+587*int(c.G)+114*int(c.B) > 150_000 {
		return color.RGBA{0, 0, 0, 255}
	}
	return color.RGBA{255, 255, 255, 255}
}
