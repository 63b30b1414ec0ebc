package shapes

import (
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"testing"
)

// TestShapesPreview writes a contact sheet of shapes samples with their boxes drawn, for a
// person to look at: SHAPES_PREVIEW=/tmp/shapes.png go test -run ShapesPreview ./components/dataset/
func TestShapesPreview(t *testing.T) {
	path := os.Getenv("SHAPES_PREVIEW")
	if path == "" {
		t.Skip("set SHAPES_PREVIEW to the PNG file to write")
	}
	d, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	const cols, rows, cell = 4, 3, 410
	sheet := image.NewRGBA(image.Rect(0, 0, cols*cell, rows*cell))
	draw.Draw(sheet, sheet.Bounds(), image.White, image.Point{}, draw.Src)
	for k := 0; k < cols*rows; k++ {
		s, err := d.Sample(k)
		if err != nil {
			t.Fatal(err)
		}
		img := image.NewRGBA(s.Image.Bounds())
		draw.Draw(img, img.Bounds(), s.Image, image.Point{}, draw.Src)
		for _, o := range s.Objects {
			drawBox(img, o.Box, boxColours[o.Label%len(boxColours)])
		}
		at := image.Pt((k%cols)*cell, (k/cols)*cell)
		draw.Draw(sheet, img.Bounds().Add(at), img, image.Point{}, draw.Src)
		t.Logf("sample %d (%dx%d): %d objects", k, img.Bounds().Dx(), img.Bounds().Dy(), len(s.Objects))
		for _, o := range s.Objects {
			t.Logf("  %-8s %v", d.ClassNames()[o.Label], o.Box)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, sheet); err != nil {
		t.Fatal(err)
	}
}

var boxColours = []color.RGBA{{255, 0, 0, 255}, {0, 255, 0, 255}, {0, 0, 255, 255}, {255, 255, 0, 255},
	{255, 0, 255, 255}, {0, 255, 255, 255}, {255, 128, 0, 255}, {128, 0, 255, 255}, {255, 255, 255, 255}}

// drawBox outlines the pixels of an inclusive box one pixel outside it (so the outline shows
// whether the box is tight without hiding the object's own edge pixels).
func drawBox(img *image.RGBA, b [4]float64, c color.RGBA) {
	x0, y0, x1, y1 := int(b[0])-1, int(b[1])-1, int(b[2])+1, int(b[3])+1
	for x := x0; x <= x1; x++ {
		img.SetRGBA(x, y0, c)
		img.SetRGBA(x, y1, c)
	}
	for y := y0; y <= y1; y++ {
		img.SetRGBA(x0, y, c)
		img.SetRGBA(x1, y, c)
	}
}
