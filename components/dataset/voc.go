package dataset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // for image.DecodeConfig (imageSize); JPEG pixels come from internal/jpeg
	_ "image/png"  // decoder for image.Decode
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ssdrunner/ssdrunner/internal/jpeg"
	"github.com/ssdrunner/ssdrunner/internal/textfile"
	"github.com/ssdrunner/ssdrunner/registry"
)

// VOCConfig configures the Pascal VOC reader.
type VOCConfig struct {
	Roots         []string `hcl:"roots" doc:"dataset folders, each with Annotations/, ImageSets/Main/ and JPEGImages/ (e.g. VOC2007 and VOC2012); several are concatenated in order"`
	Split         string   `hcl:"split,optional" doc:"image set read from ImageSets/Main/<split>.txt (the reference trains on trainval and tests on test)"`
	KeepDifficult bool     `hcl:"keep_difficult,optional" doc:"keep objects marked difficult in training samples; annotations for evaluation always include them, flagged"`
	Labels        string   `hcl:"labels,optional" doc:"labels file (comma-separated or one class per line); default: each root's labels.txt if present, else the 20 VOC classes"`
	StrictClasses bool     `hcl:"strict_classes,optional" doc:"an object whose class is not in the label set is an error (by default it is skipped, as the reference does)"`
	// ExifOrientation: see decodeImage.
	ExifOrientation bool `hcl:"exif_orientation,optional" doc:"turn images upright as their EXIF orientation tag says, as cv2.imread does for the reference"`
}

