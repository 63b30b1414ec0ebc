package jpeg

import (
	"encoding/base64"
	"encoding/json"
	"image"
	"os"
	"path/filepath"
	"testing"
)

// exifGolden is testdata/exif_golden.json, written by testdata/gen_exif.py: for each
// testdata/exif_*.jpg, the image cv2.imread returns (IMREAD_COLOR, as the reference reads:
// EXIF orientation applied), RGB.
type exifGolden struct {
	OpenCV string `json:"opencv"`
	Images map[string]struct {
		Width, Height, Channels int
		Pixels                  string
	} `json:"images"`
}

// TestOrientationAgainstOpenCV decodes every EXIF fixture, turns it upright with
// Orient(Orientation(data)) and compares it with what cv2.imread returned: the same size
// and every pixel equal. The fixtures cover the eight orientations in both byte orders,
// a grey image, out-of-range values, an unknown byte order, a LONG entry, an XMP APP1
// before the EXIF one, an IFD running past its segment and a Make string inside and
// outside it.
func TestOrientationAgainstOpenCV(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "exif_golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g exifGolden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Images) < 20 {
		t.Fatalf("%d golden images, want the 20+ that gen_exif.py writes", len(g.Images))
	}
	rotated := 0
	for name, want := range g.Images {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		img, err := Decode(name, data, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		o := Orientation(data)
		up := Orient(img, o)
		hd, err := DecodeHeader(name, data)
		if err != nil {
			t.Fatal(err)
		}
		if w, h := Oriented(hd.Width, hd.Height, o); w != want.Width || h != want.Height || up.Bounds() != image.Rect(0, 0, w, h) {
			t.Errorf("%s: orientation %d: upright %v, Oriented %dx%d; OpenCV %dx%d", name, o, up.Bounds(), w, h, want.Width, want.Height)
			continue
		}
		pix, err := base64.StdEncoding.DecodeString(want.Pixels)
		if err != nil {
			t.Fatal(err)
		}
		diff := 0
		for y := 0; y < want.Height; y++ {
			for x := 0; x < want.Width; x++ {
				i := (y*want.Width + x) * want.Channels
				switch m := up.(type) {
				case *image.Gray: // OpenCV gives three equal channels
					if v := m.GrayAt(x, y).Y; want.Channels != 3 || v != pix[i] || v != pix[i+1] || v != pix[i+2] {
						diff++
					}
				case *image.RGBA:
					c := m.RGBAAt(x, y)
					if want.Channels != 3 || c.R != pix[i] || c.G != pix[i+1] || c.B != pix[i+2] {
						diff++
					}
				default:
					t.Fatalf("%s: %T", name, up)
				}
			}
		}
		if diff > 0 {
			t.Errorf("%s: orientation %d: %d pixels differ from OpenCV's", name, o, diff)
		}
		if o != 1 {
			rotated++
		}
	}
	if rotated < 10 {
		t.Errorf("only %d fixtures turned: the golden set has more", rotated)
	}
}

// TestOrientationMalformed checks that Orientation reads no further than its input:
// every prefix of a fixture gives 1 or the whole file's orientation, never a panic.
func TestOrientationMalformed(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "exif_o6_mm.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if o := Orientation(data); o != 6 {
		t.Fatalf("exif_o6_mm.jpg: orientation %d", o)
	}
	for n := 0; n < 200 && n < len(data); n++ {
		if o := Orientation(data[:n]); o != 1 && o != 6 {
			t.Errorf("prefix of %d bytes: orientation %d", n, o)
		}
	}
	for _, b := range [][]byte{nil, {0xff}, {0xff, 0xd8}, {0xff, 0xd8, 0xff, 0xe1, 0, 2}, {0xff, 0xd8, 0xff, 0xe1, 0xff, 0xff}} {
		if o := Orientation(b); o != 1 {
			t.Errorf("% x: orientation %d, want 1", b, o)
		}
	}
}
