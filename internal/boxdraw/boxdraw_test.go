package boxdraw

import (
	"image"
	"testing"
)

func TestClassColor(t *testing.T) {
	if ClassColor(1) != palette[0] || ClassColor(12) != palette[11] || ClassColor(13) != palette[0] {
		t.Error("labels 1, 12 and 13 do not take the first, last and first colours")
	}
	if ClassColor(0) != palette[11] || ClassColor(-11) != palette[0] {
		t.Error("labels below 1 do not wrap around")
	}
}

func TestStrokeRect(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 6, 6))
	c := ClassColor(1)
	StrokeRect(img, image.Rect(1, 1, 5, 4), c)
	n := 0
	for y := 0; y < 6; y++ {
		for x := 0; x < 6; x++ {
			on := img.RGBAAt(x, y) == c
			edge := x >= 1 && x <= 4 && y >= 1 && y <= 3 && (x == 1 || x == 4 || y == 1 || y == 3)
			if on != edge {
				t.Errorf("pixel (%d, %d) drawn %v, want %v", x, y, on, edge)
			}
			if on {
				n++
			}
		}
	}
	if n != 10 {
		t.Errorf("%d pixels drawn, want the 10 of a 4x3 outline", n)
	}
	blank := image.NewRGBA(image.Rect(0, 0, 4, 4))
	StrokeRect(blank, image.Rect(2, 1, 2, 3), c) // zero width
	for i, v := range blank.Pix {
		if v != 0 {
			t.Fatalf("an empty rectangle drew pixel byte %d", i)
		}
	}
}
