package dataset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// The parts of a COCO instances file that the reader uses. Pointers tell missing keys from
// zero values.
type cocoCategoryJSON struct {
	ID   *int64  `json:"id"`
	Name *string `json:"name"`
}

type cocoImageJSON struct {
	ID       *int64  `json:"id"`
	FileName *string `json:"file_name"`
}

type cocoAnnotationJSON struct {
	ID         *int64     `json:"id"`
	ImageID    *int64     `json:"image_id"`
	CategoryID *int64     `json:"category_id"`
	BBox       []*float64 `json:"bbox"`
	IsCrowd    cocoFlag   `json:"iscrowd"`
}

// cocoFlag is COCO's iscrowd: 0 or 1 (true and false are accepted too; null means 0).
type cocoFlag bool

// UnmarshalJSON implements json.Unmarshaler.
func (f *cocoFlag) UnmarshalJSON(b []byte) error {
	switch s := string(bytes.TrimSpace(b)); s {
	case "0", "false", "null":
		*f = false
	case "1", "true":
		*f = true
	default:
		return fmt.Errorf("iscrowd must be 0 or 1, got %s", s)
	}
	return nil
}

// cocoFile is the decoded content of an instances file; off holds the byte offset of each
// element, to name its line in errors.
type cocoFile struct {
	data                   []byte
	name                   string
	categories             []cocoCategoryJSON
	images                 []cocoImageJSON
	annotations            []cocoAnnotationJSON
	catOff, imgOff, annOff []int64
}

// parseCOCO decodes the "categories", "images" and "annotations" arrays of a COCO JSON file
// (file names it in errors), element by element, so that a bad element is reported with its
// array index and line. Other keys ("info", "licenses" …) and other fields of the elements
// (segmentation, area …) are ignored. Malformed JSON, a top level that is not an object,
// one of the three arrays missing, null or not an array, or given twice, an element of the
// wrong shape or a field of the wrong type are errors.
func parseCOCO(data []byte, file string) (*cocoFile, error) {
	f := &cocoFile{data: data, name: file}
	dec := json.NewDecoder(bytes.NewReader(data))
	wrap := func(err error) error { return f.jsonError(err) }
	tok, err := dec.Token()
	if err != nil {
		return nil, wrap(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("%s: the top level is not a JSON object", file)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, wrap(err)
		}
		key, _ := tok.(string)
		switch key {
		case "categories", "images", "annotations":
			if seen[key] {
				return nil, fmt.Errorf("%s: key %q appears twice", file, key)
			}
			seen[key] = true
		}
		switch key {
		case "categories":
			err = decodeCOCOArray(f, dec, key, &f.categories, &f.catOff)
		case "images":
			err = decodeCOCOArray(f, dec, key, &f.images, &f.imgOff)
		case "annotations":
			err = decodeCOCOArray(f, dec, key, &f.annotations, &f.annOff)
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
			if err != nil {
				err = wrap(err)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, wrap(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s: line %d: data after the top-level object", file, f.line(dec.InputOffset()))
	}
	for _, key := range []string{"categories", "images", "annotations"} {
		if !seen[key] {
			return nil, fmt.Errorf("%s: no %q array (is it a COCO instances file?)", file, key)
		}
	}
	return f, nil
}

// decodeCOCOArray decodes the array that follows key into out, one element at a time,
// recording each element's offset.
func decodeCOCOArray[T any](f *cocoFile, dec *json.Decoder, key string, out *[]T, offs *[]int64) error {
	start := dec.InputOffset()
	tok, err := dec.Token()
	if err != nil {
		return f.jsonError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("%s: line %d: %q is not an array", f.name, f.line(start), key)
	}
	for k := 0; dec.More(); k++ {
		off := f.skipSpace(dec.InputOffset())
		var v T
		if err := dec.Decode(&v); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return fmt.Errorf("%s: %s[%d] (line %d): %s", f.name, key, k, f.line(off), typeErrorText(te))
			}
			var se *json.SyntaxError
			if errors.As(err, &se) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return f.jsonError(err)
			}
			return fmt.Errorf("%s: %s[%d] (line %d): %v", f.name, key, k, f.line(off), err)
		}
		*out = append(*out, v)
		*offs = append(*offs, off)
	}
	_, err = dec.Token() // ']'
	return f.jsonError(err)
}

// jsonError names the file, and the line and column of a syntax error (the streaming decoder
// reports offsets relative to its buffer, so the whole file is checked again to locate it).
func (f *cocoFile) jsonError(err error) error {
	if err == nil {
		return nil
	}
	var probe struct{}
	var se *json.SyntaxError
	if perr := json.Unmarshal(f.data, &probe); errors.As(perr, &se) {
		line, col := f.lineCol(se.Offset)
		return fmt.Errorf("%s: line %d, column %d: malformed JSON: %v", f.name, line, col, se)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s: malformed JSON: unexpected end of file", f.name)
	}
	return fmt.Errorf("%s: malformed JSON: %v", f.name, err)
}

// skipSpace returns the offset of the first byte at or after off that is neither white space
// nor a comma (the start of the next element).
func (f *cocoFile) skipSpace(off int64) int64 {
	for off < int64(len(f.data)) && strings.IndexByte(" \t\r\n,", f.data[off]) >= 0 {
		off++
	}
	return off
}

func (f *cocoFile) line(off int64) int {
	l, _ := f.lineCol(off)
	return l
}

// lineCol converts a byte offset to a 1-based line and column.
func (f *cocoFile) lineCol(off int64) (int, int) {
	off = min(max(off, 0), int64(len(f.data)))
	head := f.data[:off]
	nl := bytes.LastIndexByte(head, '\n')
	return bytes.Count(head, []byte{'\n'}) + 1, int(off) - nl
}

// typeErrorText describes a JSON type mismatch in the words of the file's format.
func typeErrorText(te *json.UnmarshalTypeError) string {
	want := te.Type.String()
	switch te.Type.Kind() {
	case reflect.Int64:
		want = "an integer"
	case reflect.Float64:
		want = "a number"
	case reflect.String:
		want = "a string"
	case reflect.Slice:
		want = "an array"
	case reflect.Struct:
		want = "an object"
	}
	field := te.Field
	if field == "" {
		return fmt.Sprintf("expected %s, got %s", want, te.Value)
	}
	return fmt.Sprintf("field %q: expected %s, got %s", field, want, te.Value)
}
