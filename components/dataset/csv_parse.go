package dataset

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// csvColumnNames are the columns of the "csv" format, in their default order.
var csvColumnNames = []string{"image", "xmin", "ymin", "xmax", "ymax", "class"}

// csvSkipColumn marks a column of the file that the reader ignores.
const csvSkipColumn = "_"

// csvLayout tells where the columns are.
type csvLayout struct {
	pos   [6]int // field index of image, xmin, ymin, xmax, ymax, class
	n     int    // fields per row
	names []string
}

// newCSVLayout checks a `columns` option: every name of csvColumnNames exactly once, plus
// any number of "_" for ignored columns.
func newCSVLayout(cols []string) (csvLayout, error) {
	l := csvLayout{n: len(cols), names: cols}
	for k := range l.pos {
		l.pos[k] = -1
	}
	for i, c := range cols {
		if c == csvSkipColumn {
			continue
		}
		k := slices.Index(csvColumnNames, c)
		if k < 0 {
			return l, fmt.Errorf("columns[%d]: %q is not one of %s (or %q for a column to ignore)",
				i, c, strings.Join(csvColumnNames, ", "), csvSkipColumn)
		}
		if l.pos[k] >= 0 {
			return l, fmt.Errorf("columns: %q is listed twice", c)
		}
		l.pos[k] = i
	}
	for k, p := range l.pos {
		if p < 0 {
			return l, fmt.Errorf("columns: %q is missing (need %s)", csvColumnNames[k], strings.Join(csvColumnNames, ", "))
		}
	}
	return l, nil
}

// csvItem is one image of a "csv" dataset, its rows grouped.
type csvItem struct {
	image string // the path as written in the file
	line  int    // line of its first row
	objs  []Object
	bad   error // with skipBad: the first error of the image's rows (or of its file)
}

// csvParseOptions are the options of parseDetectionCSV.
type csvParseOptions struct {
	layout   csvLayout
	header   string          // "auto", "true" or "false"
	relative bool            // coordinates are fractions of the image size
	classes  []string        // explicit class names in label order; nil: order of first appearance
	skipBad  bool            // record row errors in the items instead of failing (Env.SkipBad)
	ctx      context.Context // cancels the reading (nil: never)
}

