// Package dataset provides the detection datasets that experiments name in
// `train "<type>" { … }` / `validation "<type>" { … }` blocks: Pascal VOC ("voc", like the
// reference's VOCDataset), Open Images as the reference's downloader lays it out
// ("open_images", like its OpenImagesDataset), COCO JSON ("coco") and a generic CSV
// ("csv"). The built-in synthetic "shapes" dataset is the sub-package shapes, which
// registers itself here (components/all imports it).
//
// Coordinates follow the reference: a box is (xmin, ymin, xmax, ymax) in pixels, where the
// values are the 0-based indices of the outermost pixel columns and rows of the object
// (inclusive). The reference obtains them from VOC's 1-based XML coordinates by subtracting 1;
// "voc" does the same and WriteVOC adds it back.
//
// Every Dataset of this package is safe for concurrent use: Sample and Annotation may be
// called from several goroutines at once, in any order.
package dataset

import (
	"context"
	"fmt"
	"image"
	"path/filepath"

	"github.com/ssdrunner/ssdrunner/registry"
)

// Object is one annotated object of an image.
type Object struct {
	// Box is xmin, ymin, xmax, ymax in pixels (0-based indices of the outermost pixels).
	Box [4]float64
	// Label indexes the dataset's ClassNames(); it is never 0 (BACKGROUND).
	Label int
	// Difficult marks objects that VOC evaluation ignores.
	Difficult bool
}

// Sample is one decoded image and its objects.
type Sample struct {
	ID      string
	Image   image.Image
	Objects []Object
}

// Dataset is a random-access collection of annotated images.
type Dataset interface {
	// Len is the number of images.
	Len() int
	// ClassNames lists the classes; index 0 is "BACKGROUND". The slice is a copy.
	ClassNames() []string
	// Sample returns image i decoded, with its training objects.
	Sample(i int) (Sample, error)
	// Annotation returns the id and objects of image i without decoding the image.
	Annotation(i int) (id string, objs []Object, err error)
}

// Env is what datasets need to know about the experiment that names them.
type Env struct {
	// BaseDir is the folder that relative paths in configs resolve against. Empty means
	// the working directory.
	BaseDir string
	// SkipBad drops the samples whose annotation or image file is bad, recording each as a
	// Problem, instead of failing (the experiment's on_bad_sample = "skip", and
	// `runner data check`, which wants every problem at once).
	SkipBad bool
	// Ctx, when set, cancels the reading of annotations and the checks of image files
	// (Ctrl-C during `plan` or `data check` of a large dataset); nil means never.
	Ctx context.Context
}

// ctx returns env.Ctx, or a context that is never cancelled.
func (env Env) ctx() context.Context {
	if env.Ctx == nil {
		return context.Background()
	}
	return env.Ctx
}

// Problem is a sample a dataset dropped because its annotation or image is bad.
type Problem struct {
	ID  string // the sample's id ("" when the problem is not one sample's)
	Err error  // names the file and the place
}

// ProblemReporter is implemented by datasets that can drop bad samples (Env.SkipBad).
type ProblemReporter interface {
	// Problems lists the samples dropped while the dataset was built, in dataset order.
	Problems() []Problem
}

// Factory builds a dataset from its decoded config.
type Factory func(cfg any, env Env) (Dataset, error)

// Registry holds the dataset kinds.
var Registry = registry.New[Factory]("dataset", "detection datasets")

// Build resolves ref against the Registry and builds the dataset.
func Build(ref registry.Ref, env Env) (Dataset, error) {
	e, cfg, err := Registry.Resolve(ref)
	if err != nil {
		return nil, err
	}
	ds, err := e.Factory(cfg, env)
	if err != nil {
		return nil, fmt.Errorf("dataset %q: %w", ref.Type, err)
	}
	return ds, nil
}

// resolve makes a config path absolute against env.BaseDir (unless it already is).
func (env Env) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || env.BaseDir == "" {
		return filepath.Clean(p)
	}
	return filepath.Join(env.BaseDir, p)
}

// checkIndex returns an error when i is not a valid sample index of a dataset of n images.
func checkIndex(i, n int) error {
	if i < 0 || i >= n {
		return fmt.Errorf("dataset: index %d out of range [0, %d)", i, n)
	}
	return nil
}

// cloneObjects returns a copy that the caller may modify.
func cloneObjects(objs []Object) []Object {
	if objs == nil {
		return nil
	}
	return append([]Object(nil), objs...)
}
