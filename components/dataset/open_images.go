package dataset

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ssdrunner/ssdrunner/internal/textfile"
	"github.com/ssdrunner/ssdrunner/registry"
)

// OpenImagesConfig configures the Open Images reader.
type OpenImagesConfig struct {
	Root              string   `hcl:"root" doc:"folder written by the reference's open_images_downloader.py: sub-<split>-annotations-bbox.csv, class-descriptions-boxable.csv and the folders train/, validation/, test/ of <ImageID>.jpg"`
	Split             string   `hcl:"split,optional" doc:"train, validation or test (the reference trains on train and validates and evaluates on test)"`
	Classes           []string `hcl:"classes,optional" doc:"classes to keep, in label order (label 1 is the first); rows of other classes are skipped. Default: every ClassName of the split's file, sorted, as the reference does (so splits with different classes get different labels)"`
	BalanceData       bool     `hcl:"balance_data,optional" doc:"down-sample frequent classes as the reference's --balance_data: each class keeps a random subset of as many images as the rarest class has"`
	Seed              int      `hcl:"seed,optional" doc:"seed of balance_data's random draws (the same seed keeps the same images)"`
	SkipMissingImages bool     `hcl:"skip_missing_images,optional" doc:"drop images whose file does not exist (the downloader skips images it cannot fetch); by default a missing image is an error"`
	ExifOrientation   bool     `hcl:"exif_orientation,optional" doc:"turn images upright as their EXIF orientation tag says, as cv2.imread does for the reference (the relative boxes are scaled by the upright size)"`
}

// openImagesSplits are the splits the downloader writes.
var openImagesSplits = []string{"train", "validation", "test"}

// Validate checks the options (called after decoding).
func (c *OpenImagesConfig) Validate() error {
	if strings.TrimSpace(c.Root) == "" {
		return errors.New("root is empty")
	}
	if !slices.Contains(openImagesSplits, c.Split) {
		msg := fmt.Sprintf("split %q is not one of %s", c.Split, strings.Join(openImagesSplits, ", "))
		if s := registry.Suggest(c.Split, openImagesSplits); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		return errors.New(msg)
	}
	return checkClassList(c.Classes)
}

func init() {
	Registry.Register(registry.Spec{
		Name:    "open_images",
		Summary: "Open Images subsets as the reference's open_images_downloader.py writes them (sub-<split>-annotations-bbox.csv, <split>/<ImageID>.jpg), read like its OpenImagesDataset",
		Config:  func() any { return &OpenImagesConfig{Split: "train", ExifOrientation: true} },
	}, func(cfg any, env Env) (Dataset, error) {
		return NewOpenImages(*registry.As[OpenImagesConfig](cfg), env)
	})
}

// OpenImages is an Open Images subset: the images of one split that have boxes.
//
// It behaves like the reference's OpenImagesDataset: rows of the annotation file are grouped
// by ImageID, images are sorted by ImageID, labels are BACKGROUND then the sorted class
// names (unless classes are given), no object is difficult, and Sample and Annotation return
// the same objects. Boxes are the file's relative coordinates times the image's width or
// height, computed at float32 precision as the reference does (xmin = XMin·width, xmax =
// XMax·width: continuous coordinates, without the -1 of the VOC reader's inclusive pixel
// indices). Annotation therefore needs each image's size: it reads the image file's header
// the first time and caches the size; Sample uses the decoded image's size.
//
// The annotation file is read and checked, and the presence of every image is checked, when
// the dataset is built. Errors name the annotation file and the line of the image's first
// row. With Env.SkipBad, an image with a bad row or whose file is missing (unless
// skip_missing_images drops it silently) is dropped instead and recorded (Problems); the
// build fails only when no image is good. With balance_data, see balanceImages for how the
// selection is drawn (among the good images).
type OpenImages struct {
	names     []string
	file      string // the annotation file
	items     []oiImage
	sizes     *imageSizes
	exif      bool
	minImages int
	problems  []Problem
	warnings  []string
}

