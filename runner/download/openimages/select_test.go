package openimages

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// The fixtures below each exercise one rule of the reference's selection
// (open_images_downloader.py at the pinned commit); the expected rows were derived by hand
// from its code, rule by rule, as the comments say. TestReferenceSelection runs the
// reference's own script on a larger release when Python and pandas are available.

const descCSV = "/m/a,Handgun\n/m/b,Shotgun\n/m/c,Knife\n/m/x,Twin\n/m/y,Twin\n"

// row is an annotation row: ImageID, LabelName, IsGroupOf, IsDepiction.
type row struct{ img, label, group, depict string }

func annotationCSV(rows []row) string {
	var b strings.Builder
	b.WriteString("ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "%s,xclick,%s,1,0.1,0.5,0.2,0.6,0,0,%s,%s,0\n", r.img, r.label, r.group, r.depict)
	}
	return b.String()
}

// selectRows runs the selection of classes (ParseClasses syntax) on each split's rows and
// returns, per split, the indices of the rows kept, sorted.
func selectRows(t *testing.T, classes string, rules Rules, splits ...[]row) [][]int {
	t.Helper()
	specs, err := ParseClasses(classes)
	if err != nil {
		t.Fatal(err)
	}
	rules.Classes = specs
	d, err := ReadDescriptions(strings.NewReader(descCSV), "desc.csv")
	if err != nil {
		t.Fatal(err)
	}
	labels, err := d.Resolve(specs)
	if err != nil {
		t.Fatal(err)
	}
	sel, err := NewSelector(rules, labels)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]int
	for _, rows := range splits {
		tab, err := sel.Read(strings.NewReader(annotationCSV(rows)), "a.csv", nil)
		if err != nil {
			t.Fatal(err)
		}
		var idx []int
		for _, r := range sel.Select(tab) {
			idx = append(idx, r.Line-2) // line 1 is the header
		}
		slices.Sort(idx)
		out = append(out, idx)
	}
	return out
}

func check(t *testing.T, name string, got []int, want ...int) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: kept rows %v, want %v", name, got, want)
	}
}

