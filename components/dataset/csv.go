package dataset

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ssdrunner/ssdrunner/internal/textfile"
	"github.com/ssdrunner/ssdrunner/registry"
)

// CSVConfig configures the generic CSV reader.
type CSVConfig struct {
	File     string   `hcl:"file" doc:"CSV file with one box per row (several rows of one image make one sample); a row with only the image path lists an image without objects"`
	Images   string   `hcl:"images,optional" doc:"folder that relative image paths are relative to; default: the CSV file's folder"`
	Columns  []string `hcl:"columns,optional" doc:"the file's columns in order, each of image, xmin, ymin, xmax, ymax, class exactly once, and _ for a column to ignore"`
	Header   string   `hcl:"header,optional" doc:"whether the first row is a header: auto (it is when one of its coordinates is neither empty nor a number), true or false"`
	Relative bool     `hcl:"relative,optional" doc:"coordinates are fractions of the image's width and height (the size is read from the image file); default: pixels"`
	Labels   string   `hcl:"labels,optional" doc:"labels file fixing the label order (comma-separated or one class per line, as for voc; spaces in names are removed); a row of another class is an error"`
	Classes  []string `hcl:"classes,optional" doc:"class names in label order (label 1 is the first), an alternative to labels; a row of another class is an error. Default (neither): the classes in order of first appearance in the file"`
	// ExifOrientation: see decodeImage.
	ExifOrientation bool `hcl:"exif_orientation,optional" doc:"turn JPEGs upright as their EXIF orientation tag says (as cv2.imread); default: the stored pixel grid, as the Keras SSD project's PIL reading"`
}

// Validate checks the options (called after decoding).
func (c *CSVConfig) Validate() error {
	if strings.TrimSpace(c.File) == "" {
		return errors.New("file is empty")
	}
	if _, err := newCSVLayout(c.Columns); err != nil {
		return err
	}
	switch c.Header {
	case "auto", "true", "false":
	default:
		return fmt.Errorf("header must be auto, true or false, got %q", c.Header)
	}
	if c.Labels != "" && len(c.Classes) > 0 {
		return errors.New("labels and classes cannot both be set")
	}
	return checkClassList(c.Classes)
}

func init() {
	Registry.Register(registry.Spec{
		Name:    "csv",
		Summary: "generic CSV of boxes: image path, xmin, ymin, xmax, ymax, class per row, in pixels or relative",
		Config: func() any {
			return &CSVConfig{Columns: slices.Clone(csvColumnNames), Header: "auto"}
		},
	}, func(cfg any, env Env) (Dataset, error) {
		return NewCSV(*registry.As[CSVConfig](cfg), env)
	})
}

// CSV is a dataset read from a CSV file of boxes.
//
// Samples follow the order of each image's first row and their ids are the image paths as
// written in the file. Labels come from the labels file or the classes option when one is
// set, else from the classes in order of first appearance in the file (so reordering the
// rows can change the labels: set labels or classes to fix them). Coordinates are taken as
// given (pixels) or, with relative, multiplied by the image's width and height
// (xmin·width …, continuous coordinates; Annotation reads the image file's header the first
// time and caches the size). No object is difficult.
//
// The file is read and checked, and the presence of every image is checked, when the
// dataset is built; errors name the CSV file and the line (of the image's first row for
// errors about the image). With Env.SkipBad, an image with a bad row or a missing file is
// dropped instead and recorded (Problems); the build fails only when no image is good.
type CSV struct {
	names    []string
	file     string
	items    []csvItem
	paths    []string
	relative bool
	exif     bool
	sizes    *imageSizes
	problems []Problem
	warnings []string
}

