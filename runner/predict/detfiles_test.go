package predict

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"strconv"
	"testing"

	"github.com/ssdrunner/ssdrunner/runner/detect"
)

// writeSummaryJSON writes encoding/json's indented bytes for summaries with every optional
// part present and absent: nil and empty lists, frames, outputs, failures, names that
// need escaping (quotes, HTML characters, control characters, invalid UTF-8) and floats
// on both sides of encoding/json's switches to exponent form.
func TestWriteSummaryJSON(t *testing.T) {
	frame := 7
	floats := []float64{0, math.Copysign(0, -1), 1, -2.5, 1e-6, 9.99e-7, 1e-7, 1.5e-10, 1e20, 1e21, 1.234e22, -3e-9,
		float64(float32(0.0123456)), float64(float32(123.456) * 500), 1.0 / 3}
	var dets []detect.Detection
	for i, f := range floats {
		dets = append(dets, detect.Detection{Box: [4]float64{f, -f, f * 3, f / 7}, Label: i, Class: []string{"a", `q"uote`, "<b>&", "tab\there", "\xff\xfe", "é"}[i%6], Score: f})
	}
	cases := []struct {
		name    string
		classes []string
		sum     Summary
	}{
		{"empty", nil, Summary{}},
		{"no images", []string{}, Summary{Images: []Image{}, Seconds: 0.5}},
		{"everything", []string{"BACKGROUND", `a"b`, "<c>"}, Summary{
			Images: []Image{
				{Path: "/x/a.jpg", Width: 500, Height: 375, Detections: dets},
				{Path: "/x/b&<>.jpg", Frame: &frame, Width: 1, Height: 2, Output: "out/b.jpg", Detections: []detect.Detection{}},
				{Path: "c.jpg", Detections: nil},
			},
			Failures: []Failure{{Path: "bad.jpg", Error: "image bad.jpg: cannot decode: \"x\""}, {Path: "b2", Error: "e"}},
			Seconds:  1.0 / 3,
		}},
	}
	for _, c := range cases {
		want, err := json.MarshalIndent(struct {
			Classes []string `json:"classes"`
			*Summary
		}{c.classes, &c.sum}, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, '\n')
		var got bytes.Buffer
		if err := writeSummaryJSON(&got, c.classes, &c.sum); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%s: the bytes differ from encoding/json's:\n%s\nwant:\n%s", c.name, got.Bytes(), want)
		}
	}
	bad := Summary{Images: []Image{{Path: "a", Detections: []detect.Detection{{Score: math.NaN()}}}}}
	if err := writeSummaryJSON(&bytes.Buffer{}, nil, &bad); err == nil {
		t.Error("a NaN score was written (encoding/json refuses it)")
	}
}

// writeDetectionsCSV writes what encoding/csv's Writer gives for the rows, with text
// fields that need quoting (commas, quotes, line breaks, a leading space, `\.`).
func TestWriteDetectionsCSV(t *testing.T) {
	frame := 12
	var sum Summary
	for i, p := range []string{"/x/a.jpg", "/x/b,c.jpg", `/x/"q".jpg`, " lead.jpg", "line\nbreak.jpg", `\.`} {
		im := Image{Path: p, Width: 10, Height: 10}
		if i%2 == 1 {
			im.Frame = &frame
		}
		for j, c := range []string{"a", "b,c", `"q"`, " s", `\.`, ""} {
			f := float64(float32(i*7+j)) / 3
			im.Detections = append(im.Detections, detect.Detection{Box: [4]float64{f, -f, 1e-9 * f, 1e22 * f}, Label: j, Class: c, Score: float64(float32(f / 10))})
		}
		sum.Images = append(sum.Images, im)
	}
	sum.Images = append(sum.Images, Image{Path: "none.jpg"})
	var want bytes.Buffer
	cw := csv.NewWriter(&want)
	cw.Write([]string{"path", "frame", "class", "label", "score", "xmin", "ymin", "xmax", "ymax"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 32) }
	for _, im := range sum.Images {
		fr := ""
		if im.Frame != nil {
			fr = strconv.Itoa(*im.Frame)
		}
		for _, d := range im.Detections {
			cw.Write([]string{im.Path, fr, d.Class, strconv.Itoa(d.Label), f(d.Score), f(d.Box[0]), f(d.Box[1]), f(d.Box[2]), f(d.Box[3])})
		}
	}
	cw.Flush()
	var got bytes.Buffer
	if err := writeDetectionsCSV(&got, &sum); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Errorf("the bytes differ from encoding/csv's:\n%s\nwant:\n%s", got.Bytes(), want.Bytes())
	}
}
