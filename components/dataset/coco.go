package dataset

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ssdrunner/ssdrunner/internal/textfile"
	"github.com/ssdrunner/ssdrunner/registry"
)

// COCOConfig configures the COCO reader.
type COCOConfig struct {
	Annotations string   `hcl:"annotations" doc:"COCO instances file (e.g. annotations/instances_train2017.json)"`
	Images      string   `hcl:"images" doc:"folder that the images' file_name values are relative to (e.g. train2017)"`
	Classes     []string `hcl:"classes,optional" doc:"category names to keep, in label order (label 1 is the first); annotations of other categories are dropped. Default: every category, labelled 1..K in ascending category id order"`
	SkipCrowd   bool     `hcl:"skip_crowd,optional" doc:"drop crowd annotations (iscrowd 1); when false they are kept as difficult objects: evaluation ignores them and training samples leave them out"`
	MinArea     float64  `hcl:"min_area,optional" doc:"drop boxes whose area (width × height, in pixels) is below this; boxes of zero width or height are an error unless this drops them"`
	SkipEmpty   bool     `hcl:"skip_empty,optional" doc:"drop images without any (non-crowd) object of the kept classes, as is usual for training; set it to false for evaluation, where images without objects still count"`
	// ExifOrientation: see decodeImage.
	ExifOrientation bool `hcl:"exif_orientation,optional" doc:"turn JPEGs upright as their EXIF orientation tag says; default false: COCO's boxes are drawn on the stored pixel grid (pycocotools and torchvision read images with PIL, which does not turn them)"`
}

// Validate checks the options (called after decoding).
func (c *COCOConfig) Validate() error {
	if strings.TrimSpace(c.Annotations) == "" {
		return errors.New("annotations is empty")
	}
	if strings.TrimSpace(c.Images) == "" {
		return errors.New("images is empty")
	}
	if !(c.MinArea >= 0) {
		return fmt.Errorf("min_area must be >= 0, got %g", c.MinArea)
	}
	return checkClassList(c.Classes)
}

func init() {
	Registry.Register(registry.Spec{
		Name:    "coco",
		Summary: "COCO detection data: an instances_*.json file and its image folder",
		Config:  func() any { return &COCOConfig{SkipCrowd: true, SkipEmpty: true} },
	}, func(cfg any, env Env) (Dataset, error) {
		return NewCOCO(*registry.As[COCOConfig](cfg), env)
	})
}

// COCO is a COCO detection dataset.
//
// Images are sorted by image id (as torchvision's CocoDetection orders them) and their ids
// are their file names without extension. Labels are 1..K over the categories in ascending
// category id order (COCO's 80 classes, whose ids run from 1 to 90 with gaps, become labels
// 1..80), or follow the classes option. Boxes are [x, y, width, height] in pixels and become
// (x, y, x+width, y+height): continuous coordinates, without the -1 of the VOC reader's
// inclusive pixel indices.
//
// Crowd annotations: with skip_crowd (the default) they are dropped. Without it, they are
// objects flagged Difficult: Annotation returns them, so that VOC-style evaluation ignores
// detections on crowd regions (the "coco" metric treats difficult objects as crowd regions,
// as COCOeval does), and Sample leaves them out, as the VOC reader leaves out difficult
// objects. An evaluation set that should score like COCOeval sets skip_crowd = false and
// skip_empty = false.
//
// The instances file is read and checked, and the presence of every image is checked, when
// the dataset is built; errors name the file and the element (array index, line and id).
// Images are decoded on each Sample call. With Env.SkipBad, an image whose element, one of
// whose annotations or whose file is bad is dropped instead and recorded (Problems); the
// build fails only when no image is good.
type COCO struct {
	names    []string
	items    []cocoItem
	dir      string
	exif     bool
	problems []Problem
	warnings []string
}

// NewCOCO reads the instances file.
func NewCOCO(cfg COCOConfig, env Env) (*COCO, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	file := env.resolve(cfg.Annotations)
	dir := env.resolve(cfg.Images)
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("images: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("images %s is not a folder", dir)
	}
	data, err := textfile.ReadText(file, textfile.Data)
	if err != nil {
		return nil, fmt.Errorf("annotations: %w", err)
	}
	f, err := parseCOCO(data, file)
	if err != nil {
		return nil, err
	}
	o := cocoOptions{skipCrowd: cfg.SkipCrowd, minArea: cfg.MinArea, skipEmpty: cfg.SkipEmpty, skipBad: env.SkipBad}
	if len(cfg.Classes) > 0 {
		o.classes = cfg.Classes
	}
	names, items, err := buildCOCO(f, o)
	if err != nil {
		return nil, err
	}
	paths := make([]string, len(items))
	rels := make([]string, len(items))
	for i, it := range items {
		rels[i] = it.file
		if it.bad == nil {
			paths[i] = filepath.Join(dir, filepath.FromSlash(it.file))
		}
	}
	warning := outsideWarning(file, dir, rels, func(i int) string { return fmt.Sprintf("image id %d", items[i].imageID) })
	statErrs, err := statImages(env.ctx(), paths)
	if err != nil {
		return nil, err
	}
	for i, err := range statErrs {
		if err == nil || items[i].bad != nil {
			continue
		}
		err = fmt.Errorf("%s: image id %d (%s): %w", file, items[i].imageID, items[i].file, err)
		if !env.SkipBad {
			return nil, err
		}
		items[i].bad = err
	}
	d := &COCO{names: names, dir: dir, exif: cfg.ExifOrientation, problems: cocoProblems(items)}
	if warning != "" {
		d.warnings = []string{warning}
	}
	for _, it := range items {
		if it.bad == nil {
			d.items = append(d.items, it)
		}
	}
	if len(d.items) == 0 {
		return nil, everySampleBad(d.problems)
	}
	return d, nil
}

// Problems lists the images dropped because their element, one of their annotations or
// their file was bad, in dataset order (only when built with Env.SkipBad). Errors that are
// no one image's (an image without id, an annotation without a valid image_id, which is
// dropped) are Problems with an empty ID, listed first; so is an image without file_name.
func (d *COCO) Problems() []Problem { return append([]Problem(nil), d.problems...) }

// Warnings lists what was accepted but looked odd (image paths outside the dataset folder).
func (d *COCO) Warnings() []string { return append([]string(nil), d.warnings...) }

// Len is the number of images.
func (d *COCO) Len() int { return len(d.items) }

// ClassNames returns BACKGROUND followed by the kept categories' names.
func (d *COCO) ClassNames() []string { return append([]string(nil), d.names...) }

// Annotation returns the id and objects of image i, crowd objects (flagged Difficult)
// included when skip_crowd is false.
func (d *COCO) Annotation(i int) (string, []Object, error) {
	if err := checkIndex(i, len(d.items)); err != nil {
		return "", nil, err
	}
	it := d.items[i]
	return it.id, cloneObjects(it.objs), nil
}

// Sample decodes image i; its objects exclude crowd ones.
func (d *COCO) Sample(i int) (Sample, error) {
	if err := checkIndex(i, len(d.items)); err != nil {
		return Sample{}, err
	}
	it := d.items[i]
	img, err := decodeImage(filepath.Join(d.dir, filepath.FromSlash(it.file)), d.exif, nil)
	if err != nil {
		return Sample{}, fmt.Errorf("image id %d: %w", it.imageID, err)
	}
	objs := make([]Object, 0, len(it.objs))
	for _, o := range it.objs {
		if !o.Difficult {
			objs = append(objs, o)
		}
	}
	return Sample{ID: it.id, Image: img, Objects: objs}, nil
}
