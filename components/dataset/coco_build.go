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
}

// cocoItem is one image of the dataset.
type cocoItem struct {
	imageID int64
	id      string // file_name without its extension
	file    string // file_name as in the JSON (slash-separated, relative to the image folder)
	objs    []Object
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
func buildCOCO(f *cocoFile, o cocoOptions) ([]string, []cocoItem, error) {
	label, names, err := cocoLabels(f, o.classes)
	if err != nil {
		return nil, nil, err
	}
	items := make([]cocoItem, len(f.images))
	byID := make(map[int64]int, len(f.images))
	byName := make(map[string]int, len(f.images))
	for k, im := range f.images {
		where := func() string { return fmt.Sprintf("%s: images[%d] (line %d)", f.name, k, f.line(f.imgOff[k])) }
		if im.ID == nil {
			return nil, nil, fmt.Errorf("%s: no \"id\"", where())
		}
		if j, dup := byID[*im.ID]; dup {
			return nil, nil, fmt.Errorf("%s: id %d is also the id of images[%d]", where(), *im.ID, j)
		}
		byID[*im.ID] = k
		if im.FileName == nil || strings.TrimSpace(*im.FileName) == "" {
			return nil, nil, fmt.Errorf("%s (id %d): no \"file_name\"", where(), *im.ID)
		}
		name := strings.ReplaceAll(*im.FileName, `\`, "/")
		id := strings.TrimSuffix(name, path.Ext(name))
		if j, dup := byName[id]; dup {
			return nil, nil, fmt.Errorf("%s (id %d): file name %q gives the same sample id %q as images[%d]",
				where(), *im.ID, *im.FileName, id, j)
		}
		byName[id] = k
		items[k] = cocoItem{imageID: *im.ID, id: id, file: name}
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
			return nil, nil, fmt.Errorf("%s: no \"image_id\"", where())
		}
		img, ok := byID[*a.ImageID]
		if !ok {
			return nil, nil, fmt.Errorf("%s: image_id %d is not the id of an image of the file", where(), *a.ImageID)
		}
		if a.CategoryID == nil {
			return nil, nil, fmt.Errorf("%s: no \"category_id\"", where())
		}
		l, ok := label[*a.CategoryID]
		if !ok {
			return nil, nil, fmt.Errorf("%s: category_id %d is not the id of a category of the file", where(), *a.CategoryID)
		}
		if len(a.BBox) != 4 || slices.Contains(a.BBox, nil) {
			return nil, nil, fmt.Errorf("%s: bbox must be 4 numbers [x, y, width, height], got %s", where(), bboxText(a.BBox))
		}
		x, y, w, h := *a.BBox[0], *a.BBox[1], *a.BBox[2], *a.BBox[3]
		if w < 0 || h < 0 {
			return nil, nil, fmt.Errorf("%s: bbox %s has a negative width or height", where(), bboxText(a.BBox))
		}
		if l == 0 || (o.skipCrowd && bool(a.IsCrowd)) || w*h < o.minArea {
			continue
		}
		box := [4]float64{x, y, x + w, y + h}
		if w == 0 || h == 0 || math.IsInf(box[2], 0) || math.IsInf(box[3], 0) || !(box[2] > x && box[3] > y) {
			return nil, nil, fmt.Errorf("%s: empty box %s (set min_area to drop boxes smaller than it)", where(), bboxText(a.BBox))
		}
		items[img].objs = append(items[img].objs, Object{Box: box, Label: l, Difficult: bool(a.IsCrowd)})
	}
	slices.SortFunc(items, func(a, b cocoItem) int {
		switch {
		case a.imageID < b.imageID:
			return -1
		case a.imageID > b.imageID:
			return 1
		}
		return 0
	})
	if o.skipEmpty {
		items = slices.DeleteFunc(items, func(it cocoItem) bool {
			return !slices.ContainsFunc(it.objs, func(o Object) bool { return !o.Difficult })
		})
	}
	if len(items) == 0 {
		if o.skipEmpty {
			return nil, nil, fmt.Errorf("%s: no image has an object of the kept classes (skip_empty is set)", f.name)
		}
		return nil, nil, fmt.Errorf("%s: no images", f.name)
	}
	return names, items, nil
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
