// Package boxdraw holds what the pictures of boxes share — the training batch picture
// (runner/train) and drawn detections (runner/detect): one colour per class and the
// outline of a rectangle.
package boxdraw

import (
	"image"
	"image/color"
)

// palette holds distinct colours (Sasha Trubetskoy's list of 20, first 12).
var palette = []color.RGBA{{230, 25, 75, 255}, {60, 180, 75, 255}, {255, 225, 25, 255}, {0, 130, 200, 255},
	{245, 130, 48, 255}, {145, 30, 180, 255}, {70, 240, 240, 255}, {240, 50, 230, 255}, {210, 245, 60, 255},
	{250, 190, 212, 255}, {0, 128, 128, 255}, {220, 190, 255, 255}}

// ClassColor is the colour of class label (>= 1) in drawings: distinct for neighbouring
// labels, the same in every image.
func ClassColor(label int) color.RGBA {
	n := len(palette)
	return palette[((label-1)%n+n)%n]
}

// StrokeRect draws the one-pixel outline of r (pixels Min to Max-1) in c; an empty r draws
// nothing.
func StrokeRect(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	if r.Empty() {
		return
	}
	for x := r.Min.X; x < r.Max.X; x++ {
		img.SetRGBA(x, r.Min.Y, c)
		img.SetRGBA(x, r.Max.Y-1, c)
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		img.SetRGBA(r.Min.X, y, c)
		img.SetRGBA(r.Max.X-1, y, c)
	}
}
