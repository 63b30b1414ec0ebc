package dataset

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// oiImage is one image of an Open Images annotation file, its rows grouped.
type oiImage struct {
	id     string
	line   int          // line of its first row
	boxes  [][4]float32 // XMin, YMin, XMax, YMax, relative to the image size
	labels []int
	path   string // the image file (set by NewOpenImages)
}

// oiColumns are the columns the reader uses; others (LabelName, Confidence, IsGroupOf …)
// are ignored.
var oiColumns = [...]string{"ImageID", "ClassName", "XMin", "YMin", "XMax", "YMax"}

// oiParsed is the content of an Open Images annotation file.
type oiParsed struct {
	names  []string        // BACKGROUND then the classes, in label order
	images []oiImage       // sorted by id
	seen   map[string]bool // every ClassName of the file, filtered out or not
	// problems (with skipBad): the rows that name no image, in file order, then the
	// dropped images, sorted by id, each with its first error.
	problems []Problem
}

// parseOpenImages reads a sub-<split>-annotations-bbox.csv file (file names it in errors),
// as the reference's OpenImagesDataset._read_data does:
//   - the first record is the header; columns are found by name;
//   - without explicit classes, the labels are BACKGROUND then the file's distinct ClassName
//     values sorted (by code point, as Python sorts strings); with explicit classes, they are
//     BACKGROUND then those classes in the given order, and rows of other classes are
//     skipped;
//   - rows are grouped by ImageID, images sorted by ImageID (as text), rows kept in file
//     order within an image;
//   - coordinates are kept as float32, relative to the image size.
//
// Where the reference would produce a NaN or degenerate box, or crash later, this returns an
// error naming the file and the line: malformed CSV, a missing column, a row with another
// number of fields than the header, an empty ImageID or ClassName, an ImageID with a path
// separator, a ClassName BACKGROUND, a coordinate that is not a finite number or lies
// outside [0, 1], XMax <= XMin or YMax <= YMin (compared at float32 precision). A file
// without any row is an error too (with explicit classes, the caller checks that some row
// was kept).
func parseOpenImages(data []byte, file string, classes []string) (*oiParsed, error) {
	return parseOpenImagesSkip(context.Background(), data, file, classes, false)
}

// parseOpenImagesSkip is parseOpenImages, which fails at the first bad row, with the choice
// of skipBad (Env.SkipBad): then a row error does not stop the parse; the row's image is
// dropped and recorded in problems with its first error (a row without an ImageID is
// recorded on its own, with an empty id), and an error is returned only when no image is
// good. Header and file errors stay fatal. The labels still come from every row's ClassName.
func parseOpenImagesSkip(ctx context.Context, data []byte, file string, classes []string, skipBad bool) (*oiParsed, error) {
	p := &oiParsed{seen: map[string]bool{}}
	var col [len(oiColumns)]int
	nfields := 0
	index := map[string]int{}    // ImageID → position in p.images
	var rowClasses [][]string    // class name of each kept row, per image
	explicit := map[string]int{} // explicit class → label
	for k, c := range classes {
		explicit[c] = k + 1
	}
	bad := map[string]error{} // ImageID → first error (with skipBad)
	headerErr := false
	row := func(line int, rec []string) error {
		if nfields == 0 {
			nfields = len(rec)
			for k, name := range oiColumns {
				col[k] = slices.Index(rec, name)
				if col[k] < 0 {
					headerErr = true
					return fmt.Errorf("%s: line %d: the header has no column %q (columns: %s)",
						file, line, name, strings.Join(rec, ", "))
				}
			}
			return nil
		}
		if len(rec) != nfields {
			return fmt.Errorf("%s: line %d: %d fields, but the header has %d", file, line, len(rec), nfields)
		}
		fail := func(format string, args ...any) error {
			return fmt.Errorf("%s: line %d: %s", file, line, fmt.Sprintf(format, args...))
		}
		id, class := rec[col[0]], rec[col[1]]
		switch {
		case class == "":
			return fail("empty ClassName")
		case strings.EqualFold(class, "BACKGROUND"):
			return fail("ClassName %q is reserved (label 0)", class)
		}
		p.seen[class] = true
		if classes != nil && explicit[class] == 0 {
			return nil
		}
		switch {
		case id == "":
			return fail("empty ImageID")
		case strings.ContainsAny(id, `/\`) || id == "." || id == "..":
			return fail("ImageID %q cannot name a file", id)
		}
		var box [4]float32
		for c := range box {
			name := oiColumns[2+c]
			s := rec[col[2+c]]
			f, err := parseFinite(s)
			if err != nil {
				return fail("%s %q is not a finite number", name, s)
			}
			if f < 0 || f > 1 {
				return fail("%s %g is outside [0, 1] (coordinates are relative to the image size)", name, f)
			}
			box[c] = float32(f)
		}
		if box[2] <= box[0] || box[3] <= box[1] {
			return fail("empty box: XMin %g, YMin %g, XMax %g, YMax %g", box[0], box[1], box[2], box[3])
		}
		k, ok := index[id]
		if !ok {
			k = len(p.images)
			index[id] = k
			p.images = append(p.images, oiImage{id: id, line: line})
			rowClasses = append(rowClasses, nil)
		}
		p.images[k].boxes = append(p.images[k].boxes, box)
		rowClasses[k] = append(rowClasses[k], class)
		return nil
	}
	err := eachCSVRecord(ctx, data, file, func(line int, rec []string) error {
		err := row(line, rec)
		if err == nil || !skipBad || headerErr {
			return err
		}
		var id string
		if col[0] < len(rec) {
			id = rec[col[0]]
		}
		switch {
		case id == "":
			p.problems = append(p.problems, Problem{Err: err})
		case bad[id] == nil:
			bad[id] = err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if nfields == 0 {
		return nil, fmt.Errorf("%s: empty file (no header)", file)
	}
	if len(bad) > 0 {
		for _, id := range slices.Sorted(maps.Keys(bad)) {
			p.problems = append(p.problems, Problem{ID: id, Err: bad[id]})
		}
		var kept int
		for k, im := range p.images {
			if bad[im.id] == nil {
				p.images[kept], rowClasses[kept] = im, rowClasses[k]
				kept++
			}
		}
		p.images, rowClasses = p.images[:kept], rowClasses[:kept]
	}
	if len(p.images) == 0 && len(p.problems) > 0 {
		return nil, everySampleBad(p.problems)
	}
	if len(p.images) == 0 && classes == nil {
		return nil, fmt.Errorf("%s: no boxes", file)
	}
	label := explicit
	if classes == nil {
		classes = make([]string, 0, len(p.seen))
		for c := range p.seen {
			classes = append(classes, c)
		}
		slices.Sort(classes)
		for k, c := range classes {
			label[c] = k + 1
		}
	}
	p.names = append([]string{"BACKGROUND"}, classes...)
	for k := range p.images {
		p.images[k].labels = make([]int, len(rowClasses[k]))
		for j, c := range rowClasses[k] {
			p.images[k].labels[j] = label[c]
		}
	}
	slices.SortFunc(p.images, func(a, b oiImage) int { return strings.Compare(a.id, b.id) })
	return p, nil
}
