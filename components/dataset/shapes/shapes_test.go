package shapes

import (
	"bytes"
	"hash/fnv"
	"image"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/registry"
)

func newShapes(t testing.TB, opts map[string]any) dataset.Dataset {
	t.Helper()
	ds, err := dataset.Build(registry.Ref{Type: "shapes", Options: opts}, dataset.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestShapesDeterministic(t *testing.T) {
	a := newShapes(t, map[string]any{"count": 16, "seed": 7})
	b := newShapes(t, map[string]any{"count": 16, "seed": 7})
	other := newShapes(t, map[string]any{"count": 16, "seed": 8})

	// b is generated concurrently and in reverse order.
	got := make([]dataset.Sample, 16)
	var wg sync.WaitGroup
	for i := 15; i >= 0; i-- {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s, err := b.Sample(i)
			if err != nil {
				t.Error(err)
			}
			got[i] = s
		}(i)
	}
	wg.Wait()
	differentPixels, differentBoxes := 0, 0
	for i := 0; i < 16; i++ {
		s, err := a.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		if s.ID != got[i].ID || !reflect.DeepEqual(s.Objects, got[i].Objects) ||
			!bytes.Equal(s.Image.(*image.RGBA).Pix, got[i].Image.(*image.RGBA).Pix) {
			t.Fatalf("sample %d differs between two datasets with the same seed", i)
		}
		_, objs, _ := a.Annotation(i)
		if !reflect.DeepEqual(objs, s.Objects) {
			t.Fatalf("sample %d: Annotation %v, Sample objects %v", i, objs, s.Objects)
		}
		o, _ := other.Sample(i)
		if o.Image.Bounds() != s.Image.Bounds() || !bytes.Equal(o.Image.(*image.RGBA).Pix, s.Image.(*image.RGBA).Pix) {
			differentPixels++
		}
		if !reflect.DeepEqual(o.Objects, s.Objects) {
			differentBoxes++
		}
		if o.ID == s.ID {
			t.Errorf("sample %d: seeds 7 and 8 share the id %q", i, s.ID)
		}
	}
	if differentPixels != 16 || differentBoxes != 16 {
		t.Errorf("seed 8 vs 7: %d/16 images and %d/16 box sets differ, want all", differentPixels, differentBoxes)
	}
}

// TestShapesGolden pins a few values of the generator, so that an accidental change of the
// data (which would change every experiment's numbers) is noticed.
func TestShapesGolden(t *testing.T) {
	ds := newShapes(t, map[string]any{"count": 3})
	s, err := ds.Sample(2)
	if err != nil {
		t.Fatal(err)
	}
	if b := s.Image.Bounds(); b.Dx() != 269 || b.Dy() != 400 {
		t.Errorf("sample 2 size %v, want 269x400", b)
	}
	want := []dataset.Object{
		{Box: [4]float64{18, 272, 71, 319}, Label: 4},
		{Box: [4]float64{44, 147, 132, 227}, Label: 4},
		{Box: [4]float64{0, 376, 24, 399}, Label: 5},
		{Box: [4]float64{152, 265, 188, 302}, Label: 7},
	}
	if !reflect.DeepEqual(s.Objects, want) {
		t.Errorf("sample 2 objects %v, want %v", s.Objects, want)
	}
	// Pixels are pinned on amd64 only: other architectures may fuse multiply-adds, which can
	// move a colour by one level.
	h := fnv.New64a()
	h.Write(s.Image.(*image.RGBA).Pix)
	if got := h.Sum64(); runtime.GOARCH == "amd64" && got != 0xa290489cd600f636 {
		t.Errorf("sample 2 pixel hash %#x, want %#x", got, uint64(0xa290489cd600f636))
	}
}

func TestShapesBoxesAndStatistics(t *testing.T) {
	ds := newShapes(t, nil) // the defaults: 512 images, all 8 classes, 1-6 objects
	names := ds.ClassNames()
	if !slices.Equal(names, append([]string{"BACKGROUND"}, shapeNames...)) || ds.Len() != 512 {
		t.Fatalf("defaults: %d images, classes %v", ds.Len(), names)
	}
	perClass := make([]int, len(names))
	objects, border, overlapping, images := 0, 0, 0, 0
	for i := 0; i < ds.Len(); i++ {
		id, objs, err := ds.Annotation(i)
		if err != nil {
			t.Fatal(err)
		}
		// The image size comes from the layout (painting is not needed for the checks).
		l := ds.(*Dataset).layout(i)
		if l.w < 240 || l.w > 400 || l.h < 240 || l.h > 400 {
			t.Errorf("%s: size %dx%d outside [240, 400]", id, l.w, l.h)
		}
		if len(objs) < 1 || len(objs) > 6 {
			t.Errorf("%s: %d objects", id, len(objs))
		}
		images++
		for k, o := range objs {
			b := o.Box
			if b[0] < 0 || b[1] < 0 || b[2] > float64(l.w-1) || b[3] > float64(l.h-1) ||
				b[2]-b[0] < minShapeSide-1 || b[3]-b[1] < minShapeSide-1 {
				t.Errorf("%s: object %d box %v in a %dx%d image", id, k, b, l.w, l.h)
			}
			if o.Label < 1 || o.Label >= len(names) || o.Difficult {
				t.Errorf("%s: object %d label %d difficult %v", id, k, o.Label, o.Difficult)
			}
			perClass[o.Label]++
			objects++
			if b[0] == 0 || b[1] == 0 || b[2] == float64(l.w-1) || b[3] == float64(l.h-1) {
				border++
			}
			for _, p := range objs[:k] {
				if iou := boxIoU(b, p.Box); iou > 0.4+1e-9 {
					t.Errorf("%s: IoU %.3f above max_overlap", id, iou)
				} else if iou > 0 {
					overlapping++
				}
			}
		}
	}
	mean := float64(objects) / float64(len(names)-1)
	for c := 1; c < len(names); c++ {
		if dev := float64(perClass[c])/mean - 1; dev < -0.2 || dev > 0.2 {
			t.Errorf("class %s: %d objects, %.0f%% away from the mean %.0f", names[c], perClass[c], 100*dev, mean)
		}
	}
	t.Logf("%d images, %.2f objects per image, per class %v", images, float64(objects)/float64(images), perClass[1:])
	t.Logf("boxes on the image border: %.1f%%; overlapping pairs: %d", 100*float64(border)/float64(objects), overlapping)
	if float64(border) < 0.08*float64(objects) || overlapping < 50 {
		t.Errorf("too easy: %d of %d boxes touch the border, %d overlapping pairs", border, objects, overlapping)
	}
}

func boxIoU(a, b [4]float64) float64 {
	iw := min(a[2], b[2]) - max(a[0], b[0]) + 1
	ih := min(a[3], b[3]) - max(a[1], b[1]) + 1
	if iw <= 0 || ih <= 0 {
		return 0
	}
	area := func(b [4]float64) float64 { return (b[2] - b[0] + 1) * (b[3] - b[1] + 1) }
	return iw * ih / (area(a) + area(b) - iw*ih)
}

// TestShapesBoxesAreTight paints every object of a layout alone (flat white on black) and
// checks that the extent of its lit pixels is its box; then, painting them in drawing order,
// that each keeps at least min_visible (0.6) of its pixels visible.
func TestShapesBoxesAreTight(t *testing.T) {
	ds := newShapes(t, map[string]any{"count": 40}).(*Dataset)
	for i := 0; i < ds.Len(); i++ {
		l := ds.layout(i)
		owner := make([]int, l.w*l.h)
		for k := range owner {
			owner[k] = -1
		}
		for k, s := range l.shapes {
			img := image.NewRGBA(image.Rect(0, 0, l.w, l.h))
			fillSolid(img, s.m, rgb{255, 255, 255})
			box := [4]int{l.w, l.h, -1, -1}
			n := 0
			for y := 0; y < l.h; y++ {
				for x := 0; x < l.w; x++ {
					if img.Pix[y*img.Stride+4*x] == 255 {
						box = [4]int{min(box[0], x), min(box[1], y), max(box[2], x), max(box[3], y)}
						owner[y*l.w+x] = k
						n++
					}
				}
			}
			if box != s.m.box || n != s.m.area {
				t.Fatalf("image %d object %d: painted extent %v (%d px), box %v (%d px)", i, k, box, n, s.m.box, s.m.area)
			}
		}
		visible := make([]int, len(l.shapes))
		for _, o := range owner {
			if o >= 0 {
				visible[o]++
			}
		}
		for k, s := range l.shapes {
			if float64(visible[k]) < 0.6*float64(s.m.area) {
				t.Errorf("image %d object %d: %d of %d pixels visible", i, k, visible[k], s.m.area)
			}
		}
	}
}

func TestShapesOptions(t *testing.T) {
	ds := newShapes(t, map[string]any{"count": 30, "image_width": 300, "image_height": 200,
		"classes": []string{"star", "circle"}, "min_objects": 2, "max_objects": 3, "noise": 0, "clutter": 0})
	if got := ds.ClassNames(); !slices.Equal(got, []string{"BACKGROUND", "star", "circle"}) {
		t.Fatalf("classes %v", got)
	}
	seen := map[int]bool{}
	for i := 0; i < ds.Len(); i++ {
		s, err := ds.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		if s.Image.Bounds() != image.Rect(0, 0, 300, 200) {
			t.Fatalf("size %v", s.Image.Bounds())
		}
		for _, o := range s.Objects {
			seen[o.Label] = true
		}
		if n := len(s.Objects); n > 3 {
			t.Errorf("%d objects", n)
		}
	}
	if len(seen) != 2 || !seen[1] || !seen[2] {
		t.Errorf("labels used: %v", seen)
	}
	if _, err := ds.Sample(30); err == nil {
		t.Error("Sample(30) of 30: no error")
	}
}

func TestShapesConfigErrors(t *testing.T) {
	for _, c := range []struct {
		opts map[string]any
		want string
	}{
		{map[string]any{"classes": []string{"circle", "sqare"}}, `unknown shape "sqare"; did you mean "square"?`},
		{map[string]any{"classes": []string{"star", "star"}}, "listed twice"},
		{map[string]any{"count": 0}, "count"},
		{map[string]any{"min_size": 300, "max_size": 200}, "min_size"},
		{map[string]any{"image_width": 8}, "image_width"},
		{map[string]any{"min_objects": 3, "max_objects": 2}, "max_objects"},
		{map[string]any{"min_object_size": 0.6}, "min_object_size"},
		{map[string]any{"max_overlap": 1.5}, "max_overlap"},
		{map[string]any{"noise": -1}, "noise"},
		{map[string]any{"colour": 1}, `unknown option "colour"`},
	} {
		_, err := dataset.Build(registry.Ref{Type: "shapes", Options: c.opts}, dataset.Env{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("shapes %v: %v, want an error containing %q", c.opts, err, c.want)
		}
	}
}

// TestShapesSpeed guards the generation time of a 300×300 image (a few ms; the bound is
// loose because the test machine is shared).
func TestShapesSpeed(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	ds := newShapes(t, map[string]any{"count": 64, "image_width": 300, "image_height": 300})
	start := time.Now()
	for i := 0; i < ds.Len(); i++ {
		if _, err := ds.Sample(i); err != nil {
			t.Fatal(err)
		}
	}
	per := time.Since(start) / time.Duration(ds.Len())
	t.Logf("%v per 300x300 sample", per)
	if per > 50*time.Millisecond {
		t.Errorf("%v per 300x300 sample", per)
	}
}

func BenchmarkShapesSample300(b *testing.B) {
	ds := newShapes(b, map[string]any{"count": 1 << 20, "image_width": 300, "image_height": 300})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ds.Sample(i); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkShapesAnnotation300(b *testing.B) {
	ds := newShapes(b, map[string]any{"count": 1 << 20, "image_width": 300, "image_height": 300})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := ds.Annotation(i); err != nil {
			b.Fatal(err)
		}
	}
}
