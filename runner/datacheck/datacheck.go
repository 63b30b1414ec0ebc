// Package datacheck validates every annotation (and optionally every image) of a dataset
// up front and summarises it: objects per class, boxes per image, box sizes, problems.
package datacheck

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/ssdrunner/ssdrunner/components/dataset"
)

// Stats summarises a list of numbers.
type Stats struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Mean   float64 `json:"mean"`
	Max    float64 `json:"max"`
}

func summarise(v []float64) Stats {
	if len(v) == 0 {
		return Stats{}
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	sum := 0.0
	for _, x := range s {
		sum += x
	}
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stats{Min: s[0], Median: med, Mean: sum / float64(len(s)), Max: s[len(s)-1]}
}

// ClassCount counts one class's objects.
type ClassCount struct {
	Class     string `json:"class"`
	Objects   int    `json:"objects"`
	Difficult int    `json:"difficult"`
	Images    int    `json:"images"`
}

// Problem is a sample that cannot be used.
type Problem struct {
	ID    string `json:"id,omitempty"`
	Error string `json:"error"`
}

// Report is what Check found.
type Report struct {
	Name          string       `json:"name"` // train | validation
	Type          string       `json:"type"`
	Images        int          `json:"images"`
	Objects       int          `json:"objects"`
	Difficult     int          `json:"difficult"`
	EmptyImages   int          `json:"empty_images"`
	PerClass      []ClassCount `json:"per_class"`
	BoxesPerImage Stats        `json:"boxes_per_image"`
	BoxWidth      Stats        `json:"box_width"`  // pixels
	BoxHeight     Stats        `json:"box_height"` // pixels
	TinyBoxes     int          `json:"tiny_boxes"` // a side under TinySide pixels
	ImagesDecoded bool         `json:"images_decoded"`
	ImageWidth    Stats        `json:"image_width,omitempty"`
	ImageHeight   Stats        `json:"image_height,omitempty"`
	Problems      []Problem    `json:"problems"`
	// Warnings is what the dataset accepted but found odd (dataset.WarningReporter).
	Warnings []string `json:"warnings,omitempty"`
}

// TinySide is the box side (pixels) under which a box is counted as tiny: SSD300's
// smallest priors are 30–60 px, so such objects are hardly ever matched.
const TinySide = 4

// Check reads every annotation of ds (and decodes every image when decode is set, with
// one goroutine per core), collecting problems instead of stopping at the first. Problems
// the dataset found while being built (dataset.ProblemReporter) are included.
func Check(ctx context.Context, name, typ string, ds dataset.Dataset, decode bool) (*Report, error) {
	r := &Report{Name: name, Type: typ, Images: ds.Len(), ImagesDecoded: decode}
	if pr, ok := ds.(dataset.ProblemReporter); ok {
		for _, p := range pr.Problems() {
			r.Problems = append(r.Problems, Problem{ID: p.ID, Error: p.Err.Error()})
		}
	}
	if wr, ok := ds.(dataset.WarningReporter); ok {
		r.Warnings = wr.Warnings()
	}
	classes := ds.ClassNames()
	counts := make([]ClassCount, len(classes))
	for i, c := range classes {
		counts[i].Class = c
	}
	var perImage, widths, heights []float64
	for i := 0; i < ds.Len(); i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		id, objs, err := ds.Annotation(i)
		if err != nil {
			r.Problems = append(r.Problems, Problem{ID: id, Error: err.Error()})
			continue
		}
		if len(objs) == 0 {
			r.EmptyImages++
		}
		perImage = append(perImage, float64(len(objs)))
		seen := map[int]bool{}
		for k, o := range objs {
			if o.Label <= 0 || o.Label >= len(classes) {
				r.Problems = append(r.Problems, Problem{ID: id, Error: fmt.Sprintf("object %d: label %d outside 1..%d", k, o.Label, len(classes)-1)})
				continue
			}
			w, h := o.Box[2]-o.Box[0], o.Box[3]-o.Box[1]
			if !(w > 0 && h > 0) {
				r.Problems = append(r.Problems, Problem{ID: id, Error: fmt.Sprintf("object %d: degenerate box %v", k, o.Box)})
				continue
			}
			r.Objects++
			c := &counts[o.Label]
			c.Objects++
			if o.Difficult {
				c.Difficult++
				r.Difficult++
			}
			if !seen[o.Label] {
				seen[o.Label] = true
				c.Images++
			}
			widths, heights = append(widths, w), append(heights, h)
			if w < TinySide || h < TinySide {
				r.TinyBoxes++
			}
		}
	}
	switch {
	case r.Images == 0:
		r.Problems = append(r.Problems, Problem{Error: "the dataset has no images"})
	case r.Objects == 0:
		r.Problems = append(r.Problems, Problem{Error: fmt.Sprintf(
			"none of the %d images has a usable object of the classes %s: labels that match no annotation, or annotations that cannot be read?",
			r.Images, strings.Join(classes[1:], ", "))})
	}
	r.PerClass = counts[1:]
	r.BoxesPerImage, r.BoxWidth, r.BoxHeight = summarise(perImage), summarise(widths), summarise(heights)
	if decode {
		if err := r.decodeAll(ctx, ds); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// decodeAll decodes every image in parallel, recording the ones that fail.
func (r *Report) decodeAll(ctx context.Context, ds dataset.Dataset) error {
	n := ds.Len()
	ws, hs := make([]float64, n), make([]float64, n)
	errs := make([]error, n)
	ids := make([]string, n)
	outside := make([][]Problem, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < runtime.NumCPU(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				s, err := ds.Sample(i)
				if err != nil {
					errs[i] = err
					ids[i], _, _ = ds.Annotation(i)
					continue
				}
				b := s.Image.Bounds()
				ws[i], hs[i] = float64(b.Dx()), float64(b.Dy())
				id, objs, err := ds.Annotation(i)
				if err != nil {
					continue // reported by Check
				}
				for k, o := range objs {
					if o.Box[0] >= ws[i] || o.Box[1] >= hs[i] || o.Box[2] < 0 || o.Box[3] < 0 {
						outside[i] = append(outside[i], Problem{ID: id, Error: fmt.Sprintf(
							"object %d: box %v lies entirely outside the %dx%d image", k, o.Box, b.Dx(), b.Dy())})
					}
				}
			}
		}()
	}
	var err error
feed:
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err != nil {
		return err
	}
	var okW, okH []float64
	for i := range errs {
		r.Problems = append(r.Problems, outside[i]...)
		if errs[i] != nil {
			r.Problems = append(r.Problems, Problem{ID: ids[i], Error: errs[i].Error()})
			continue
		}
		okW, okH = append(okW, ws[i]), append(okH, hs[i])
	}
	r.ImageWidth, r.ImageHeight = summarise(okW), summarise(okH)
	return nil
}
