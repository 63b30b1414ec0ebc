package dataset

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The parts of a VOC annotation that the reader uses. Like the reference, only <object>
// children of the root element count, and within each the first <name>, <difficult> and
// <bndbox> child (so the <part> elements of VOC person layouts are ignored).
type vocXML struct {
	XMLName xml.Name
	Objects []vocXMLObject `xml:"object"`
}

type vocXMLObject struct {
	Name      []string    `xml:"name"`
	Difficult []string    `xml:"difficult"`
	BndBox    []vocXMLBox `xml:"bndbox"`
}

type vocXMLBox struct {
	XMin []string `xml:"xmin"`
	YMin []string `xml:"ymin"`
	XMax []string `xml:"xmax"`
	YMax []string `xml:"ymax"`
}

// parseAnnotation reads the objects of one VOC annotation file (file names it in errors).
//
// It follows the reference's VOCDataset._get_annotation:
//   - the class name is lower-cased and trimmed; objects whose class is not a known class are
//     skipped (an error instead when strict is set), before their box is looked at;
//   - box coordinates are decimal numbers, from which 1 is subtracted (VOC is 1-based), kept
//     at float32 precision as the reference's float32 arrays keep them;
//   - an empty <difficult> means 0, any other integer than 0 marks the object difficult.
//
// Where the reference would crash or produce a degenerate box, this returns an error naming
// the file and the object's index among the <object> elements: malformed XML, a missing or
// empty <name>, a missing <bndbox> or coordinate, a coordinate that is not a finite number,
// xmax <= xmin or ymax <= ymin (a zero-width box makes the SSD box encoding take log(0)), a
// <difficult> that is not an integer. A missing <difficult> means 0 (the reference crashes).
// Coordinates are not checked against the image size (the reference does not either).
func parseAnnotation(data []byte, file string, classes map[string]int, strict bool) ([]Object, error) {
	var doc vocXML
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.CharsetReader = charsetReader
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: malformed XML: %v", file, err)
	}
	if doc.XMLName.Local != "annotation" {
		// Another XML file (the reference reads its objects all the same, finding none).
		return nil, fmt.Errorf("%s: the root element is <%s>, not <annotation>: not a VOC annotation", file, doc.XMLName.Local)
	}
	objs := []Object{}
	for k, o := range doc.Objects {
		fail := func(format string, args ...any) error {
			return fmt.Errorf("%s: object[%d]: %s", file, k, fmt.Sprintf(format, args...))
		}
		if len(o.Name) == 0 {
			return nil, fail("missing <name>")
		}
		name := strings.ToLower(strings.TrimSpace(o.Name[0]))
		if name == "" {
			return nil, fail("empty <name>")
		}
		label, ok := classes[name]
		if !ok {
			if strict {
				return nil, fail("class %q is not in the label set", name)
			}
			continue
		}
		if len(o.BndBox) == 0 {
			return nil, fail("(%s): missing <bndbox>", name)
		}
		var box [4]float64
		b := o.BndBox[0]
		for c, v := range [][]string{b.XMin, b.YMin, b.XMax, b.YMax} {
			tag := [...]string{"xmin", "ymin", "xmax", "ymax"}[c]
			if len(v) == 0 {
				return nil, fail("(%s): missing <bndbox><%s>", name, tag)
			}
			f, err := parseCoord(v[0])
			if err != nil {
				return nil, fail("(%s): <%s> %q is not a finite number", name, tag, v[0])
			}
			box[c] = f
		}
		if box[2] <= box[0] || box[3] <= box[1] {
			return nil, fail("(%s): empty box: xmin %g, ymin %g, xmax %g, ymax %g (VOC 1-based values)",
				name, box[0]+1, box[1]+1, box[2]+1, box[3]+1)
		}
		difficult := false
		if len(o.Difficult) > 0 {
			s := strings.TrimSpace(o.Difficult[0])
			if s != "" {
				n, err := strconv.Atoi(s)
				if err != nil {
					return nil, fail("(%s): <difficult> %q is not an integer", name, o.Difficult[0])
				}
				difficult = n != 0
			}
		}
		objs = append(objs, Object{Box: box, Label: label, Difficult: difficult})
	}
	return objs, nil
}

// parseCoord converts a 1-based VOC coordinate to the reference's 0-based float32 value.
func parseCoord(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if strings.ContainsAny(s, "xX_") { // Go accepts hex floats and digit separators; Python's float does not
		return 0, strconv.ErrSyntax
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	f = float64(float32(f - 1))
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, strconv.ErrRange
	}
	return f, nil
}

// charsetReader lets annotations declare ISO-8859-1 or US-ASCII besides UTF-8.
func charsetReader(charset string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "us-ascii", "ascii":
		return in, nil
	case "iso-8859-1", "iso8859-1", "latin-1", "latin1":
		return &latin1Reader{r: bufio.NewReader(in)}, nil
	}
	return nil, fmt.Errorf("unsupported encoding %q", charset)
}

// latin1Reader converts ISO-8859-1 bytes to UTF-8.
type latin1Reader struct {
	r   *bufio.Reader
	buf []byte
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	for len(l.buf) < len(p) {
		c, err := l.r.ReadByte()
		if err != nil {
			if len(l.buf) > 0 {
				break
			}
			return 0, err
		}
		l.buf = utf8.AppendRune(l.buf, rune(c))
	}
	n := copy(p, l.buf)
	l.buf = l.buf[n:]
	return n, nil
}
