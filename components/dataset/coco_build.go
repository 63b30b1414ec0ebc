package dataset

import (
	"errors"
	"fmt"
	"math"
	"path"
	"slices"
	"strings"

	"github.com/ssdrunner/ssdrunner/registry"
)

// cocoOptions are the options that decide which annotations become objects.
type cocoOptions struct {
	classes   []string // explicit classes in label order; nil: every category
	skipCrowd bool
	minArea   float64
	skipEmpty bool
	skipBad   bool // record element errors in the items instead of failing (Env.SkipBad)
}

// cocoItem is one image of the dataset.
type cocoItem struct {
	imageID int64
	id      string // file_name without its extension
	file    string // file_name as in the JSON (slash-separated, relative to the image folder)
	objs    []Object
	bad     error // with skipBad: the first error of the image or of its annotations
	loose   bool  // with bad: the error is not one image's (an image without id, an annotation of no image)
}

// buildCOCO checks the decoded file and turns it into class names and items:
//   - labels: without explicit classes, the categories in ascending id order get labels
//     1..K; with explicit classes, only those categories are kept, labelled in the given
//     order;
//   - boxes [x, y, w, h] become corners (x, y, x+w, y+h), in pixels as in the file;
//   - crowd annotations (iscrowd 1) are dropped with skipCrowd, else kept with Difficult set;
//   - boxes whose area w·h is below minArea are dropped;
//   - images are sorted by id, their objects kept in file order; with skipEmpty, images
//     without any non-crowd object are dropped.
//
// Errors name the file and the element (array index, line and id): a category without id
// or name, or with an empty name, BACKGROUND, or an id or name used twice; an image without
// id or file_name, or with an id used twice; an annotation without image_id or
// category_id, or whose ids are not those of an image or a category of the file, a bbox
// that is not 4 numbers, a negative width or height, or (for a kept annotation) a zero
// width or height.
//
// With o.skipBad, an element error does not stop the build: it marks the image it belongs to
// bad (an image whose id another image has too, and both of them; an annotation's image),
// and an error that belongs to no image (an image without id, an annotation without a valid
// image_id) becomes an item of its own with loose set. Bad items are returned with the
// others: the loose ones first (images without id, then annotations, each in file order),
// then all in image id order. An error is returned only when no image is good.
func buildCOCO(f *cocoFile, o cocoOptions) ([]string, []cocoItem, error) {
	label, names, err := cocoLabels(f, o.classes)
	if err != nil {
		return nil, nil, err
	}
	items := make([]cocoItem, len(f.images))
	var loose []cocoItem // annotation errors that belong to no image
	// fail records err for images[k] (or as a loose problem when k < 0) with skipBad, and
	// tells whether to go on.
	fail := func(k int, err error) error {
		switch {
		case !o.skipBad:
			return err
		case k < 0:
			loose = append(loose, cocoItem{bad: err, loose: true})
		case items[k].bad == nil:
			items[k].bad = err
		}
		return nil
	}
	byID := make(map[int64]int, len(f.images))
	byName := make(map[string]int, len(f.images))
	for k, im := range f.images {
		where := func() string { return fmt.Sprintf("%s: images[%d] (line %d)", f.name, k, f.line(f.imgOff[k])) }
		if im.FileName != nil && strings.TrimSpace(*im.FileName) != "" {
			name := strings.ReplaceAll(*im.FileName, `\`, "/")
			items[k].file, items[k].id = name, strings.TrimSuffix(name, path.Ext(name))
		}
		if im.ID == nil {
			items[k].loose = true
			if err := fail(k, fmt.Errorf("%s: no \"id\"", where())); err != nil {
				return nil, nil, err
			}
			continue
		}
		items[k].imageID = *im.ID
		if j, dup := byID[*im.ID]; dup {
			err := fmt.Errorf("%s: id %d is also the id of images[%d]", where(), *im.ID, j)
			if err := fail(k, err); err != nil {
				return nil, nil, err
			}
			fail(j, err) // its annotations cannot be told from this one's
			continue
		}
		byID[*im.ID] = k
		if items[k].file == "" {
			if err := fail(k, fmt.Errorf("%s (id %d): no \"file_name\"", where(), *im.ID)); err != nil {
				return nil, nil, err
			}
			continue
		}
		if j, dup := byName[items[k].id]; dup {
			err := fmt.Errorf("%s (id %d): file name %q gives the same sample id %q as images[%d]",
				where(), *im.ID, *im.FileName, items[k].id, j)
			if err := fail(k, err); err != nil {
				return nil, nil, err
			}
			continue
		}
		byName[items[k].id] = k
	}
	for k, a := range f.annotations {
		where := func() string {
			s := fmt.Sprintf("%s: annotations[%d] (line %d", f.name, k, f.line(f.annOff[k]))
			if a.ID != nil {
				s += fmt.Sprintf(", id %d", *a.ID)
			}
			return s + ")"
		}
		if a.ImageID == nil {
			if err := fail(-1, fmt.Errorf("%s: no \"image_id\"", where())); err != nil {
				return nil, nil, err
			}
			continue
		}
		img, ok := byID[*a.ImageID]
		if !ok {
			if err := fail(-1, fmt.Errorf("%s: image_id %d is not the id of an image of the file", where(), *a.ImageID)); err != nil {
				return nil, nil, err
			}
			continue
		}
		if items[img].bad != nil {
			continue // already dropped (with skipBad)
		}
		obj, keep, err := cocoObject(a, label, o, where)
		if err != nil {
			if err := fail(img, err); err != nil {
				return nil, nil, err
			}
			continue
		}
		if keep {
			items[img].objs = append(items[img].objs, obj)
		}
	}
	slices.SortStableFunc(items, func(a, b cocoItem) int {
		switch {
		case a.loose != b.loose:
			if a.loose {
				return -1
			}
			return 1
		case a.imageID < b.imageID:
			return -1
		case a.imageID > b.imageID:
			return 1
		}
		return 0
	})
	if len(loose) > 0 {
		n := 0 // images without id, first after sorting
		for n < len(items) && items[n].loose {
			n++
		}
		items = slices.Insert(items, n, loose...)
	}
	if o.skipEmpty {
		items = slices.DeleteFunc(items, func(it cocoItem) bool {
			return it.bad == nil && !slices.ContainsFunc(it.objs, func(o Object) bool { return !o.Difficult })
		})
	}
	if !slices.ContainsFunc(items, func(it cocoItem) bool { return it.bad == nil }) {
		if problems := cocoProblems(items); len(problems) > 0 {
			return nil, nil, everySampleBad(problems)
		}
		if o.skipEmpty {
			return nil, nil, fmt.Errorf("%s: no image has an object of the kept classes (skip_empty is set)", f.name)
		}
		return nil, nil, fmt.Errorf("%s: no images", f.name)
	}
	return names, items, nil
}

// cocoObject checks annotation a (where names it) and returns its object, and whether the
// options keep it.
func cocoObject(a cocoAnnotationJSON, label map[int64]int, o cocoOptions, where func() string) (Object, bool, error) {
	if a.CategoryID == nil {
		return Object{}, false, fmt.Errorf("%s: no \"category_id\"", where())
	}
	l, ok := label[*a.CategoryID]
	if !ok {
		return Object{}, false, fmt.Errorf("%s: category_id %d is not the id of a category of the file", where(), *a.CategoryID)
	}
	if len(a.BBox) != 4 || slices.Contains(a.BBox, nil) {
		return Object{}, false, fmt.Errorf("%s: bbox must be 4 numbers [x, y, width, height], got %s", where(), bboxText(a.BBox))
	}
	x, y, w, h := *a.BBox[0], *a.BBox[1], *a.BBox[2], *a.BBox[3]
	if w < 0 || h < 0 {
		return Object{}, false, fmt.Errorf("%s: bbox %s has a negative width or height", where(), bboxText(a.BBox))
	}
	if l == 0 || (o.skipCrowd && bool(a.IsCrowd)) || w*h < o.minArea {
		return Object{}, false, nil
	}
	box := [4]float64{x, y, x + w, y + h}
	if w == 0 || h == 0 || math.IsInf(box[2], 0) || math.IsInf(box[3], 0) || !(box[2] > x && box[3] > y) {
		return Object{}, false, fmt.Errorf("%s: empty box %s (set min_area to drop boxes smaller than it)", where(), bboxText(a.BBox))
	}
	return Object{Box: box, Label: l, Difficult: bool(a.IsCrowd)}, true, nil
}

// cocoProblems lists the bad items as Problems, in item order.
func cocoProblems(items []cocoItem) []Problem {
	var out []Problem
	for _, it := range items {
		if it.bad != nil {
			id := it.id
			if it.loose {
				id = ""
			}
			out = append(out, Problem{ID: id, Err: it.bad})
		}
	}
	return out
}

// cocoLabels maps category ids to labels (0: not kept) and returns the class names.
func cocoLabels(f *cocoFile, classes []string) (map[int64]int, []string, error) {
	if len(f.categories) == 0 {
		return nil, nil, fmt.Errorf("%s: no categories", f.name)
	}
	type cat struct {
		id   int64
		name string
	}
	cats := make([]cat, len(f.categories))
	byName := map[string]int{}
	byID := map[int64]int{}
	for k, c := range f.categories {
		where := fmt.Sprintf("%s: categories[%d] (line %d)", f.name, k, f.line(f.catOff[k]))
		switch {
		case c.ID == nil:
			return nil, nil, fmt.Errorf("%s: no \"id\"", where)
		case c.Name == nil || strings.TrimSpace(*c.Name) == "":
			return nil, nil, fmt.Errorf("%s (id %d): no \"name\"", where, *c.ID)
		case strings.EqualFold(*c.Name, "BACKGROUND"):
			return nil, nil, fmt.Errorf("%s (id %d): the name BACKGROUND is reserved (label 0)", where, *c.ID)
		}
		if j, dup := byID[*c.ID]; dup {
			return nil, nil, fmt.Errorf("%s: id %d is also the id of categories[%d]", where, *c.ID, j)
		}
		if j, dup := byName[*c.Name]; dup {
			return nil, nil, fmt.Errorf("%s (id %d): name %q is also the name of categories[%d]", where, *c.ID, *c.Name, j)
		}
		byID[*c.ID], byName[*c.Name] = k, k
		cats[k] = cat{*c.ID, *c.Name}
	}
	label := make(map[int64]int, len(cats))
	for _, c := range cats {
		label[c.id] = 0
	}
	names := []string{"BACKGROUND"}
	if classes == nil {
		slices.SortFunc(cats, func(a, b cat) int {
			switch {
			case a.id < b.id:
				return -1
			case a.id > b.id:
				return 1
			}
			return 0
		})
		for k, c := range cats {
			label[c.id] = k + 1
			names = append(names, c.name)
		}
		return label, names, nil
	}
	for k, name := range classes {
		j, ok := byName[name]
		if !ok {
			all := make([]string, len(cats))
			for i, c := range cats {
				all[i] = c.name
			}
			msg := fmt.Sprintf("%s: no category is named %q (classes option)", f.name, name)
			if s := registry.Suggest(name, all); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			return nil, nil, errors.New(msg)
		}
		label[cats[j].id] = k + 1
		names = append(names, name)
	}
	return label, names, nil
}

// bboxText prints a bbox as the file has it (null for missing numbers).
func bboxText(b []*float64) string {
	if b == nil {
		return "null"
	}
	parts := make([]string, len(b))
	for k, v := range b {
		if v == nil {
			parts[k] = "null"
		} else {
			parts[k] = fmt.Sprint(*v)
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
