package jpeg

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixtures lists testdata/fixtures/*.jpg by name (without the extension).
func fixtures(t testing.TB) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "fixtures", "*.jpg"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = strings.TrimSuffix(filepath.Base(p), ".jpg")
	}
	return names
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "fixtures", name+".jpg"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// rgbAt returns the RGB of the pixel at (x, y) of an opaque image.
func rgbAt(img image.Image, x, y int) [3]uint8 {
	c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
	return [3]uint8{c.R, c.G, c.B}
}

// TestMatchesOpenCV decodes every fixture and requires exactly the pixels that
// cv2.imread(IMREAD_COLOR) returned for it (testdata/gen_golden.py).
func TestMatchesOpenCV(t *testing.T) {
	wantSpace := map[string]ColorSpace{"gray": Gray, "rgb": RGB, "cmyk": CMYK, "ycck": YCCK}
	for _, name := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			data := readFixture(t, name)
			f, err := os.Open(filepath.Join("testdata", "fixtures", name+".png"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			want, err := png.Decode(f)
			if err != nil {
				t.Fatal(err)
			}
			hd, err := DecodeHeader(name, data)
			if err != nil {
				t.Fatal(err)
			}
			cs, ok := wantSpace[name]
			if !ok {
				cs = YCbCr
			}
			if hd != (Header{Width: want.Bounds().Dx(), Height: want.Bounds().Dy(), ColorSpace: cs}) {
				t.Errorf("header %+v, want %v and %v", hd, want.Bounds().Size(), cs)
			}
			got, err := Decode(name, data, 0)
			if err != nil {
				t.Fatal(err)
			}
			switch m := got.(type) {
			case *image.Gray:
				if cs != Gray {
					t.Errorf("a %v image decoded as *image.Gray", cs)
				}
			case *image.RGBA:
				if cs == Gray {
					t.Errorf("a grey image decoded as *image.RGBA")
				}
				for i := 3; i < len(m.Pix); i += 4 {
					if m.Pix[i] != 0xff {
						t.Fatalf("alpha %d at byte %d", m.Pix[i], i)
					}
				}
			default:
				t.Fatalf("decoded as %T", got)
			}
			if got.Bounds() != want.Bounds() {
				t.Fatalf("bounds %v, want %v", got.Bounds(), want.Bounds())
			}
			diff := 0
			b := got.Bounds()
			for y := b.Min.Y; y < b.Max.Y; y++ {
				for x := b.Min.X; x < b.Max.X; x++ {
					if g, w := rgbAt(got, x, y), rgbAt(want, x, y); g != w {
						if diff < 3 {
							t.Errorf("pixel (%d,%d) = %v, OpenCV %v", x, y, g, w)
						}
						diff++
					}
				}
			}
			if diff > 0 {
				t.Errorf("%d of %d pixels differ from OpenCV's", diff, b.Dx()*b.Dy())
			}
		})
	}
}

// TestErrors checks that bad data gives an *Error naming the input, never a crash.
func TestErrors(t *testing.T) {
	good := readFixture(t, "ycc420")
	prog := readFixture(t, "progressive420")
	corrupt := bytes.Clone(good)
	for i := len(corrupt) / 2; i < len(corrupt)/2+64; i++ {
		corrupt[i] = 0xff // 0xff 0xff … inside the scan: fill bytes, then a bogus marker
	}
	cases := []struct {
		name string
		data []byte
		want string // in the message
	}{
		{"empty", nil, "empty data"},
		{"text", []byte("this is not an image"), "Not a JPEG file"},
		{"soi only", []byte{0xff, 0xd8}, ""},
		{"header only", good[:200], ""},
		{"truncated scan", good[:len(good)/2], "Premature end of JPEG file"},
		{"truncated progressive", prog[:len(prog)*2/3], ""},
		{"corrupt scan", corrupt, ""},
		{"png", pngBytes(t), "Not a JPEG file"},
	}
	for _, c := range cases {
		_, err := Decode("dir/"+c.name+".jpg", c.data, 0)
		var je *Error
		if err == nil || !errors.As(err, &je) || je.Name != "dir/"+c.name+".jpg" ||
			!strings.Contains(err.Error(), "dir/"+c.name+".jpg") || !strings.Contains(je.Msg, c.want) {
			t.Errorf("%s: %v, want an *Error naming the file with %q", c.name, err, c.want)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
	if _, err := Decode("big.jpg", good, 97*61-1); err == nil || !strings.Contains(err.Error(), "larger than the limit") {
		t.Errorf("pixel limit: %v", err)
	}
	if _, err := Decode("fits.jpg", good, 97*61); err != nil {
		t.Errorf("image at the pixel limit: %v", err)
	}
}

func pngBytes(t *testing.T) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 3, 2))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestIsJPEG(t *testing.T) {
	for in, want := range map[string]bool{"\xff\xd8\xff\xe0": true, "\xff\xd8": true, "\xff": false, "\x89PNG": false, "": false} {
		if IsJPEG([]byte(in)) != want {
			t.Errorf("IsJPEG(%q) = %v", in, !want)
		}
	}
}

func TestColorSpaceString(t *testing.T) {
	if YCCK.String() != "YCCK" || ColorSpace(9).String() != "ColorSpace(9)" {
		t.Errorf("%v %v", YCCK, ColorSpace(9))
	}
}

// TestIgnoresEXIFOrientation: an EXIF orientation tag (6: rotate 90° clockwise to display)
// does not change the decoded grid, which cv2.imread would rotate (see the package doc).
func TestIgnoresEXIFOrientation(t *testing.T) {
	data := readFixture(t, "ycc420")
	// APP1 "Exif\0\0", a little-endian TIFF header and one IFD entry: 0x0112 SHORT 1 = 6.
	exif := []byte("\xff\xe1\x00\x22Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00" +
		"\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00\x00\x00\x00\x00")
	rotated := append(append(append([]byte(nil), data[:2]...), exif...), data[2:]...)
	want, err := Decode("plain.jpg", data, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode("exif.jpg", rotated, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.(*image.RGBA).Pix, want.(*image.RGBA).Pix) || got.Bounds() != want.Bounds() {
		t.Errorf("the orientation tag changed the decoded image: %v, want %v", got.Bounds(), want.Bounds())
	}
}

// TestConcurrent decodes the fixtures, whole and truncated, from several goroutines at once:
// each result (pixels or error message) must equal the one decoded alone.
func TestConcurrent(t *testing.T) {
	type result struct {
		pix []byte
		err string
	}
	run := func(data []byte) result {
		img, err := Decode("c.jpg", data, 0)
		if err != nil {
			return result{err: err.Error()}
		}
		switch m := img.(type) {
		case *image.RGBA:
			return result{pix: m.Pix}
		case *image.Gray:
			return result{pix: m.Pix}
		}
		return result{err: "unexpected type"}
	}
	var inputs [][]byte
	var want []result
	for _, name := range fixtures(t) {
		data := readFixture(t, name)
		for _, d := range [][]byte{data, data[:len(data)/2]} {
			inputs, want = append(inputs, d), append(want, run(d))
		}
	}
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		go func() {
			for k := range 5 * len(inputs) {
				i := (k + 7*g) % len(inputs)
				if got := run(inputs[i]); got.err != want[i].err || !bytes.Equal(got.pix, want[i].pix) {
					errs <- fmt.Sprintf("input %d: %q, alone %q", i, got.err, want[i].err)
					return
				}
			}
			errs <- ""
		}()
	}
	for range 8 {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}

// TestDecodeInto: decoding into a buffer full of another image's bytes (and of 0x00 and
// 0x5a, alpha included) gives Decode's image, byte for byte, in the buffer's memory when it
// is large enough; a smaller buffer is left alone.
func TestDecodeInto(t *testing.T) {
	for _, name := range fixtures(t) {
		data := readFixture(t, name)
		want, err := Decode(name, data, 0)
		if err != nil {
			t.Fatal(err)
		}
		m, ok := want.(*image.RGBA)
		if !ok {
			continue // grey: DecodeInto does not use the buffer
		}
		for _, fill := range []byte{0x00, 0x5a, 0xff} {
			buf := bytes.Repeat([]byte{fill}, len(m.Pix)+13)
			got, err := DecodeInto(name, data, 0, buf)
			if err != nil {
				t.Fatal(err)
			}
			g := got.(*image.RGBA)
			if g.Rect != m.Rect || g.Stride != m.Stride || !bytes.Equal(g.Pix, m.Pix) {
				t.Fatalf("%s into a buffer of 0x%02x: the pixels differ from Decode's", name, fill)
			}
			if &g.Pix[0] != &buf[0] {
				t.Errorf("%s: decoded into new memory although the buffer had room", name)
			}
		}
		small := make([]byte, len(m.Pix)-1)
		got, err := DecodeInto(name, data, 0, small)
		if err != nil {
			t.Fatal(err)
		}
		if g := got.(*image.RGBA); !bytes.Equal(g.Pix, m.Pix) || &g.Pix[0] == &small[0] {
			t.Errorf("%s: a buffer one byte short was used, or the pixels differ", name)
		}
	}
}
