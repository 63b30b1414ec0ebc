package dataset

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tinyJPEG is a valid 8×6 JPEG.
func tinyJPEG(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 6))
	for k := range img.Pix {
		img.Pix[k] = uint8(k * 7)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// writeFiles creates the files of a map from slash-separated paths (relative to dir) to
// contents.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// copyFixture copies testdata/<src> to a new temporary folder and adds a tiny JPEG for every
// id listed in its ImageSets/Main/*.txt files.
func copyFixture(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	src = filepath.Join("testdata", src)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		writeFiles(t, dst, map[string]string{filepath.ToSlash(rel): string(data)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sets, _ := filepath.Glob(filepath.Join(dst, "ImageSets", "Main", "*.txt"))
	img := string(tinyJPEG(t))
	for _, s := range sets {
		data, _ := os.ReadFile(s)
		for _, id := range strings.Fields(string(data)) {
			writeFiles(t, dst, map[string]string{"JPEGImages/" + id + ".jpg": img})
		}
	}
	return dst
}

// vocFolder writes a VOC folder with the given annotations (id → XML), a trainval split
// listing them in the given order, and tiny images; extra files are added as given.
func vocFolder(t testing.TB, ids []string, xmls map[string]string, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"ImageSets/Main/trainval.txt": strings.Join(ids, "\n") + "\n"}
	img := string(tinyJPEG(t))
	for _, id := range ids {
		files["Annotations/"+id+".xml"] = xmls[id]
		files["JPEGImages/"+id+".jpg"] = img
	}
	for p, c := range extra {
		files[p] = c
	}
	writeFiles(t, dir, files)
	return dir
}

// meanAbsDiff returns the mean absolute difference of two images of the same size over the
// RGB channels and over the luma (JPEG keeps luma at full resolution but subsamples chroma).
func meanAbsDiff(a, b image.Image) (rgbDiff, lumaDiff float64) {
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			ca := color.RGBAModel.Convert(a.At(x, y)).(color.RGBA)
			cb := color.RGBAModel.Convert(b.At(x, y)).(color.RGBA)
			rgbDiff += absDiff(ca.R, cb.R) + absDiff(ca.G, cb.G) + absDiff(ca.B, cb.B)
			lumaDiff += math.Abs(luma(ca) - luma(cb))
		}
	}
	n := float64(r.Dx() * r.Dy())
	return rgbDiff / (3 * n), lumaDiff / n
}

func luma(c color.RGBA) float64 { return 0.299*float64(c.R) + 0.587*float64(c.G) + 0.114*float64(c.B) }

func absDiff(a, b uint8) float64 {
	if a > b {
		return float64(a - b)
	}
	return float64(b - a)
}
