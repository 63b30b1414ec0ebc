package openimages

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ssdrunner/ssdrunner/internal/rng"
)

// Rules are the selection options besides the class list.
type Rules struct {
	Classes []ClassSpec
	// IncludeDepiction keeps boxes of drawings, paintings and other depictions
	// (IsDepiction = 1), which are dropped by default.
	IncludeDepiction bool
	// RemoveOverlapped drops the single-object boxes (IsGroupOf = 0) of every image that
	// has a group box (IsGroupOf = 1) among the selected boxes.
	RemoveOverlapped bool
	// Exclude are image ids never selected (--filter-file).
	Exclude []string
	// Seed seeds the random draws (percentage sampling and the row order) as
	// np.random.seed(Seed) seeds the reference's.
	Seed uint32
}

// Columns the selection needs in an annotation file. The coordinates are not read here,
// but the open_images dataset needs them in the output.
var requiredColumns = []string{"ImageID", "LabelName", "XMin", "XMax", "YMin", "YMax", "IsGroupOf", "IsDepiction"}

// The columns the selection adds to each row, as the reference's join with the class
// descriptions does.
var addedColumns = []string{"id", "ClassName"}

// flag is the value of an Is… column: 1, 0, or anything else (-1, empty).
type flag int8

const (
	flagOther flag = iota
	flagZero
	flagOne
)

// Row is one kept annotation row.
type Row struct {
	Record string // the file's fields, CSV-encoded, without the line end
	Image  string
	Class  int // index in Rules.Classes
	Label  string
	Line   int
	group  flag
	depict flag
}

// Table is the rows of one annotation file whose LabelName is one of the selected
// classes', in file order.
type Table struct {
	File   string
	Header []string
	Rows   []Row
	Lines  int // data rows read
}

// Selector applies the reference's selection to the splits of a release, in the
// reference's order (train, validation, test): the random stream and the set of excluded
// images carry over from one split to the next, as in the reference's loop.
type Selector struct {
	rules    Rules
	label    map[string]int // LabelName → class index
	excluded map[string]bool
	rs       *rng.NumpyRandomState
}

// NewSelector returns the selector of rules; labels are the LabelNames of each class
// (Descriptions.Resolve).
func NewSelector(rules Rules, labels [][]string) (*Selector, error) {
	if len(labels) != len(rules.Classes) {
		return nil, fmt.Errorf("%d label lists for %d classes", len(labels), len(rules.Classes))
	}
	s := &Selector{rules: rules, label: map[string]int{}, excluded: map[string]bool{}, rs: rng.NewNumpyRandomState(rules.Seed)}
	for k, ids := range labels {
		for _, id := range ids {
			s.label[id] = k
		}
	}
	for _, id := range rules.Exclude {
		s.excluded[id] = true
	}
	return s, nil
}