func TestSelectRules(t *testing.T) {
	// Class filter (the inner join with the descriptions): rows of other labels go.
	rows := []row{{"i1", "/m/a", "0", "0"}, {"i1", "/m/c", "0", "0"}, {"i2", "/m/b", "0", "0"}, {"i3", "/m/c", "0", "0"}}
	check(t, "class filter", selectRows(t, "Handgun,Shotgun", Rules{}, rows)[0], 0, 2)

	// A display name with two LabelNames keeps both (the join matches each).
	rows = []row{{"i1", "/m/x", "0", "0"}, {"i2", "/m/y", "0", "0"}, {"i3", "/m/a", "0", "0"}}
	check(t, "two ids", selectRows(t, "Twin", Rules{}, rows)[0], 0, 1)

	// Depiction: IsDepiction != 1 is kept (0, -1 and empty alike) unless --include-depiction.
	rows = []row{{"i1", "/m/a", "0", "1"}, {"i2", "/m/a", "0", "0"}, {"i3", "/m/a", "0", "-1"}, {"i4", "/m/a", "0", ""}, {"i5", "/m/a", "0", "1.0"}}
	check(t, "depiction dropped", selectRows(t, "Handgun", Rules{}, rows)[0], 1, 2, 3)
	check(t, "depiction kept", selectRows(t, "Handgun", Rules{IncludeDepiction: true}, rows)[0], 0, 1, 2, 3, 4)

	// "~group": an image with a group box of the class is excluded, every row of it (the
	// other class's too); a group box of another class does not count.
	rows = []row{{"i1", "/m/a", "1", "0"}, {"i1", "/m/b", "0", "0"}, {"i2", "/m/a", "0", "0"}, {"i3", "/m/b", "1", "0"}}
	check(t, "~group", selectRows(t, "Handgun:~group,Shotgun", Rules{}, rows)[0], 2, 3)

	// "group": an image with a single-object box (IsGroupOf == 0) of the class is excluded;
	// -1 is neither.
	rows = []row{{"i1", "/m/a", "0", "0"}, {"i1", "/m/b", "1", "0"}, {"i2", "/m/a", "1", "0"}, {"i3", "/m/a", "-1", "0"}, {"i4", "/m/b", "0", "0"}}
	check(t, "group", selectRows(t, "Handgun:group,Shotgun", Rules{}, rows)[0], 2, 3, 4)

	// The group filter sees only the rows left by the depiction filter.
	rows = []row{{"i1", "/m/a", "1", "1"}, {"i1", "/m/a", "0", "0"}}
	check(t, "depiction before group filter", selectRows(t, "Handgun:~group", Rules{}, rows)[0], 1)
	check(t, "depiction kept, group filter", selectRows(t, "Handgun:~group", Rules{IncludeDepiction: true}, rows)[0])

	// Filter file: its images are excluded.
	rows = []row{{"i1", "/m/a", "0", "0"}, {"i2", "/m/a", "0", "0"}, {"i2", "/m/b", "0", "0"}}
	check(t, "filter file", selectRows(t, "Handgun,Shotgun", Rules{Exclude: []string{"i2", "zz"}}, rows)[0], 0)

	// --remove_overlapped: in an image with a group box (any selected class), the rows with
	// IsGroupOf == 0 go; the group box and -1 rows stay; other images are untouched.
	rows = []row{{"i1", "/m/a", "1", "0"}, {"i1", "/m/a", "0", "0"}, {"i1", "/m/b", "0", "0"}, {"i1", "/m/b", "-1", "0"}, {"i2", "/m/a", "0", "0"}}
	check(t, "remove overlapped", selectRows(t, "Handgun,Shotgun", Rules{RemoveOverlapped: true}, rows)[0], 0, 3, 4)
	check(t, "overlapped kept", selectRows(t, "Handgun,Shotgun", Rules{}, rows)[0], 0, 1, 2, 3, 4)
	// … after the depiction filter: a dropped depicted group box removes nothing.
	rows = []row{{"i1", "/m/a", "1", "1"}, {"i1", "/m/a", "0", "0"}}
	check(t, "overlapped after depiction", selectRows(t, "Handgun", Rules{RemoveOverlapped: true}, rows)[0], 1)

	// Percentage 0: every row of the class is drawn, so every image with the class goes
	// (with the other classes' rows in it); percentage 1 draws none.
	rows = []row{{"i1", "/m/a", "0", "0"}, {"i1", "/m/b", "0", "0"}, {"i2", "/m/b", "0", "0"}, {"i3", "/m/a", "0", "0"}}
	check(t, "percentage 0", selectRows(t, "Handgun::0,Shotgun", Rules{}, rows)[0], 2)
	check(t, "percentage 100%", selectRows(t, "Handgun::100%,Shotgun", Rules{}, rows)[0], 0, 1, 2, 3)

	// The exclusions carry over to the later splits (the reference's set is never reset):
	// i9, excluded in train by its group box, goes from test too.
	train := []row{{"i9", "/m/a", "1", "0"}, {"i8", "/m/a", "0", "0"}}
	test := []row{{"i9", "/m/a", "0", "0"}, {"i7", "/m/a", "0", "0"}}
	got := selectRows(t, "Handgun:~group", Rules{}, train, test)
	check(t, "carry-over train", got[0], 1)
	check(t, "carry-over test", got[1], 1)
}

func TestSelectPercentageCounts(t *testing.T) {
	// pandas' sample(frac=f) draws round(f·n) rows, rounding half to even: of n rows of
	// one image each, that many images go.
	for _, c := range []struct {
		spec string
		n    int
		kept int
	}{
		{"0.5", 3, 1},  // round(1.5) = 2 drawn
		{"0.5", 5, 3},  // round(2.5) = 2 drawn
		{"30%", 10, 3}, // round(0.7·10 = 7.000000000000001) = 7 drawn
		{"0.25", 4, 1}, // round(0.75·4) = 3 drawn
		{"0.9", 1, 1},  // round(0.1) = 0 drawn
	} {
		var rows []row
		for i := range c.n {
			rows = append(rows, row{fmt.Sprintf("i%d", i), "/m/a", "0", "0"})
		}
		for seed := range uint32(5) {
			got := selectRows(t, "Handgun::"+c.spec, Rules{Seed: seed}, rows)[0]
			if len(got) != c.kept {
				t.Errorf("%s of %d rows, seed %d: kept %d rows, want %d", c.spec, c.n, seed, len(got), c.kept)
			}
		}
	}
	// Rows, not images, are drawn: an image with several rows is more likely to go. With
	// fraction 0.5 and 4 rows, two are drawn: if both fall in the image with three rows,
	// the other stays.
	rows := []row{{"i1", "/m/a", "0", "0"}, {"i1", "/m/a", "0", "0"}, {"i1", "/m/a", "0", "0"}, {"i2", "/m/a", "0", "0"}}
	seen := map[int]bool{}
	for seed := range uint32(40) {
		seen[len(selectRows(t, "Handgun::0.5", Rules{Seed: seed}, rows)[0])] = true
	}
	if !seen[0] || !seen[1] || seen[2] || seen[3] || seen[4] {
		t.Errorf("kept-row counts over 40 seeds: %v, want 0 (i1 and i2 drawn) and 1 (i2 kept) only", seen)
	}
}