// Validate checks the options (called after decoding).
func (c *VOCConfig) Validate() error {
	if len(c.Roots) == 0 {
		return errors.New("roots: at least one dataset folder is needed")
	}
	for k, r := range c.Roots {
		if strings.TrimSpace(r) == "" {
			return fmt.Errorf("roots[%d] is empty", k)
		}
	}
	if c.Split == "" || strings.ContainsAny(c.Split, `/\`) || c.Split == "." || c.Split == ".." {
		return fmt.Errorf("split %q must be a plain file name (without .txt)", c.Split)
	}
	return nil
}

func init() {
	Registry.Register(registry.Spec{
		Name:    "voc",
		Summary: "Pascal VOC folders (Annotations/*.xml, JPEGImages/*.jpg, ImageSets/Main/<split>.txt), read like the reference's VOCDataset",
		Config:  func() any { return &VOCConfig{Split: "trainval", ExifOrientation: true} },
	}, func(cfg any, env Env) (Dataset, error) {
		return NewVOC(*registry.As[VOCConfig](cfg), env)
	})
}

// VOC is a Pascal VOC dataset: the images listed by the split files of one or more roots.
//
// Like the reference, Sample drops difficult objects unless keep_difficult is set (its
// __getitem__), while Annotation returns every object of a known class with its Difficult
// flag (its get_annotation, which evaluation uses to ignore difficult objects).
//
// All annotations are read and checked, and the presence of every image file is checked,
// when the dataset is built, so bad data is reported before training starts. Images are
// decoded on each Sample call; JPEG and PNG content is accepted whatever the extension.
// Sample returns the decoder's own image type (*image.RGBA for colour JPEGs, *image.Gray for
// grey ones, *image.NRGBA and others for PNGs): consumers convert to RGB, as the reference's
// cv2.imread + cvtColor does (grey images become three equal channels). JPEGs are decoded by
// libjpeg-turbo (internal/jpeg), as OpenCV decodes them, so the pixels equal the
// reference's; JPEGs are turned upright as their EXIF orientation says, as OpenCV does
// (unless exif_orientation = false), and damaged JPEGs (truncated, corrupt data) are
// errors where OpenCV only warns.
type VOC struct {
	names         []string
	items         []vocItem
	keepDifficult bool
	exif          bool
	problems      []Problem
	warnings      []string
}

type vocItem struct {
	id, image string
	objs      []Object // every object of a known class, difficult ones included
}

// maxImagePixels bounds the size an image header may announce before decoding is attempted.
const maxImagePixels = 1 << 27

// NewVOC reads the split files and annotations of every root.
func NewVOC(cfg VOCConfig, env Env) (*VOC, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var explicit []string
	if cfg.Labels != "" {
		var err error
		if explicit, err = ReadLabels(env.resolve(cfg.Labels)); err != nil {
			return nil, err
		}
	}
	d := &VOC{keepDifficult: cfg.KeepDifficult, exif: cfg.ExifOrientation}
	var namesFrom string
	var files []string // annotation file of each item
	for _, r := range cfg.Roots {
		root := env.resolve(r)
		if st, err := os.Stat(root); err != nil {
			return nil, fmt.Errorf("root: %w", err)
		} else if !st.IsDir() {
			return nil, fmt.Errorf("root %s is not a folder", root)
		}
		names, from, err := rootLabels(root, explicit, cfg.Labels)
		if err != nil {
			return nil, err
		}
		if d.names == nil {
			d.names, namesFrom = names, from
		} else if !slices.Equal(d.names, names) {
			return nil, fmt.Errorf("root %s has the classes of %s %v, but an earlier root has those of %s %v; all roots must share one label set",
				root, from, names[1:], namesFrom, d.names[1:])
		}
		set := filepath.Join(root, "ImageSets", "Main", cfg.Split+".txt")
		ids, err := readIDs(set)
		if err != nil {
			return nil, err
		}
		if w := outsideWarning(set, root, ids, func(i int) string { return fmt.Sprintf("image %d", i+1) }); w != "" {
			d.warnings = append(d.warnings, w)
		}
		for _, id := range ids {
			d.items = append(d.items, vocItem{id: id, image: filepath.Join(root, "JPEGImages", id+".jpg")})
			files = append(files, filepath.Join(root, "Annotations", id+".xml"))
		}
	}
	if err := d.loadAnnotations(env.ctx(), files, cfg.StrictClasses, env.SkipBad); err != nil {
		return nil, err
	}
	return d, nil
}

// Problems lists the samples dropped because their annotation or image file was bad
// (only when built with Env.SkipBad).
func (d *VOC) Problems() []Problem { return append([]Problem(nil), d.problems...) }

// Warnings lists what was accepted but looked odd (image paths outside the dataset folder).
func (d *VOC) Warnings() []string { return append([]string(nil), d.warnings...) }

// rootLabels returns the class names that apply to root and where they come from: the
// explicit labels file, else root/labels.txt when it is a regular file, else the VOC classes.
func rootLabels(root string, explicit []string, explicitPath string) ([]string, string, error) {
	if explicit != nil {
		return explicit, explicitPath, nil
	}
	p := filepath.Join(root, "labels.txt")
	if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
		names, err := ReadLabels(p)
		return names, p, err
	}
	return vocClassNames, "the default VOC classes", nil
}

// readIDs reads an image-set file: one image id per line, surrounding white space ignored,
// blank lines skipped; an id listed twice is an error.
func readIDs(path string) ([]string, error) {
	data, err := textfile.ReadText(path, textfile.Data)
	if err != nil {
		return nil, fmt.Errorf("image set: %w", err)
	}
	var ids []string
	first := map[string]int{} // id → line
	for i, line := range strings.Split(string(data), "\n") {
		if id := strings.TrimSpace(line); id != "" {
			if l, ok := first[id]; ok {
				return nil, fmt.Errorf("image set %s: line %d: image %q is listed twice (first on line %d)", path, i+1, id, l)
			}
			first[id] = i + 1
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("image set %s lists no images", path)
	}
	return ids, nil
}

// loadAnnotations parses files[i] into d.items[i].objs and checks that the images exist, on
// a few goroutines. The error of the lowest index wins, so reports are deterministic.
func (d *VOC) loadAnnotations(ctx context.Context, files []string, strict, skipBad bool) error {
	idx := classIndex(d.names)
	errs := make([]error, len(files))
	if err := forEachIndex(ctx, len(files), func(i int) { errs[i] = d.loadItem(i, files[i], idx, strict) }); err != nil {
		return err
	}
	if !skipBad {
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	}
	kept := d.items[:0]
	for i, err := range errs {
		if err != nil {
			d.problems = append(d.problems, Problem{ID: d.items[i].id, Err: err})
			continue
		}
		kept = append(kept, d.items[i])
	}
	d.items = kept
	if len(d.items) == 0 && len(d.problems) > 0 {
		return fmt.Errorf("every sample is bad (%d problems; the first: %v)", len(d.problems), d.problems[0].Err)
	}
	return nil
}

func (d *VOC) loadItem(i int, file string, idx map[string]int, strict bool) error {
	data, err := textfile.ReadText(file, textfile.Data)
	if err != nil {
		return fmt.Errorf("annotation: %w", err)
	}
	objs, err := parseAnnotation(data, file, idx, strict)
	if err != nil {
		return err
	}
	d.items[i].objs = objs
	if st, err := os.Stat(d.items[i].image); err != nil {
		return fmt.Errorf("image: %w", err)
	} else if !st.Mode().IsRegular() {
		return fmt.Errorf("image %s is not a regular file", d.items[i].image)
	}
	return nil
}

// Len is the number of images over all roots.
func (d *VOC) Len() int { return len(d.items) }

// ClassNames returns BACKGROUND followed by the dataset's classes.
func (d *VOC) ClassNames() []string { return append([]string(nil), d.names...) }

// Annotation returns the id and every object of image i, difficult ones included.
func (d *VOC) Annotation(i int) (string, []Object, error) {
	if err := checkIndex(i, len(d.items)); err != nil {
		return "", nil, err
	}
	it := d.items[i]
	return it.id, cloneObjects(it.objs), nil
}

// Sample decodes image i; its objects exclude difficult ones unless keep_difficult is set.
func (d *VOC) Sample(i int) (Sample, error) {
	if err := checkIndex(i, len(d.items)); err != nil {
		return Sample{}, err
	}
	it := d.items[i]
	img, err := decodeImage(it.image, d.exif, nil)
	if err != nil {
		return Sample{}, err
	}
	objs := make([]Object, 0, len(it.objs))
	for _, o := range it.objs {
		if d.keepDifficult || !o.Difficult {
			objs = append(objs, o)
		}
	}
	return Sample{ID: it.id, Image: img, Objects: objs}, nil
}

// decodeImage reads a JPEG or PNG file. With exif, a JPEG is turned upright as its EXIF
// orientation tag says, as cv2.imread does (the PyTorch SSD reference reads images so);
// without, it keeps its stored pixel grid, as PIL's Image.open does (the Keras SSD
// project, pycocotools and torchvision read images so, and COCO's boxes are drawn on it).
func decodeImage(path string, exif bool, pix []byte) (image.Image, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	if jpeg.IsJPEG(data) {
		img, err := decodeJPEG(path, data, pix)
		if err != nil || !exif {
			return img, err
		}
		return jpeg.Orient(img, jpeg.Orientation(data)), nil
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("image %s: cannot decode: %v", path, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxImagePixels {
		return nil, fmt.Errorf("image %s: unsupported size %dx%d", path, cfg.Width, cfg.Height)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("image %s: cannot decode: %v", path, err)
	}
	return img, nil
}

// decodeJPEG decodes the JPEG file at path, whose content is data, with libjpeg-turbo.
func decodeJPEG(path string, data []byte, pix []byte) (image.Image, error) {
	hd, err := jpeg.DecodeHeader(path, data)
	if err != nil {
		return nil, fmt.Errorf("image %s: cannot decode: %v", path, jpegMessage(err))
	}
	if int64(hd.Width)*int64(hd.Height) > maxImagePixels {
		return nil, fmt.Errorf("image %s: unsupported size %dx%d", path, hd.Width, hd.Height)
	}
	img, err := jpeg.DecodeInto(path, data, 0, pix)
	if err != nil {
		return nil, fmt.Errorf("image %s: cannot decode: %v", path, jpegMessage(err))
	}
	return img, nil
}

// jpegMessage returns the message of a decoding error without the file name, which the
// caller's message holds.
func jpegMessage(err error) string {
	var je *jpeg.Error
	if errors.As(err, &je) {
		return je.Msg
	}
	return err.Error()
}

// DecodeImage reads and decodes an image file as the datasets do: JPEGs with
// libjpeg-turbo (the pixels cv2.imread gives), turned upright by their EXIF orientation
// when exif is set (as cv2.imread does); PNG and GIF with Go's decoders. Errors name the
// file; images of more than 2^27 pixels are refused.
func DecodeImage(path string, exif bool) (image.Image, error) { return decodeImage(path, exif, nil) }

// DecodeImageInto is DecodeImage that decodes a colour JPEG into pix's memory when pix
// has the capacity (see jpeg.DecodeInto): a caller that decodes many images can give the
// pixels of one it no longer uses to the next (image.RGBA's Pix, at full capacity).
func DecodeImageInto(path string, exif bool, pix []byte) (image.Image, error) {
	return decodeImage(path, exif, pix)
}
