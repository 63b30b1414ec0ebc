package openimages

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/ssdrunner/ssdrunner/registry"
)

// eachRecord streams the CSV records of r (file names it in errors) to fn with their line
// numbers: a UTF-8 byte-order mark is dropped, CRLF line ends are accepted, and a
// malformed record or one with invalid UTF-8 is an error naming the line. fields is the
// number of fields every record must have (0: that of the first record; -1: any). The
// record slice is reused between calls: fn must copy what it keeps.
func eachRecord(r io.Reader, file string, fields int, fn func(line int, rec []string) error) error {
	br := bufio.NewReaderSize(r, 1<<20)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\ufeff")) {
		br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = fields
	cr.ReuseRecord = true
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				if errors.Is(pe.Err, csv.ErrFieldCount) {
					return fmt.Errorf("%s: line %d: %d fields, but the header has %d", file, pe.StartLine, len(rec), cr.FieldsPerRecord)
				}
				return fmt.Errorf("%s: line %d: malformed CSV: %v (at line %d, column %d)", file, pe.StartLine, pe.Err, pe.Line, pe.Column)
			}
			return fmt.Errorf("%s: %w", file, err)
		}
		line, _ := cr.FieldPos(0)
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

// Descriptions is the release's class-descriptions-boxable.csv: LabelName (a Freebase id
// such as /m/0gxl3) and ClassName (a display name such as Handgun) per line, no header.
type Descriptions struct {
	File  string
	ids   map[string][]string // ClassName → its LabelNames, in file order
	names map[string]string   // LabelName → ClassName
}

// ReadDescriptions reads a class descriptions file from r (file names it in errors).
func ReadDescriptions(r io.Reader, file string) (*Descriptions, error) {
	d := &Descriptions{File: file, ids: map[string][]string{}, names: map[string]string{}}
	err := eachRecord(r, file, -1, func(line int, rec []string) error {
		if len(rec) != 2 {
			return fmt.Errorf("%s: line %d: %d fields, want 2 (LabelName, ClassName)", file, line, len(rec))
		}
		id, name := rec[0], rec[1]
		if id == "" || name == "" {
			return fmt.Errorf("%s: line %d: empty LabelName or ClassName", file, line)
		}
		if prev, ok := d.names[id]; ok {
			if prev == name {
				return nil
			}
			return fmt.Errorf("%s: line %d: LabelName %s is named twice (%q and %q)", file, line, id, prev, name)
		}
		d.names[id] = name
		d.ids[name] = append(d.ids[name], id)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(d.names) == 0 {
		return nil, fmt.Errorf("%s: no class", file)
	}
	return d, nil
}

// Resolve returns the LabelNames of each class (a display name may have several ids; the
// reference's join keeps them all). An unknown name is an error with the closest names.
func (d *Descriptions) Resolve(classes []ClassSpec) ([][]string, error) {
	out := make([][]string, len(classes))
	for k, c := range classes {
		ids := d.ids[c.Name]
		if len(ids) == 0 {
			msg := fmt.Sprintf("class %q is not in %s (%d boxable classes; names are case-sensitive)", c.Name, d.File, len(d.ids))
			names := slices.Sorted(maps.Keys(d.ids))
			if s := registry.Suggest(c.Name, names); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			return nil, errors.New(msg)
		}
		out[k] = ids
	}
	return out, nil
}

// scanRecords is eachRecord for the large annotation files, about three times faster: a
// line without a double quote (every line of the release's files) is split at its commas
// in place, without allocating; a line with one is read, with the lines its quoted fields
// span, by encoding/csv. fn gets the fields as byte slices that are valid until it returns;
// every record must have as many fields as the first (the header). Line ends may be CRLF;
// empty lines are skipped, as encoding/csv does.
func scanRecords(r io.Reader, file string, fn func(line int, rec [][]byte) error) error {
	br := bufio.NewReaderSize(r, 1<<20)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\ufeff")) {
		br.Discard(3)
	}
	var (
		fields [][]byte
		want   = -1
		line   = 0
		chunk  []byte
	)
	for {
		raw, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: gather it whole.
			long := append([]byte(nil), raw...)
			for errors.Is(err, bufio.ErrBufferFull) {
				raw, err = br.ReadSlice('\n')
				long = append(long, raw...)
			}
			raw = long
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("%s: %w", file, err)
		}
		if len(raw) == 0 && err == io.EOF {
			return nil
		}
		line++
		start := line
		text := bytes.TrimSuffix(bytes.TrimSuffix(raw, []byte("\n")), []byte("\r"))
		if bytes.IndexByte(text, '"') < 0 {
			if len(text) == 0 {
				if err == io.EOF {
					return nil
				}
				continue
			}
			fields = fields[:0]
			for {
				i := bytes.IndexByte(text, ',')
				if i < 0 {
					fields = append(fields, text)
					break
				}
				fields = append(fields, text[:i])
				text = text[i+1:]
			}
		} else {
			// Quoted fields: gather lines until the quotes balance, then parse the record.
			chunk = append(chunk[:0], raw...)
			for bytes.Count(chunk, []byte(`"`))%2 == 1 && err == nil {
				raw, err = br.ReadBytes('\n')
				if err != nil && err != io.EOF {
					return fmt.Errorf("%s: %w", file, err)
				}
				chunk = append(chunk, raw...)
				line++
			}
			cr := csv.NewReader(bytes.NewReader(chunk))
			cr.FieldsPerRecord = -1
			rec, perr := cr.Read()
			if perr != nil {
				var pe *csv.ParseError
				if errors.As(perr, &pe) {
					perr = pe.Err
				}
				return fmt.Errorf("%s: line %d: malformed CSV: %v", file, start, perr)
			}
			fields = fields[:0]
			for _, f := range rec {
				fields = append(fields, []byte(f))
			}
		}
		if want < 0 {
			want = len(fields)
		} else if len(fields) != want {
			return fmt.Errorf("%s: line %d: %d fields, but the header has %d", file, start, len(fields), want)
		}
		if ferr := fn(start, fields); ferr != nil {
			return ferr
		}
		if err == io.EOF {
			return nil
		}
	}
}
