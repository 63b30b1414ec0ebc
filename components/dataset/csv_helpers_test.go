package dataset

import (
	"bytes"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// imageBytes encodes a w×h test image as JPEG, or PNG when asPNG is set.
func imageBytes(t testing.TB, w, h int, asPNG bool) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for k := range img.Pix {
		img.Pix[k] = uint8(k * 13)
	}
	var b bytes.Buffer
	var err error
	if asPNG {
		err = png.Encode(&b, img)
	} else {
		err = jpeg.Encode(&b, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// writeImage writes a w×h test image at path (creating folders).
func writeImage(t testing.TB, path string, w, h int, asPNG bool) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, imageBytes(t, w, h, asPNG), 0o644); err != nil {
		t.Fatal(err)
	}
}

// wantError fails unless err is non-nil and its message contains every part.
func wantError(t *testing.T, name string, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want one containing %q", name, parts)
		return
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not contain %q", name, err, p)
		}
	}
}

// objectsOf splits objects into boxes and labels.
func objectsOf(objs []Object) (boxes [][4]float64, labels []int) {
	for _, o := range objs {
		boxes, labels = append(boxes, o.Box), append(labels, o.Label)
	}
	return boxes, labels
}
