package dataset

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ssdrunner/ssdrunner/registry"
)

// eachCSVRecord calls fn with every record of a CSV file and the line that the record starts
// on (1-based). file names the file in errors. A leading UTF-8 byte-order mark is dropped,
// blank lines are skipped, fields may be quoted (RFC 4180, quoted fields may span lines).
// Records may differ in length: callers check the number of fields. A malformed file, or a
// field that is not valid UTF-8, is an error naming the file and the line. The record slice
// is reused between calls. A cancelled ctx stops the reading with its error.
func eachCSVRecord(ctx context.Context, data []byte, file string, fn func(line int, rec []string) error) error {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	for n := 0; ; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				at := fmt.Sprintf("column %d", pe.Column)
				if pe.Line != pe.StartLine {
					at = fmt.Sprintf("line %d, column %d", pe.Line, pe.Column)
				}
				return fmt.Errorf("%s: line %d: malformed CSV: %v (at %s)", file, pe.StartLine, pe.Err, at)
			}
			return fmt.Errorf("%s: malformed CSV: %v", file, err)
		}
		line, _ := r.FieldPos(0)
		for k, f := range rec {
			if !utf8.ValidString(f) {
				return fmt.Errorf("%s: line %d: field %d is not valid UTF-8", file, line, k+1)
			}
		}
		if err := fn(line, rec); err != nil {
			return err
		}
	}
}

// parseFinite parses a decimal number as Python's float() does (surrounding white space
// allowed; hexadecimal and digit separators rejected) and requires it to be finite.
func parseFinite(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if strings.ContainsAny(s, "xX_") {
		return 0, strconv.ErrSyntax
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, strconv.ErrRange
	}
	return f, nil
}

// checkClassList validates an explicit `classes` option: non-empty names, none listed twice,
// none called BACKGROUND (index 0 is reserved for it).
func checkClassList(classes []string) error {
	seen := map[string]bool{}
	for k, c := range classes {
		switch {
		case strings.TrimSpace(c) == "":
			return fmt.Errorf("classes[%d] is empty", k)
		case strings.EqualFold(c, "BACKGROUND"):
			return fmt.Errorf("classes[%d]: BACKGROUND is implicit (label 0) and cannot be listed", k)
		case seen[c]:
			return fmt.Errorf("classes: %q is listed twice", c)
		}
		seen[c] = true
	}
	return nil
}

// unknownClass formats the error for a class name that is not among known, with a
// suggestion when one is close.
func unknownClass(name string, known []string) string {
	msg := fmt.Sprintf("class %q is not in the label set", name)
	if s := registry.Suggest(name, known); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return msg
}
