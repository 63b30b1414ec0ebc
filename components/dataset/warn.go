package dataset

import (
	"fmt"
	"path/filepath"
)

// WarningReporter is implemented by datasets that accepted something odd in their
// annotations (such as an image path reaching outside the dataset's folder).
type WarningReporter interface {
	// Warnings lists what the dataset noticed while it was built, one sentence each.
	Warnings() []string
}

// escapes reports whether p, a relative path taken from an annotation, leaves the folder it
// is relative to ("../x.jpg", "a/../../x.jpg"). Absolute paths and "" are not relative.
func escapes(p string) bool {
	p = filepath.FromSlash(p)
	return p != "" && !filepath.IsAbs(p) && !filepath.IsLocal(p)
}

// outsideWarning summarises, in one sentence, the annotated image paths that reach outside
// dir: how many, and the first with its place (where(i) names it, e.g. "line 12"). It
// returns "" when none does. Such paths are allowed (an annotation file may point at a
// shared image folder), but a typo or a hostile file can make them read anywhere, so they
// are said.
func outsideWarning(file, dir string, rels []string, where func(i int) string) string {
	n, first := 0, -1
	for i, p := range rels {
		if escapes(p) {
			if first < 0 {
				first = i
			}
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%s: %d image path(s) reach outside %s through \"..\" (the first, %s: %q)", file, n, dir, where(first), rels[first])
}