func TestSelectOrderAndOutput(t *testing.T) {
	var rows []row
	for i := range 30 {
		rows = append(rows, row{fmt.Sprintf("i%02d", i), []string{"/m/a", "/m/b", "/m/c"}[i%3], "0", "0"})
	}
	specs, _ := ParseClasses("Shotgun, Handgun ")
	d, _ := ReadDescriptions(strings.NewReader(descCSV), "desc.csv")
	labels, _ := d.Resolve(specs)
	run := func(seed uint32) string {
		sel, err := NewSelector(Rules{Classes: specs, Seed: seed}, labels)
		if err != nil {
			t.Fatal(err)
		}
		tab, err := sel.Read(strings.NewReader("\ufeff"+strings.ReplaceAll(annotationCSV(rows), "\n", "\r\n")), "a.csv", nil)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := WriteSelection(&b, tab, sel.Select(tab), specs); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	a, b, c := run(1), run(1), run(2)
	if a != b {
		t.Fatal("the same seed gave another output")
	}
	if a == c {
		t.Error("seeds 1 and 2 gave the same order of 20 rows")
	}
	recs, err := csv.NewReader(strings.NewReader(a)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	wantHeader := "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside,id,ClassName"
	if strings.Join(recs[0], ",") != wantHeader || len(recs) != 21 {
		t.Fatalf("output header %v and %d records", recs[0], len(recs))
	}
	var ids []string
	for _, r := range recs[1:] {
		if r[13] != r[2] || (r[2] == "/m/a") != (r[14] == "Handgun") || r[4] != "0.1" {
			t.Errorf("record %v: id, ClassName or fields wrong", r)
		}
		ids = append(ids, r[0])
	}
	if slices.IsSorted(ids) {
		t.Error("the rows are not shuffled")
	}
}

func TestParseClasses(t *testing.T) {
	got, err := ParseClasses(" Handgun , Shotgun:~group , Person:group:0.25,Knife::30%,Rifle:")
	if err != nil {
		t.Fatal(err)
	}
	want := []ClassSpec{{"Handgun", "", 1}, {"Shotgun", "~group", 1}, {"Person", "group", 0.25}, {"Knife", "", 0.3}, {"Rifle", "", 1}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if s := got[2].String(); s != "Person:group:0.25" {
		t.Errorf("String: %q", s)
	}
	for _, c := range []struct{ in, msg string }{
		{"", "no class"},
		{"Handgun,,Shotgun", "empty class name"},
		{"Handgun:grp", `group filter "grp"`},
		{"Handgun::50", "write 50%"},
		{"Handgun::-0.1", "outside [0, 1]"},
		{"Handgun::nan", "not a number"},
		{"Handgun:group:0.5:x", "at most 3"},
		{"Handgun,Handgun", "listed twice"},
	} {
		_, err := ParseClasses(c.in)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("ParseClasses(%q): %v, want an error with %q", c.in, err, c.msg)
		}
	}
	if math.Abs(want[3].Fraction-0.3) != 0 {
		t.Error("30% is not 0.3")
	}
}

func TestReadErrors(t *testing.T) {
	d, err := ReadDescriptions(strings.NewReader(descCSV), "desc.csv")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Resolve([]ClassSpec{{Name: "handgun", Fraction: 1}}); err == nil || !strings.Contains(err.Error(), `did you mean "Handgun"`) {
		t.Errorf("unknown class: %v", err)
	}
	for _, c := range []struct{ desc, msg string }{
		{"/m/a,Handgun,extra\n", "line 1: 3 fields"},
		{"/m/a,Handgun\n/m/a,Pistol\n", "named twice"},
		{"", "no class"},
	} {
		if _, err := ReadDescriptions(strings.NewReader(c.desc), "desc.csv"); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("descriptions %q: %v, want %q", c.desc, err, c.msg)
		}
	}
	specs, _ := ParseClasses("Handgun")
	sel, _ := NewSelector(Rules{Classes: specs}, [][]string{{"/m/a"}})
	hdr := "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside\n"
	for _, c := range []struct{ csv, msg string }{
		{"ImageID,LabelName\n", `a.csv: line 1: the header has no column "XMin"`},
		{hdr + "i1,xclick,/m/a,1,0.1,0.5,0.2,0.6,0,0,0,0\n", "a.csv: line 2: 12 fields, but the header has 13"},
		{hdr + "i1,xclick,/m/a,1,0.1,0.5,0.2,0.6,0,0,yes,0,0\n", `a.csv: line 2: IsGroupOf: "yes" is not a number`},
		{hdr + "../x,xclick,/m/a,1,0.1,0.5,0.2,0.6,0,0,0,0,0\n", `a.csv: line 2: ImageID "../x" cannot name a file`},
		{hdr + "i1,\"xcl\"ick,/m/a,1,0.1,0.5,0.2,0.6,0,0,0,0,0\n", "a.csv: line 2: malformed CSV"},
		{"", "a.csv: empty file"},
		{strings.TrimSuffix(hdr, "\n") + ",ClassName\n", `already has a column "ClassName"`},
	} {
		if _, err := sel.Read(strings.NewReader(c.csv), "a.csv", nil); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("annotations %q: %v, want %q", c.csv, err, c.msg)
		}
	}
	// Rows of other classes are not checked (a bad flag there costs nothing).
	if _, err := sel.Read(strings.NewReader(hdr+"i1,xclick,/m/b,1,0.1,0.5,0.2,0.6,0,0,yes,0,0\n"), "a.csv", nil); err != nil {
		t.Errorf("bad flag of another class: %v", err)
	}
}

