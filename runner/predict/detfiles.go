package predict

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/ssdrunner/ssdrunner/runner/detect"
)

// writeSummaryJSON writes detections.json: what json.MarshalIndent of struct {Classes
// []string `json:"classes"`; *Summary} with classes and sum and a two-space indent
// gives, byte for byte, followed by a newline. encoding/json took 55-80 ms for 100
// images of 330 detections each (most of it in re-indenting its own output), about 1 ms
// per image of runner predict's end-to-end time at batch 1; this writes the same bytes
// in a fraction of that (the test compares the two on awkward values: empty and nil
// lists, escapes in names, floats in exponent form).
func writeSummaryJSON(w io.Writer, classes []string, sum *Summary) error {
	e := jsonWriter{blockWriter: newBlockWriter(w), strs: map[string][]byte{}}
	e.open()
	e.key(1, "classes")
	if classes == nil {
		e.raw("null")
	} else {
		e.list(1, len(classes), func(i int) { e.str(classes[i]) })
	}
	e.key(1, "images")
	if sum.Images == nil {
		e.raw("null")
	} else {
		e.list(1, len(sum.Images), func(i int) { e.image(2, &sum.Images[i]); e.flush(false) })
	}
	if len(sum.Failures) > 0 {
		e.key(1, "failures")
		e.list(1, len(sum.Failures), func(i int) {
			e.open()
			e.key(3, "path")
			e.str(sum.Failures[i].Path)
			e.key(3, "error")
			e.str(sum.Failures[i].Error)
			e.close(2)
		})
	}
	e.key(1, "seconds")
	e.float(sum.Seconds)
	e.close(0)
	e.raw("\n")
	e.flush(true)
	return e.err
}

// blockWriter appends to buf and writes it out in blocks; the first error sticks.
type blockWriter struct {
	w   io.Writer
	buf []byte
	err error
}

func newBlockWriter(w io.Writer) blockWriter { return blockWriter{w: w, buf: make([]byte, 0, 1<<17)} }

// flush writes buf out once it holds a block, or whatever it holds when all is set.
func (e *blockWriter) flush(all bool) {
	if e.err == nil && (all || len(e.buf) >= 1<<16) {
		_, e.err = e.w.Write(e.buf)
		e.buf = e.buf[:0]
	}
}

// fail records err unless an error came first.
func (e *blockWriter) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

// jsonWriter writes indented JSON as encoding/json's MarshalIndent with a two-space
// indent lays it out.
type jsonWriter struct {
	blockWriter
	strs  map[string][]byte // encoded strings, for the class names that every detection repeats
	first bool              // no field of the object being written yet
}

// close ends an object whose braces sit at level.
func (e *jsonWriter) close(level int) {
	e.buf = append(e.buf, '\n')
	e.indent(level)
	e.buf = append(e.buf, '}')
}

func (e *jsonWriter) raw(s string) { e.buf = append(e.buf, s...) }

const spaces = "                                                                "

func (e *jsonWriter) indent(level int) { e.buf = append(e.buf, spaces[:2*level]...) }

// open starts an object; its fields follow with key.
func (e *jsonWriter) open() {
	e.buf = append(e.buf, '{')
	e.first = true
}

// key starts a field of the object being written: the line break (after a comma but
// before the first field), the indent of level, the key and ": ".
func (e *jsonWriter) key(level int, k string) {
	if !e.first {
		e.buf = append(e.buf, ',')
	}
	e.first = false
	e.buf = append(e.buf, '\n')
	e.indent(level)
	e.buf = append(e.buf, '"')
	e.buf = append(e.buf, k...)
	e.buf = append(e.buf, `": `...)
}

// list writes n elements, each at level+1 on a line of its own ("[]" when n is 0); item
// writes element i after its indent.
func (e *jsonWriter) list(level, n int, item func(i int)) {
	if n == 0 {
		e.raw("[]")
		return
	}
	e.raw("[\n")
	for i := range n {
		e.indent(level + 1)
		item(i)
		if i < n-1 {
			e.buf = append(e.buf, ',')
		}
		e.buf = append(e.buf, '\n')
	}
	e.indent(level)
	e.buf = append(e.buf, ']')
}