// NewOpenImages reads the annotation file of the configured split.
func NewOpenImages(cfg OpenImagesConfig, env Env) (*OpenImages, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	root := env.resolve(cfg.Root)
	if st, err := os.Stat(root); err != nil {
		return nil, fmt.Errorf("root: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("root %s is not a folder", root)
	}
	file := filepath.Join(root, "sub-"+cfg.Split+"-annotations-bbox.csv")
	data, err := textfile.ReadText(file, textfile.Data)
	if err != nil {
		return nil, fmt.Errorf("annotations: %w", err)
	}
	var classes []string
	if len(cfg.Classes) > 0 {
		classes = cfg.Classes
	}
	p, err := parseOpenImagesSkip(env.ctx(), data, file, classes, env.SkipBad)
	if err != nil {
		return nil, err
	}
	if classes != nil {
		if err := checkOpenImagesClasses(classes, p.seen, file, filepath.Join(root, "class-descriptions-boxable.csv")); err != nil {
			return nil, err
		}
		if len(p.images) == 0 {
			return nil, fmt.Errorf("%s: no box of the listed classes %q", file, classes)
		}
	}
	var keep []oiImage
	problems := p.problems
	paths := make([]string, len(p.images))
	ids := make([]string, len(p.images))
	for i, im := range p.images {
		paths[i] = filepath.Join(root, cfg.Split, im.id+".jpg")
		ids[i] = im.id
	}
	warning := outsideWarning(file, filepath.Join(root, cfg.Split), ids, func(i int) string { return fmt.Sprintf("line %d", p.images[i].line) })
	statErrs, err := statImages(env.ctx(), paths)
	if err != nil {
		return nil, err
	}
	for i, err := range statErrs {
		im := p.images[i]
		if err != nil {
			if cfg.SkipMissingImages && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			err = fmt.Errorf("%s: line %d: ImageID %s: %w", file, im.line, im.id, err)
			if !env.SkipBad {
				return nil, err
			}
			problems = append(problems, Problem{ID: im.id, Err: err})
			continue
		}
		im.path = paths[i]
		keep = append(keep, im)
	}
	// Dataset order: images by id (rows that name no image, with id "", first).
	slices.SortStableFunc(problems, func(a, b Problem) int { return strings.Compare(a.ID, b.ID) })
	if len(keep) == 0 && len(problems) > 0 {
		return nil, everySampleBad(problems)
	}
	if len(keep) == 0 {
		return nil, fmt.Errorf("%s: none of the %d images exists in %s", file, len(p.images), filepath.Join(root, cfg.Split))
	}
	d := &OpenImages{names: p.names, file: file, items: keep, exif: cfg.ExifOrientation, minImages: -1, problems: problems}
	if warning != "" {
		d.warnings = []string{warning}
	}
	if cfg.BalanceData {
		if d.items, d.minImages, err = balanceImages(keep, p.names, int64(cfg.Seed)); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
	}
	d.sizes = newImageSizes(len(d.items))
	return d, nil
}

// checkOpenImagesClasses checks that every explicitly listed class is a class of the
// annotation file or, when the downloader's class descriptions file exists, one of its
// display names (so a split may lack some classes of a fixed label set, but typos are
// caught).
func checkOpenImagesClasses(classes []string, seen map[string]bool, file, descriptions string) error {
	known := maps.Clone(seen)
	data, err := textfile.ReadText(descriptions, textfile.Data)
	switch {
	case err == nil:
		err = eachCSVRecord(context.Background(), data, descriptions, func(line int, rec []string) error {
			if len(rec) < 2 {
				return fmt.Errorf("%s: line %d: %d fields, want 2 (LabelName, ClassName)", descriptions, line, len(rec))
			}
			known[rec[1]] = true
			return nil
		})
		if err != nil {
			return err
		}
	case errors.Is(err, fs.ErrNotExist):
		descriptions = ""
	default:
		return fmt.Errorf("class descriptions: %w", err)
	}
	for _, c := range classes {
		if known[c] {
			continue
		}
		msg := fmt.Sprintf("classes: %q is not a ClassName of %s", c, file)
		if descriptions != "" {
			msg += " nor of " + descriptions
		}
		if s := registry.Suggest(c, slices.Sorted(maps.Keys(known))); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		return errors.New(msg)
	}
	return nil
}

// Problems lists the images dropped because a row of theirs or their file was bad, in
// dataset order (only when built with Env.SkipBad). A bad row without an ImageID is a
// Problem with an empty ID, listed first.
func (d *OpenImages) Problems() []Problem { return append([]Problem(nil), d.problems...) }

// Warnings lists what was accepted but looked odd (image paths outside the dataset folder).
func (d *OpenImages) Warnings() []string { return append([]string(nil), d.warnings...) }

// Len is the number of images.
func (d *OpenImages) Len() int { return len(d.items) }

// ClassNames returns BACKGROUND followed by the dataset's classes.
func (d *OpenImages) ClassNames() []string { return append([]string(nil), d.names...) }

// MinClassImages is the number of images of the rarest class that balance_data kept of every
// class (the reference's min_image_num), or -1 without balance_data.
func (d *OpenImages) MinClassImages() int { return d.minImages }

// Annotation returns the id and objects of image i; it reads the image file's header (once)
// to convert the relative coordinates to pixels.
func (d *OpenImages) Annotation(i int) (string, []Object, error) {
	if err := checkIndex(i, len(d.items)); err != nil {
		return "", nil, err
	}
	it := &d.items[i]
	w, h, err := d.sizes.get(i, it.path, d.exif)
	if err != nil {
		return "", nil, fmt.Errorf("%s: line %d: ImageID %s: %w", d.file, it.line, it.id, err)
	}
	return it.id, it.objects(w, h), nil
}

// Sample decodes image i.
func (d *OpenImages) Sample(i int) (Sample, error) {
	if err := checkIndex(i, len(d.items)); err != nil {
		return Sample{}, err
	}
	it := &d.items[i]
	img, err := decodeImage(it.path, d.exif, nil)
	if err != nil {
		return Sample{}, fmt.Errorf("%s: line %d: ImageID %s: %w", d.file, it.line, it.id, err)
	}
	b := img.Bounds()
	d.sizes.set(i, b.Dx(), b.Dy())
	return Sample{ID: it.id, Image: img, Objects: it.objects(b.Dx(), b.Dy())}, nil
}

// objects converts the relative boxes to pixels as the reference does: float32 products.
func (im *oiImage) objects(w, h int) []Object {
	fw, fh := float32(w), float32(h)
	objs := make([]Object, len(im.boxes))
	for k, b := range im.boxes {
		objs[k] = Object{Label: im.labels[k], Box: [4]float64{
			float64(b[0] * fw), float64(b[1] * fh), float64(b[2] * fw), float64(b[3] * fh)}}
	}
	return objs
}
