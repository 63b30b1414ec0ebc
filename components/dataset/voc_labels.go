package dataset

import (
	"fmt"
	"strings"

	"github.com/ssdrunner/ssdrunner/internal/textfile"
)

var vocClassNames = []string{"BACKGROUND",
	"aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
	"diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
	"train", "tvmonitor"}

// VOCClassNames returns BACKGROUND followed by the 20 Pascal VOC classes, in the reference's
// order: the classes of a "voc" dataset without a labels file.
func VOCClassNames() []string { return append([]string(nil), vocClassNames...) }

// ReadLabels reads a labels file and returns the class names with BACKGROUND at index 0.
//
// Two layouts are accepted, and may be mixed: the reference's labels.txt (class names
// separated by commas, possibly over several lines) and its model-labels files (one class per
// line, BACKGROUND first). Spaces inside names are removed, as the reference does; empty
// entries are ignored; BACKGROUND is prepended unless the file starts with it. A name that
// appears twice (ignoring case) or a BACKGROUND after the first entry is an error.
//
// The reference differs on malformed files: it joins lines without a separator (so a
// one-per-line file without commas becomes a single class), keeps empty entries as classes
// and always prepends BACKGROUND.
func ReadLabels(path string) ([]string, error) {
	data, err := textfile.ReadText(path, textfile.Data)
	if err != nil {
		return nil, fmt.Errorf("labels file: %w", err)
	}
	return parseLabels(data, path)
}

func parseLabels(data []byte, file string) ([]string, error) {
	var names []string
	for _, line := range strings.Split(string(data), "\n") {
		for _, f := range strings.Split(line, ",") {
			f = strings.TrimSpace(strings.ReplaceAll(f, " ", ""))
			if f != "" {
				names = append(names, f)
			}
		}
	}
	if len(names) > 0 && names[0] == "BACKGROUND" {
		names = names[1:]
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("labels file %s: no class names", file)
	}
	seen := map[string]bool{"background": true}
	for _, n := range names {
		if seen[strings.ToLower(n)] {
			if strings.EqualFold(n, "BACKGROUND") {
				return nil, fmt.Errorf("labels file %s: BACKGROUND may only be the first entry", file)
			}
			return nil, fmt.Errorf("labels file %s: class %q is listed twice", file, n)
		}
		seen[strings.ToLower(n)] = true
	}
	return append([]string{"BACKGROUND"}, names...), nil
}

// classIndex maps lower-cased class names to labels.
func classIndex(names []string) map[string]int {
	idx := make(map[string]int, len(names))
	for i, n := range names[1:] {
		idx[strings.ToLower(n)] = i + 1
	}
	return idx
}
