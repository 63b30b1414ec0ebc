package dataset

import (
	"os"
	"path/filepath"
	"testing"
)

// exifFixture is a JPEG stored 7 wide and 5 high whose EXIF orientation (6: turn 90°
// clockwise) makes it 5 wide and 7 high upright (internal/jpeg's fixture, checked there
// against cv2.imread).
var exifFixture = filepath.Join("..", "..", "internal", "jpeg", "testdata", "exif_o6_mm.jpg")

func copyExifFixture(t *testing.T, dst string) {
	t.Helper()
	data, err := os.ReadFile(exifFixture)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestExifOrientationDefaults checks which readers turn images upright by default: those
// that follow the reference's cv2.imread (voc, open_images), not those whose projects read
// with PIL (csv, coco).
func TestExifOrientationDefaults(t *testing.T) {
	for name, want := range map[string]bool{"voc": true, "open_images": true, "csv": false, "coco": false} {
		spec, err := Registry.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		var got bool
		switch c := spec.Config().(type) {
		case *VOCConfig:
			got = c.ExifOrientation
		case *OpenImagesConfig:
			got = c.ExifOrientation
		case *CSVConfig:
			got = c.ExifOrientation
		case *COCOConfig:
			got = c.ExifOrientation
		default:
			t.Fatalf("%s: config %T", name, c)
		}
		if got != want {
			t.Errorf("%s: exif_orientation defaults to %v, want %v", name, got, want)
		}
	}
}

// TestExifOrientationOpenImages reads one rotated image through open_images with and
// without exif_orientation: the sample's size, and the relative boxes scaled by it, in
// Annotation (from the header alone) and Sample (from the decoded image) alike.
func TestExifOrientationOpenImages(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"sub-train-annotations-bbox.csv": "ImageID,XMin,XMax,YMin,YMax,ClassName\nimg,0.2,0.6,0,1,cat\n"})
	copyExifFixture(t, filepath.Join(root, "train", "img.jpg"))
	for _, c := range []struct {
		exif bool
		w, h int
		box  [4]float64
	}{
		{true, 5, 7, [4]float64{1, 0, 3, 7}},
		{false, 7, 5, [4]float64{1.4, 0, 4.2, 5}},
	} {
		ds, err := NewOpenImages(OpenImagesConfig{Root: root, Split: "train", ExifOrientation: c.exif}, Env{})
		if err != nil {
			t.Fatal(err)
		}
		_, objs, err := ds.Annotation(0)
		if err != nil {
			t.Fatal(err)
		}
		if !nearBox(objs[0].Box, c.box) {
			t.Errorf("exif %v: annotation box %v, want %v", c.exif, objs[0].Box, c.box)
		}
		ds, _ = NewOpenImages(OpenImagesConfig{Root: root, Split: "train", ExifOrientation: c.exif}, Env{})
		s, err := ds.Sample(0)
		if err != nil {
			t.Fatal(err)
		}
		if b := s.Image.Bounds(); b.Dx() != c.w || b.Dy() != c.h {
			t.Errorf("exif %v: image %v, want %dx%d", c.exif, b, c.w, c.h)
		}
		if !nearBox(s.Objects[0].Box, c.box) {
			t.Errorf("exif %v: sample box %v, want %v", c.exif, s.Objects[0].Box, c.box)
		}
	}
}

// TestExifOrientationVOC checks that voc turns the image (its boxes are absolute pixels of
// the upright image, as the reference reads them).
func TestExifOrientationVOC(t *testing.T) {
	for _, exif := range []bool{true, false} {
		img, err := decodeImage(exifFixture, exif, nil)
		if err != nil {
			t.Fatal(err)
		}
		w, h := 7, 5
		if exif {
			w, h = 5, 7
		}
		if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
			t.Errorf("exif %v: %v, want %dx%d", exif, b, w, h)
		}
		if sw, sh, err := imageSize(exifFixture, exif); err != nil || sw != w || sh != h {
			t.Errorf("exif %v: imageSize %dx%d (%v), want %dx%d", exif, sw, sh, err, w, h)
		}
	}
}

func nearBox(a, b [4]float64) bool {
	for i := range a {
		if d := a[i] - b[i]; d > 1e-6 || d < -1e-6 {
			return false
		}
	}
	return true
}