// str writes s as encoding/json quotes it (HTML characters escaped, invalid UTF-8
// replaced).
func (e *jsonWriter) str(s string) {
	b, ok := e.strs[s]
	if !ok {
		var err error
		if b, err = json.Marshal(s); err != nil {
			e.fail(err)
			return
		}
		if len(e.strs) < 1024 {
			e.strs[s] = b
		}
	}
	e.buf = append(e.buf, b...)
}

func (e *jsonWriter) int(v int) { e.buf = strconv.AppendInt(e.buf, int64(v), 10) }

// float writes v as encoding/json writes a float64: the shortest decimal that reads back
// as v, in exponent form below 1e-6 and from 1e21 on (exponent without a leading zero).
// NaN and infinities are an error, as in encoding/json.
func (e *jsonWriter) float(v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		e.fail(fmt.Errorf("json: unsupported value: %v", v))
		return
	}
	format := byte('f')
	if abs := math.Abs(v); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b := strconv.AppendFloat(e.buf, v, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	e.buf = b
}

// image writes one Image object whose braces sit at level.
func (e *jsonWriter) image(level int, im *Image) {
	e.open()
	e.key(level+1, "path")
	e.str(im.Path)
	if im.Frame != nil {
		e.key(level+1, "frame")
		e.int(*im.Frame)
	}
	e.key(level+1, "width")
	e.int(im.Width)
	e.key(level+1, "height")
	e.int(im.Height)
	if im.Output != "" {
		e.key(level+1, "output")
		e.str(im.Output)
	}
	e.key(level+1, "detections")
	if im.Detections == nil {
		e.raw("null")
	} else {
		e.list(level+1, len(im.Detections), func(i int) { e.detection(level+2, &im.Detections[i]) })
	}
	e.close(level)
}

// detection writes one Detection object whose braces sit at level.
func (e *jsonWriter) detection(level int, d *detect.Detection) {
	e.open()
	e.key(level+1, "box")
	e.list(level+1, len(d.Box), func(i int) { e.float(d.Box[i]) })
	e.key(level+1, "label")
	e.int(d.Label)
	e.key(level+1, "class")
	e.str(d.Class)
	e.key(level+1, "score")
	e.float(d.Score)
	e.close(level)
}

// writeDetectionsCSV writes detections.csv: a header, then a row per detection (path,
// frame, class, label, score, xmin, ymin, xmax, ymax), the bytes that encoding/csv's
// Writer gives for those rows with the numbers as strconv.FormatFloat(v, 'f', -1, 32)
// writes them. The text fields go through encoding/csv (its quoting), once per image and
// class; the numbers are appended as they are (they never need quotes).
func writeDetectionsCSV(w io.Writer, sum *Summary) error {
	e := newBlockWriter(w)
	fields := func(f ...string) []byte { // f as encoding/csv writes them, with the comma after
		var b bytes.Buffer
		cw := csv.NewWriter(&b)
		cw.Write(f)
		cw.Flush()
		return append(bytes.TrimSuffix(b.Bytes(), []byte("\n")), ',')
	}
	e.buf = append(e.buf, "path,frame,class,label,score,xmin,ymin,xmax,ymax\n"...)
	classes := map[string][]byte{}
	for _, im := range sum.Images {
		frame := ""
		if im.Frame != nil {
			frame = strconv.Itoa(*im.Frame)
		}
		prefix := fields(im.Path, frame)
		for _, d := range im.Detections {
			c, ok := classes[d.Class]
			if !ok {
				c = fields(d.Class)
				classes[d.Class] = c
			}
			e.buf = append(e.buf, prefix...)
			e.buf = append(e.buf, c...)
			e.buf = strconv.AppendInt(e.buf, int64(d.Label), 10)
			for _, v := range [5]float64{d.Score, d.Box[0], d.Box[1], d.Box[2], d.Box[3]} {
				e.buf = append(e.buf, ',')
				e.buf = strconv.AppendFloat(e.buf, v, 'f', -1, 32)
			}
			e.buf = append(e.buf, '\n')
			e.flush(false)
		}
	}
	e.flush(true)
	return e.err
}