// BenchmarkRead measures the streaming filter on 200,000 rows of the release's format (about
// 20 MB), 2 % of them of the selected class.
func BenchmarkRead(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside\n")
	for i := range 200000 {
		label := "/m/0bt9lr"
		if i%50 == 0 {
			label = "/m/a"
		}
		fmt.Fprintf(&buf, "%016x,xclick,%s,1,0.071875,0.837500,0.133333,0.991667,1,0,0,0,0\n", uint64(i)*0x9e3779b97f4a7c15, label)
	}
	data := buf.Bytes()
	specs, _ := ParseClasses("Handgun")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		sel, _ := NewSelector(Rules{Classes: specs}, [][]string{{"/m/a"}})
		tab, err := sel.Read(bytes.NewReader(data), "a.csv", nil)
		if err != nil || len(tab.Rows) != 4000 {
			b.Fatal(err, len(tab.Rows))
		}
	}
}

func TestReadQuotedFields(t *testing.T) {
	specs, _ := ParseClasses("Handgun")
	sel, _ := NewSelector(Rules{Classes: specs, IncludeDepiction: true}, [][]string{{"/m/a"}})
	in := "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside\n" +
		"i1,\"x,click\",/m/a,1,0.1,0.5,0.2,0.6,0,0,0,0,0\n" +
		"i2,\"two\nlines\",/m/b,1,0.1,0.5,0.2,0.6,0,0,0,0,0\n" +
		"\n" +
		"i3,xclick,/m/a,1,0.1,0.5,0.2,0.6,0,0,0,0,0"
	tab, err := sel.Read(strings.NewReader(in), "a.csv", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Rows) != 2 || tab.Lines != 3 || tab.Rows[0].Record != `i1,"x,click",/m/a,1,0.1,0.5,0.2,0.6,0,0,0,0,0` || tab.Rows[1].Line != 6 {
		t.Errorf("rows %+v, %d read", tab.Rows, tab.Lines)
	}
	// Errors after a multi-line record name the right line.
	bad := strings.Replace(in, "i3,xclick,/m/a,1", "i3,xclick,/m/a", 1)
	if _, err := sel.Read(strings.NewReader(bad), "a.csv", nil); err == nil || !strings.Contains(err.Error(), "a.csv: line 6: 12 fields") {
		t.Errorf("short row after a quoted newline: %v", err)
	}
	if _, err := sel.Read(strings.NewReader(in+"\ni4,\"open,/m/a\n"), "a.csv", nil); err == nil || !strings.Contains(err.Error(), "a.csv: line 7: malformed CSV") {
		t.Errorf("unclosed quote: %v", err)
	}
	if _, err := sel.Read(strings.NewReader(strings.Replace(in, "i3", "i\xff3", 1)), "a.csv", nil); err == nil || !strings.Contains(err.Error(), "line 6: field 1 is not valid UTF-8") {
		t.Errorf("invalid UTF-8: %v", err)
	}
}