// NewCSV reads the CSV file.
func NewCSV(cfg CSVConfig, env Env) (*CSV, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lay, _ := newCSVLayout(cfg.Columns)
	file := env.resolve(cfg.File)
	dir := filepath.Dir(file)
	if cfg.Images != "" {
		dir = env.resolve(cfg.Images)
	}
	o := csvParseOptions{layout: lay, header: cfg.Header, relative: cfg.Relative, skipBad: env.SkipBad, ctx: env.ctx()}
	switch {
	case cfg.Labels != "":
		names, err := ReadLabels(env.resolve(cfg.Labels))
		if err != nil {
			return nil, err
		}
		o.classes = names[1:]
	case len(cfg.Classes) > 0:
		o.classes = cfg.Classes
	}
	data, err := textfile.ReadText(file, textfile.Data)
	if err != nil {
		return nil, fmt.Errorf("csv: %w", err)
	}
	names, items, err := parseDetectionCSV(data, file, o)
	if err != nil {
		return nil, err
	}
	paths := make([]string, len(items))
	for i, it := range items {
		if it.bad != nil {
			continue // not checked (with skipBad only)
		}
		p := filepath.FromSlash(it.image)
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		paths[i] = p
	}
	d := &CSV{names: names, file: file, relative: cfg.Relative, exif: cfg.ExifOrientation}
	rels := make([]string, len(items))
	for i, it := range items {
		rels[i] = it.image
	}
	if w := outsideWarning(file, dir, rels, func(i int) string { return fmt.Sprintf("line %d", items[i].line) }); w != "" {
		d.warnings = append(d.warnings, w)
	}
	statErrs, err := statImages(env.ctx(), paths)
	if err != nil {
		return nil, err
	}
	for i, err := range statErrs {
		if err == nil || items[i].bad != nil {
			continue
		}
		err = fmt.Errorf("%s: line %d: %w", file, items[i].line, err)
		if !env.SkipBad {
			return nil, err
		}
		items[i].bad = err
	}
	d.problems = csvProblems(items)
	for i, it := range items {
		if it.bad == nil {
			d.items = append(d.items, it)
			d.paths = append(d.paths, paths[i])
		}
	}
	if len(d.items) == 0 {
		return nil, everySampleBad(d.problems)
	}
	d.sizes = newImageSizes(len(d.items))
	return d, nil
}

// Problems lists the images dropped because a row of theirs or their file was bad, in the
// order of their first rows (only when built with Env.SkipBad). A bad row that names no
// image is a Problem with an empty ID.
func (d *CSV) Problems() []Problem { return append([]Problem(nil), d.problems...) }

// Warnings lists what was accepted but looked odd (image paths outside the dataset folder).
func (d *CSV) Warnings() []string { return append([]string(nil), d.warnings...) }

// Len is the number of images.
func (d *CSV) Len() int { return len(d.items) }

// ClassNames returns BACKGROUND followed by the dataset's classes.
func (d *CSV) ClassNames() []string { return append([]string(nil), d.names...) }

// Annotation returns the id and objects of image i; with relative coordinates it reads the
// image file's header (once) to convert them to pixels.
func (d *CSV) Annotation(i int) (string, []Object, error) {
	if err := checkIndex(i, len(d.items)); err != nil {
		return "", nil, err
	}
	it := &d.items[i]
	if !d.relative {
		return it.image, cloneObjects(it.objs), nil
	}
	w, h, err := d.sizes.get(i, d.paths[i], d.exif)
	if err != nil {
		return "", nil, fmt.Errorf("%s: line %d: %w", d.file, it.line, err)
	}
	return it.image, scaleObjects(it.objs, w, h), nil
}

// Sample decodes image i.
func (d *CSV) Sample(i int) (Sample, error) {
	if err := checkIndex(i, len(d.items)); err != nil {
		return Sample{}, err
	}
	it := &d.items[i]
	img, err := decodeImage(d.paths[i], d.exif, nil)
	if err != nil {
		return Sample{}, fmt.Errorf("%s: line %d: %w", d.file, it.line, err)
	}
	objs := cloneObjects(it.objs)
	if d.relative {
		b := img.Bounds()
		d.sizes.set(i, b.Dx(), b.Dy())
		objs = scaleObjects(it.objs, b.Dx(), b.Dy())
	}
	return Sample{ID: it.image, Image: img, Objects: objs}, nil
}

// scaleObjects returns copies of relative objects with boxes in pixels of a w×h image.
func scaleObjects(objs []Object, w, h int) []Object {
	out := cloneObjects(objs)
	for k := range out {
		b := &out[k].Box
		b[0], b[1], b[2], b[3] = b[0]*float64(w), b[1]*float64(h), b[2]*float64(w), b[3]*float64(h)
	}
	return out
}
