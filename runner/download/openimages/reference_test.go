package openimages

import (
	"encoding/csv"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ssdrunner/ssdrunner/internal/reftest"
	"github.com/ssdrunner/ssdrunner/runner/download/openimages/oitest"
)

// TestReferenceSelection runs the reference's own open_images_downloader.py (network and
// image downloads stubbed, testdata/reference_select.py) and our Selector on the same fake
// release, under the same seed, and compares the sub-<split>-annotations-bbox.csv files
// row for row, in order: class filter, depiction, group filters, percentages, filter file,
// remove-overlapped and the shuffle.
func TestReferenceSelection(t *testing.T) {
	ref := reftest.Reference(t, "pandas", "numpy")
	script := filepath.Join(ref, "open_images_downloader.py")
	rel := oitest.NewRelease(5)
	cases := []struct {
		name, classes      string
		seed               uint32
		depiction, overlap bool
		exclude            []string
	}{
		{"plain", "Handgun,Shotgun", 0, false, false, nil},
		{"filters", "Handgun:~group:0.8,Person:group,Knife::0.7,Rifle", 42, true, true, []string{firstImage(rel, "train", 3), firstImage(rel, "test", 5)}},
		{"sampling", "Person:~group:0.5,Tin can::0.8,Rifle,Shotgun::0.45", 7, false, true, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ours, theirs := t.TempDir(), t.TempDir()
			for _, dir := range []string{ours, theirs} {
				writeRelease(t, dir, rel)
			}
			args := []string{reftest.Python(), filepath.Join("testdata", "reference_select.py"), script, theirs, c.classes,
				strconv.Itoa(int(c.seed)), b01(c.depiction), b01(c.overlap)}
			if c.exclude != nil {
				ff := filepath.Join(t.TempDir(), "filter.txt")
				os.WriteFile(ff, []byte(strings.Join(c.exclude, "\n")+"\n"), 0o644)
				args = append(args, ff)
			}
			if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
				t.Fatalf("reference: %v\n%s", err, out)
			}
			specs, err := ParseClasses(c.classes)
			if err != nil {
				t.Fatal(err)
			}
			selectAll(t, ours, Rules{Classes: specs, Seed: c.seed, IncludeDepiction: c.depiction, RemoveOverlapped: c.overlap, Exclude: c.exclude})
			total := 0
			for _, split := range Splits {
				got := readCSV(t, filepath.Join(ours, SelectionFile(split)))
				want := readCSV(t, filepath.Join(theirs, SelectionFile(split)))
				compareSelections(t, split, got, want)
				total += len(want) - 1
			}
			if total < 20 {
				t.Errorf("the case selects only %d rows: too few to tell anything", total)
			}
		})
	}
}

func b01(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// firstImage is the k-th image id of split's annotation file.
func firstImage(rel *oitest.Release, split string, k int) string {
	lines := strings.Split(string(rel.Annotations[split]), "\n")
	id, _, _ := strings.Cut(lines[1+k], ",")
	return id
}

func writeRelease(t *testing.T, dir string, rel *oitest.Release) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, DescriptionsFile), rel.Descriptions, 0o644); err != nil {
		t.Fatal(err)
	}
	for split, b := range rel.Annotations {
		if err := os.WriteFile(filepath.Join(dir, AnnotationsFile(split)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// selectAll runs our selection on the release files in dir and writes the selection files.
func selectAll(t *testing.T, dir string, rules Rules) {
	t.Helper()
	desc, err := readDescriptions(filepath.Join(dir, DescriptionsFile))
	if err != nil {
		t.Fatal(err)
	}
	labels, err := desc.Resolve(rules.Classes)
	if err != nil {
		t.Fatal(err)
	}
	sel, err := NewSelector(rules, labels)
	if err != nil {
		t.Fatal(err)
	}
	for _, split := range Splits {
		f, err := os.Open(filepath.Join(dir, AnnotationsFile(split)))
		if err != nil {
			t.Fatal(err)
		}
		tab, err := sel.Read(f, f.Name(), nil)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dir, SelectionFile(split)))
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteSelection(out, tab, sel.Select(tab), rules.Classes); err != nil {
			t.Fatal(err)
		}
		out.Close()
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return recs
}

// compareSelections compares two selection files: the same header, and row by row the
// same text fields and the same numbers (pandas writes numbers back in its own format,
// 1.0 for 1 in a column with an empty field, which it reads as NaN).
func compareSelections(t *testing.T, split string, got, want [][]string) {
	t.Helper()
	if strings.Join(got[0], ",") != strings.Join(want[0], ",") {
		t.Fatalf("%s: header %v, the reference's %v", split, got[0], want[0])
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, the reference %d", split, len(got)-1, len(want)-1)
	}
	text := map[string]bool{"ImageID": true, "Source": true, "LabelName": true, "id": true, "ClassName": true}
	for i := 1; i < len(got); i++ {
		for k, name := range got[0] {
			g, w := got[i][k], want[i][k]
			if text[name] {
				if g != w {
					t.Fatalf("%s: row %d %s: %q, the reference %q", split, i, name, g, w)
				}
				continue
			}
			gf, w2 := parseNum(g), parseNum(w)
			if gf != w2 && !(math.IsNaN(gf) && math.IsNaN(w2)) {
				t.Fatalf("%s: row %d %s: %q, the reference %q", split, i, name, g, w)
			}
		}
	}
}

func parseNum(s string) float64 {
	if s == "" {
		return math.NaN()
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.Inf(1)
	}
	return f
}
