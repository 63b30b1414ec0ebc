package openimages

import (
	"bytes"
	"encoding/csv"
	"io"
	"slices"
	"strings"
	"testing"
)

// FuzzScanRecords checks the fast annotation scanner against encoding/csv: whenever
// encoding/csv reads a file whose records all have the header's number of fields,
// scanRecords gives the same records; when either fails, so does the other.
func FuzzScanRecords(f *testing.F) {
	f.Add("a,b,c\n1,2,3\n")
	f.Add("a,b\r\n\"x,y\",2\r\n\n3,4")
	f.Add("\ufeffa,b\n\"multi\nline\",2\n5,6\n")
	f.Add("a,b\n\"bad\"x,2\n")
	f.Add("a,b\n1\n")
	f.Fuzz(func(t *testing.T, in string) {
		var want [][]string
		cr := csv.NewReader(strings.NewReader(strings.TrimPrefix(in, "\ufeff")))
		cr.FieldsPerRecord = 0
		csvOK := true
		for {
			rec, err := cr.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				csvOK = false
				break
			}
			want = append(want, rec)
		}
		var got [][]string
		err := scanRecords(strings.NewReader(in), "f.csv", func(line int, rec [][]byte) error {
			var r []string
			for _, b := range rec {
				r = append(r, string(b))
			}
			got = append(got, r)
			return nil
		})
		if csvOK {
			if err != nil {
				t.Fatalf("encoding/csv reads %q, scanRecords fails: %v", in, err)
			}
			if !slices.EqualFunc(got, want, slices.Equal) {
				t.Fatalf("%q: scanRecords %q, encoding/csv %q", in, got, want)
			}
		}
		if !csvOK && err == nil && !bytes.ContainsAny([]byte(in), "\r") {
			t.Fatalf("encoding/csv refuses %q, scanRecords reads %q", in, got)
		}
	})
}