// parseDetectionCSV reads a "csv" dataset file (file names it in errors): one box per row,
// rows grouped by image path into samples in the order of each image's first row. A row
// whose coordinates and class are all empty lists an image without objects. Image paths and
// class names are trimmed of surrounding white space; class names are case-sensitive.
//
// Errors name the file and the line: malformed CSV, a row with another number of fields
// than columns lists, an empty image path, some but not all of the coordinates and class
// empty, a coordinate that is not a finite number (or, relative, outside [0, 1]), xmax <=
// xmin or ymax <= ymin, a class that is not in the explicit label set or (without one) a
// class called BACKGROUND. A file without any row is an error.
//
// With o.skipBad, a row error does not stop the parse: it marks the row's image bad (the
// item's bad field holds its first error), or, when the row names no image (an empty path,
// too few fields), it becomes an item of its own with an empty image path. The items keep
// the order of their first rows; an error is returned only when no image is good.
func parseDetectionCSV(data []byte, file string, o csvParseOptions) ([]string, []csvItem, error) {
	lay := o.layout
	names := []string{"BACKGROUND"}
	label := map[string]int{}
	if o.classes != nil {
		names = append(names, o.classes...)
		for k, c := range o.classes {
			label[c] = k + 1
		}
	}
	var items []csvItem
	index := map[string]int{}
	first := true
	row := func(line int, rec []string) error {
		if first {
			first = false
			if o.header == "true" || (o.header == "auto" && looksLikeHeader(rec, lay)) {
				return nil
			}
		}
		fail := func(format string, args ...any) error {
			return fmt.Errorf("%s: line %d: %s", file, line, fmt.Sprintf(format, args...))
		}
		if len(rec) != lay.n {
			return fail("%d fields, but columns lists %d (%s)", len(rec), lay.n, strings.Join(lay.names, ", "))
		}
		img := strings.TrimSpace(rec[lay.pos[0]])
		if img == "" {
			return fail("empty image path")
		}
		k, ok := index[img]
		if !ok {
			k = len(items)
			index[img] = k
			items = append(items, csvItem{image: img, line: line})
		}
		empty := 0
		for _, p := range lay.pos[1:] {
			if strings.TrimSpace(rec[p]) == "" {
				empty++
			}
		}
		if empty == 5 {
			return nil // an image without objects
		}
		var box [4]float64
		for c := range box {
			s := rec[lay.pos[1+c]]
			f, err := parseFinite(s)
			if err != nil {
				if strings.TrimSpace(s) == "" {
					return fail("empty %s", csvColumnNames[1+c])
				}
				return fail("%s %q is not a finite number", csvColumnNames[1+c], s)
			}
			if o.relative && (f < 0 || f > 1) {
				return fail("%s %g is outside [0, 1] (relative is set)", csvColumnNames[1+c], f)
			}
			box[c] = f
		}
		if !(box[2] > box[0] && box[3] > box[1]) {
			return fail("empty box: xmin %g, ymin %g, xmax %g, ymax %g", box[0], box[1], box[2], box[3])
		}
		class := strings.TrimSpace(rec[lay.pos[5]])
		l, ok := label[class]
		switch {
		case class == "":
			return fail("empty class")
		case ok:
		case o.classes != nil:
			return fail("%s", unknownClass(class, o.classes))
		case strings.EqualFold(class, "BACKGROUND"):
			return fail("class %q is reserved (label 0)", class)
		default:
			l = len(names)
			label[class] = l
			names = append(names, class)
		}
		items[k].objs = append(items[k].objs, Object{Box: box, Label: l})
		return nil
	}
	ctx := o.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	err := eachCSVRecord(ctx, data, file, func(line int, rec []string) error {
		err := row(line, rec)
		if err == nil || !o.skipBad {
			return err
		}
		var img string
		if lay.pos[0] < len(rec) {
			img = strings.TrimSpace(rec[lay.pos[0]])
		}
		if img == "" {
			items = append(items, csvItem{line: line, bad: err})
			return nil
		}
		k, ok := index[img]
		if !ok {
			k = len(items)
			index[img] = k
			items = append(items, csvItem{image: img, line: line})
		}
		if items[k].bad == nil {
			items[k].bad = err
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if len(items) == 0 {
		return nil, nil, fmt.Errorf("%s: no rows", file)
	}
	if !slices.ContainsFunc(items, func(it csvItem) bool { return it.bad == nil }) {
		return nil, nil, everySampleBad(csvProblems(items))
	}
	if !slices.ContainsFunc(items, func(it csvItem) bool { return it.bad == nil && len(it.objs) > 0 }) {
		return nil, nil, fmt.Errorf("%s: no boxes (every row lists an image without objects)", file)
	}
	return names, items, nil
}

// csvProblems lists the bad items as Problems, in item order.
func csvProblems(items []csvItem) []Problem {
	var out []Problem
	for _, it := range items {
		if it.bad != nil {
			out = append(out, Problem{ID: it.image, Err: it.bad})
		}
	}
	return out
}

// looksLikeHeader reports whether a first record is a header: one of its coordinate fields
// is neither empty nor a number (inf and nan count as numbers, rejected later as such).
func looksLikeHeader(rec []string, lay csvLayout) bool {
	for _, p := range lay.pos[1:5] {
		if p < len(rec) {
			if s := strings.TrimSpace(rec[p]); s != "" {
				_, err := parseFinite(s)
				if err != nil && !errors.Is(err, strconv.ErrRange) {
					return true
				}
			}
		}
	}
	return false
}
