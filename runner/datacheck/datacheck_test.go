package datacheck

import (
	"context"
	"errors"
	"image"
	"strings"
	"testing"

	"github.com/ssdrunner/ssdrunner/components/dataset"
)

// fake is a dataset with hand-written annotations; image i fails to decode when bad[i].
type fake struct {
	ids  []string
	objs [][]dataset.Object
	bad  map[int]bool
}

func (f *fake) Len() int             { return len(f.ids) }
func (f *fake) ClassNames() []string { return []string{"BACKGROUND", "cat", "dog"} }
func (f *fake) Problems() []dataset.Problem {
	return []dataset.Problem{{ID: "gone", Err: errors.New("gone.xml: malformed")}}
}
func (f *fake) Annotation(i int) (string, []dataset.Object, error) { return f.ids[i], f.objs[i], nil }
func (f *fake) Sample(i int) (dataset.Sample, error) {
	if f.bad[i] {
		return dataset.Sample{}, errors.New(f.ids[i] + ".jpg: corrupt JPEG")
	}
	return dataset.Sample{ID: f.ids[i], Image: image.NewRGBA(image.Rect(0, 0, 100+i, 50)), Objects: f.objs[i]}, nil
}

func TestCheck(t *testing.T) {
	ds := &fake{
		ids: []string{"a", "b", "c"},
		objs: [][]dataset.Object{
			{{Box: [4]float64{0, 0, 10, 20}, Label: 1}, {Box: [4]float64{5, 5, 7, 9}, Label: 1, Difficult: true}, {Box: [4]float64{0, 0, 30, 30}, Label: 2}},
			{},
			{{Box: [4]float64{10, 10, 10, 20}, Label: 2}, {Box: [4]float64{0, 0, 4, 4}, Label: 3}},
		},
		bad: map[int]bool{1: true},
	}
	r, err := Check(context.Background(), "train", "fake", ds, true)
	if err != nil {
		t.Fatal(err)
	}
	if r.Images != 3 || r.Objects != 3 || r.Difficult != 1 || r.EmptyImages != 1 || r.TinyBoxes != 1 {
		t.Errorf("counts: %+v", r)
	}
	if r.PerClass[0] != (ClassCount{Class: "cat", Objects: 2, Difficult: 1, Images: 1}) || r.PerClass[1] != (ClassCount{Class: "dog", Objects: 1, Images: 1}) {
		t.Errorf("per class: %+v", r.PerClass)
	}
	if r.BoxesPerImage != (Stats{Min: 0, Median: 2, Mean: 5.0 / 3, Max: 3}) {
		t.Errorf("boxes per image: %+v", r.BoxesPerImage)
	}
	if r.ImageWidth.Min != 100 || r.ImageWidth.Max != 102 || r.ImageHeight.Mean != 50 {
		t.Errorf("image sizes: %+v %+v", r.ImageWidth, r.ImageHeight)
	}
	var msgs []string
	for _, p := range r.Problems {
		msgs = append(msgs, p.ID+": "+p.Error)
	}
	got := strings.Join(msgs, "\n")
	for _, want := range []string{"gone: gone.xml: malformed", "c: object 0: degenerate box", "c: object 1: label 3 outside 1..2", "b: b.jpg: corrupt JPEG"} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Check(ctx, "train", "fake", ds, false); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestNoUsableObjects: a data set whose annotations give no object of its classes (labels
// that match nothing) is a problem, not "no problems found"; so is one without images.
func TestNoUsableObjects(t *testing.T) {
	ds := &fake{ids: []string{"a", "b"}, objs: [][]dataset.Object{{}, {}}}
	r, err := Check(context.Background(), "train", "fake", ds, false)
	if err != nil {
		t.Fatal(err)
	}
	if !hasProblem(r, "none of the 2 images has a usable object of the classes cat, dog") {
		t.Errorf("problems: %+v", r.Problems)
	}
	r, err = Check(context.Background(), "train", "fake", &fake{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if !hasProblem(r, "the dataset has no images") {
		t.Errorf("problems: %+v", r.Problems)
	}
}

// TestBoxOutsideImage: with images decoded, a box entirely outside its image is a problem.
func TestBoxOutsideImage(t *testing.T) {
	ds := &fake{ids: []string{"a"}, objs: [][]dataset.Object{{
		{Box: [4]float64{0, 0, 10, 10}, Label: 1},
		{Box: [4]float64{150, 0, 170, 10}, Label: 1},
		{Box: [4]float64{0, -30, 10, -5}, Label: 2},
		{Box: [4]float64{90, 40, 120, 60}, Label: 2}, // overlaps the 100x50 image: kept
	}}}
	r, err := Check(context.Background(), "train", "fake", ds, true)
	if err != nil {
		t.Fatal(err)
	}
	if !hasProblem(r, "object 1: box [150 0 170 10] lies entirely outside the 100x50 image") ||
		!hasProblem(r, "object 2: box [0 -30 10 -5] lies entirely outside") || hasProblem(r, "object 3") || hasProblem(r, "object 0") {
		t.Errorf("problems: %+v", r.Problems)
	}
}

func hasProblem(r *Report, s string) bool {
	for _, p := range r.Problems {
		if strings.Contains(p.Error, s) {
			return true
		}
	}
	return false
}
