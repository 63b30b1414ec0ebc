package transform

import (
	"encoding/json"
	"math"
	"os"
	"sync"
	"testing"
)

// The golden file is written by testdata/gen_golden.py from the reference (pytorch-ssd's
// vision/transforms and vision/ssd/data_preprocessing) and OpenCV 4.6.0.

type draw struct {
	I *int     `json:"i"`
	F *float64 `json:"f"`
}

type goldenFile struct {
	HSV struct {
		RGB      []float32 `json:"rgb"`
		HSV      []float32 `json:"hsv"`
		Modified []float32 `json:"modified"`
		Back     []float32 `json:"back"`
	} `json:"hsv"`
	Resize []struct {
		H, W     int
		OH       int       `json:"oh"`
		OW       int       `json:"ow"`
		FloatIn  []float32 `json:"float_in"`
		FloatOut []float32 `json:"float_out"`
		U8In     []float32 `json:"u8_in"`
		U8Out    []float32 `json:"u8_out"`
	} `json:"resize"`
	Photometric struct {
		H, W  int
		Image []float32
		Cases []struct {
			Draws []draw
			Out   []float32
		}
	} `json:"photometric"`
	Train struct {
		H, W, Size int
		Image      []float32
		Boxes      []float32
		Labels     []int
		Cases      []struct {
			Mean               []float64
			Std                float64
			Draws              []draw
			Expand, Crop, Flip bool
			Image, Boxes       []float32
			Labels             []int
		}
	} `json:"train"`
	Test struct {
		H, W, Size int
		Image      []float32
		Boxes      []float32
		Out        []float32
		OutBoxes   []float32 `json:"out_boxes"`
	} `json:"test"`
}

var (
	goldenOnce sync.Once
	goldenData goldenFile
	goldenErr  error
)

func loadGolden(t *testing.T) *goldenFile {
	t.Helper()
	goldenOnce.Do(func() {
		b, err := os.ReadFile("testdata/golden.json")
		if err != nil {
			goldenErr = err
			return
		}
		goldenErr = json.Unmarshal(b, &goldenData)
	})
	if goldenErr != nil {
		t.Fatalf("golden file: %v", goldenErr)
	}
	return &goldenData
}

// script replays recorded draws as a randSource, failing the test when the Go code draws
// differently from the reference.
type script struct {
	t     *testing.T
	draws []draw
	pos   int
}

func (s *script) next(kind string) draw {
	s.t.Helper()
	if s.pos >= len(s.draws) {
		s.t.Fatalf("draw %d (%s): the reference drew only %d values", s.pos, kind, len(s.draws))
	}
	d := s.draws[s.pos]
	s.pos++
	return d
}

func (s *script) IntN(n int) int {
	s.t.Helper()
	d := s.next("int")
	if d.I == nil || *d.I < 0 || *d.I >= n {
		s.t.Fatalf("draw %d: Go draws an integer below %d, the reference drew %+v", s.pos-1, n, d)
	}
	return *d.I
}

func (s *script) Float64() float64 {
	s.t.Helper()
	d := s.next("float")
	if d.F == nil {
		s.t.Fatalf("draw %d: Go draws a float, the reference drew an integer %d", s.pos-1, *d.I)
	}
	return *d.F
}

func (s *script) done() {
	s.t.Helper()
	if s.pos != len(s.draws) {
		s.t.Fatalf("Go used %d draws, the reference %d", s.pos, len(s.draws))
	}
}

// ulpDiff is the distance in units in the last place between two float32 values.
func ulpDiff(a, b float32) int64 {
	ia, ib := int64(int32(math.Float32bits(a))), int64(int32(math.Float32bits(b)))
	if ia < 0 {
		ia = math.MinInt32 - ia
	}
	if ib < 0 {
		ib = math.MinInt32 - ib
	}
	if ia > ib {
		return ia - ib
	}
	return ib - ia
}

// compare reports the largest absolute difference and ulp distance of two slices and the
// number of values that differ.
func compare(t *testing.T, what string, got, want []float32) (maxAbs float64, maxULP int64, differ int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			differ++
			maxAbs = max(maxAbs, math.Abs(float64(got[i])-float64(want[i])))
			maxULP = max(maxULP, ulpDiff(got[i], want[i]))
		}
	}
	return
}

func TestHSVEqualsOpenCV(t *testing.T) {
	g := loadGolden(t).HSV
	var hsv, back []float32
	for i := 0; i < len(g.RGB); i += 3 {
		h, s, v := rgbToHSV(g.RGB[i], g.RGB[i+1], g.RGB[i+2])
		hsv = append(hsv, h, s, v)
		r, gg, b := hsvToRGB(g.Modified[i], g.Modified[i+1], g.Modified[i+2])
		back = append(back, r, gg, b)
	}
	if d, u, n := compare(t, "rgb->hsv", hsv, g.HSV); n > 0 {
		t.Errorf("RGB->HSV: %d of %d values differ from OpenCV (max %g, %d ulp)", n, len(hsv), d, u)
	}
	if d, u, n := compare(t, "hsv->rgb", back, g.Back); n > 0 {
		t.Errorf("HSV->RGB: %d of %d values differ from OpenCV (max %g, %d ulp)", n, len(back), d, u)
	}
}