// Read streams an annotation file (*-annotations-bbox.csv) from r, keeping the rows of the
// selected classes; only those are held in memory. progress, when set, is called now and
// then with the bytes read so far. Errors name file and line: a missing column, a row with
// another number of fields than the header, an Is… flag that is not a number, an ImageID
// that cannot name a file.
func (s *Selector) Read(r io.Reader, file string, progress func(int64)) (*Table, error) {
	cr := &countingReader{r: r, progress: progress}
	t := &Table{File: file}
	var col struct{ image, label, group, depict int }
	var enc bytes.Buffer
	w := csv.NewWriter(&enc)
	var rec []string
	err := scanRecords(cr, file, func(line int, fields [][]byte) error {
		if t.Header == nil {
			for _, f := range fields {
				if !utf8.Valid(f) {
					return fmt.Errorf("%s: line %d: the header is not valid UTF-8", file, line)
				}
				t.Header = append(t.Header, string(f))
			}
			for _, name := range requiredColumns {
				if !slices.Contains(t.Header, name) {
					return fmt.Errorf("%s: line %d: the header has no column %q (columns: %s)", file, line, name, strings.Join(t.Header, ", "))
				}
			}
			for _, name := range addedColumns {
				if slices.Contains(t.Header, name) {
					return fmt.Errorf("%s: line %d: the header already has a column %q (is this a sub-*-annotations-bbox.csv written by a downloader?)", file, line, name)
				}
			}
			col.image, col.label = slices.Index(t.Header, "ImageID"), slices.Index(t.Header, "LabelName")
			col.group, col.depict = slices.Index(t.Header, "IsGroupOf"), slices.Index(t.Header, "IsDepiction")
			return nil
		}
		t.Lines++
		k, ok := s.label[string(fields[col.label])] // no allocation for the lookup
		if !ok {
			return nil
		}
		rec = rec[:0]
		for i, f := range fields {
			if !utf8.Valid(f) {
				return fmt.Errorf("%s: line %d: field %d is not valid UTF-8", file, line, i+1)
			}
			rec = append(rec, string(f))
		}
		id := rec[col.image]
		if id == "" || strings.ContainsAny(id, "/\\\x00") || id == "." || id == ".." {
			return fmt.Errorf("%s: line %d: ImageID %q cannot name a file", file, line, id)
		}
		group, err := parseFlag(rec[col.group])
		if err != nil {
			return fmt.Errorf("%s: line %d: IsGroupOf: %v", file, line, err)
		}
		depict, err := parseFlag(rec[col.depict])
		if err != nil {
			return fmt.Errorf("%s: line %d: IsDepiction: %v", file, line, err)
		}
		enc.Reset()
		if err := w.Write(rec); err != nil {
			return err
		}
		w.Flush()
		t.Rows = append(t.Rows, Row{
			Record: strings.TrimSuffix(enc.String(), "\n"), Image: id, Class: k, Label: rec[col.label],
			Line: line, group: group, depict: depict,
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if t.Header == nil {
		return nil, fmt.Errorf("%s: empty file (no header)", file)
	}
	return t, nil
}

// parseFlag reads an Is… value as pandas compares it: 1 and 0 (as any number's text), and
// anything else, an empty field included, which is neither.
func parseFlag(s string) (flag, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return flagOther, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return flagOther, fmt.Errorf("%q is not a number", s)
	}
	switch f {
	case 1:
		return flagOne, nil
	case 0:
		return flagZero, nil
	}
	return flagOther, nil
}

// Select applies the rules to one split's table, as the reference's open_images_downloader.py
// does, and returns the selected rows in their output order:
//
//  1. without IncludeDepiction, rows with IsDepiction = 1 are dropped;
//  2. for each class in the list's order, with its rows in file order: a random (1 −
//     fraction) share of its rows is drawn (pandas' sample(frac=1 − fraction): that many
//     rows, rounded half to even, taken by np.random.permutation) and their images are
//     excluded, so the share of images kept is at most the fraction, less for images with
//     several boxes of the class; "~group" excludes the images with a group box of the
//     class, "group" those with a single-object box of it. The draw is made for every
//     class, fraction 1 included (the stream advances as the reference's does);
//  3. the rows of the classes, concatenated in list order, lose every row whose image is
//     excluded, whatever its class (the filter file's images included);
//  4. with RemoveOverlapped, the rows with IsGroupOf = 0 of images that have a row with
//     IsGroupOf = 1 are dropped;
//  5. the rows are shuffled (sample(frac=1)).
//
// Excluded images stay excluded in the later splits.
func (s *Selector) Select(t *Table) []Row {
	rows := t.Rows
	if !s.rules.IncludeDepiction {
		rows = slices.DeleteFunc(slices.Clone(rows), func(r Row) bool { return r.depict == flagOne })
	}
	byClass := make([][]int, len(s.rules.Classes))
	for i, r := range rows {
		byClass[r.Class] = append(byClass[r.Class], i)
	}
	var concat []Row
	for k, c := range s.rules.Classes {
		sub := byClass[k]
		perm := s.rs.Permutation(len(sub))
		n := int(math.RoundToEven((1 - c.Fraction) * float64(len(sub))))
		for _, j := range perm[:n] {
			s.excluded[rows[sub[j]].Image] = true
		}
		for _, i := range sub {
			r := rows[i]
			if (c.Group == GroupExclude && r.group == flagOne) || (c.Group == GroupOnly && r.group == flagZero) {
				s.excluded[r.Image] = true
			}
			concat = append(concat, r)
		}
	}
	kept := slices.DeleteFunc(concat, func(r Row) bool { return s.excluded[r.Image] })
	if s.rules.RemoveOverlapped {
		grouped := map[string]bool{}
		for _, r := range kept {
			if r.group == flagOne {
				grouped[r.Image] = true
			}
		}
		kept = slices.DeleteFunc(kept, func(r Row) bool { return grouped[r.Image] && r.group == flagZero })
	}
	perm := s.rs.Permutation(len(kept))
	out := make([]Row, len(kept))
	for i, j := range perm {
		out[i] = kept[j]
	}
	return out
}

// WriteSelection writes the selected rows as the reference's sub-<split>-annotations-bbox.csv:
// the annotation file's columns and fields as they were, then id (the LabelName) and
// ClassName.
func WriteSelection(w io.Writer, t *Table, rows []Row, classes []ClassSpec) error {
	bw := bufio.NewWriter(w)
	cw := csv.NewWriter(bw)
	if err := cw.Write(append(slices.Clone(t.Header), addedColumns...)); err != nil {
		return err
	}
	cw.Flush()
	var tail bytes.Buffer
	tw := csv.NewWriter(&tail)
	for _, r := range rows {
		tail.Reset()
		if err := tw.Write([]string{r.Label, classes[r.Class].Name}); err != nil {
			return err
		}
		tw.Flush()
		bw.WriteString(r.Record)
		bw.WriteByte(',')
		bw.Write(tail.Bytes())
	}
	if err := cw.Error(); err != nil {
		return err
	}
	return bw.Flush()
}

// Images returns the distinct images of rows, sorted.
func Images(rows []Row) []string {
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.Image
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

type countingReader struct {
	r        io.Reader
	n, last  int64
	progress func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += int64(k)
	if c.progress != nil && (c.n-c.last >= 4<<20 || err != nil) {
		c.last = c.n
		c.progress(c.n)
	}
	return k, err
}
