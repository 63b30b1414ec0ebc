// Command shapespreview writes a contact sheet of samples of the built-in synthetic
// "shapes" dataset with their boxes drawn, for a person to look at:
//
//	go run ./internal/tools/shapespreview /tmp/shapes.png
//
// It prints each sample's objects and boxes.
package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"

	"github.com/ssdrunner/ssdrunner/components/dataset/shapes"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run ./internal/tools/shapespreview OUT.png")
		os.Exit(2)
	}
	if err := preview(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "shapespreview:", err)
		os.Exit(1)
	}
}

// preview writes 12 samples, 4 by 3, to the PNG file path.
func preview(path string) error {
	d, err := shapes.New(shapes.DefaultConfig())
	if err != nil {
		return err
	}
	const cols, rows, cell = 4, 3, 410
	sheet := image.NewRGBA(image.Rect(0, 0, cols*cell, rows*cell))
	draw.Draw(sheet, sheet.Bounds(), image.White, image.Point{}, draw.Src)
	for k := 0; k < cols*rows; k++ {
		s, err := d.Sample(k)
		if err != nil {
			return err
		}
		img := image.NewRGBA(s.Image.Bounds())
		draw.Draw(img, img.Bounds(), s.Image, image.Point{}, draw.Src)
		for _, o := range s.Objects {
			drawBox(img, o.Box, boxColours[o.Label%len(boxColours)])
		}
		at := image.Pt((k%cols)*cell, (k/cols)*cell)
		draw.Draw(sheet, img.Bounds().Add(at), img, image.Point{}, draw.Src)
		fmt.Printf("sample %d (%dx%d): %d objects\n", k, img.Bounds().Dx(), img.Bounds().Dy(), len(s.Objects))
		for _, o := range s.Objects {
			fmt.Printf("  %-8s %v\n", d.ClassNames()[o.Label], o.Box)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, sheet); err != nil {
		f.Close()
		return err
	}
	return f.Close()
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