func TestResizeEqualsOpenCV(t *testing.T) {
	for _, c := range loadGolden(t).Resize {
		rz := newResizer(c.W, c.H, c.OW, c.OH)
		got := rz.float(wholeView(c.FloatIn, c.W, c.H), nil)
		if d, u, n := compare(t, "float", got, c.FloatOut); n > 0 {
			t.Errorf("%dx%d -> %dx%d float32: %d values differ from cv2.resize (max %g, %d ulp)", c.W, c.H, c.OW, c.OH, n, d, u)
		}
		got = rz.uint8(wholeView(c.U8In, c.W, c.H), nil)
		if d, _, n := compare(t, "uint8", got, c.U8Out); n > 0 {
			t.Errorf("%dx%d -> %dx%d uint8: %d values differ from cv2.resize (max %g)", c.W, c.H, c.OW, c.OH, n, d)
		}
	}
}

func TestPhotometricMatchesReference(t *testing.T) {
	g := loadGolden(t).Photometric
	cfg := DefaultPhotometric()
	for i, c := range g.Cases {
		s := &Sample{ID: "golden", Image: append([]float32(nil), g.Image...), W: g.W, H: g.H}
		src := &script{t: t, draws: c.Draws}
		if err := (&photometric{cfg: cfg}).apply(s, src); err != nil {
			t.Fatal(err)
		}
		src.done()
		if d, u, n := compare(t, "photometric", s.Image, c.Out); n > 0 {
			t.Errorf("case %d: %d of %d values differ from the reference, max %g (%d ulp)", i, n, len(s.Image), d, u)
		}
	}
}

// trainCase runs the "ssd" transform (and the equivalent chain of steps) with a golden
// case's draws.
func TestSSDMatchesReferenceTrainAugmentation(t *testing.T) {
	g := loadGolden(t).Train
	for i, c := range g.Cases {
		cfg := DefaultSSD()
		cfg.Size, cfg.Mean, cfg.Std = g.Size, c.Mean, []float64{c.Std}
		cfg.Crop.ReferenceBug = true
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		boxes := make([][4]float32, len(g.Labels))
		for j := range boxes {
			copy(boxes[j][:], g.Boxes[4*j:])
		}
		// the float32 path, and the 8-bit one (Apply8) from the image's bytes
		img8, integral := bytesOf(g.Image, g.W, g.H, 3)
		if !integral {
			t.Fatal("the golden image is not 8-bit")
		}
		for _, eight := range []bool{false, true} {
			s := &Sample{ID: "golden", Image: append([]float32(nil), g.Image...), W: g.W, H: g.H,
				Boxes: append([][4]float32(nil), boxes...), Labels: append([]int(nil), g.Labels...)}
			src := &script{t: t, draws: c.Draws}
			if eight {
				s.Image = poisoned(3 * g.W * g.H)
				if err := newSSD(&cfg).apply(s, src, &img8); err != nil {
					t.Fatal(err)
				}
			} else if err := newSSD(&cfg).apply(s, src, nil); err != nil {
				t.Fatal(err)
			}
			src.done()
			if d, u, n := compare(t, "image", s.Image, c.Image); n > 0 {
				t.Errorf("case %d (expand %v, crop %v, flip %v, 8-bit %v): %d of %d values differ from the reference, max %g (%d ulp)",
					i, c.Expand, c.Crop, c.Flip, eight, n, len(s.Image), d, u)
			}
			checkGoldenBoxes(t, i, s, c.Labels, c.Boxes, g.Size)
		}
	}
}

// checkGoldenBoxes compares a transformed sample's labels and boxes (relative to size, as
// the loader normalises them) with a golden case's.
func checkGoldenBoxes(t *testing.T, i int, s *Sample, labels []int, boxes []float32, size int) {
	t.Helper()
	if len(s.Labels) != len(labels) {
		t.Fatalf("case %d: %d boxes, want %d", i, len(s.Labels), len(labels))
	}
	for j, l := range s.Labels {
		if l != labels[j] {
			t.Errorf("case %d: label %d = %d, want %d", i, j, l, labels[j])
		}
		for k := range 4 {
			rel := s.Boxes[j][k] / float32(size)
			if math.Abs(float64(rel-boxes[4*j+k])) > 1e-6 {
				t.Errorf("case %d: box %d = %v (relative %v), want %v", i, j, s.Boxes[j], rel, boxes[4*j:4*j+4])
				break
			}
		}
	}
}

func TestTestTransformMatchesReference(t *testing.T) {
	g := loadGolden(t).Test
	tr, err := Build(refOf("test", map[string]any{"size": g.Size}))
	if err != nil {
		t.Fatal(err)
	}
	s := &Sample{ID: "golden", Image: append([]float32(nil), g.Image...), W: g.W, H: g.H,
		Boxes: [][4]float32{{g.Boxes[0], g.Boxes[1], g.Boxes[2], g.Boxes[3]}}, Labels: []int{1}}
	if err := tr.Apply(s, nil); err != nil {
		t.Fatal(err)
	}
	if d, _, n := compare(t, "test", s.Image, g.Out); n > 0 {
		t.Errorf("%d values differ from the reference's TestTransform (max %g)", n, d)
	}
	for k := range 4 {
		if rel := s.Boxes[0][k] / float32(g.Size); math.Abs(float64(rel-g.OutBoxes[k])) > 1e-6 {
			t.Errorf("box %v (relative %v), want %v", s.Boxes[0], rel, g.OutBoxes)
		}
	}
}
