package build

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"strings"

	"github.com/ssdrunner/ssdrunner/components/transform"
	"github.com/ssdrunner/ssdrunner/registry"
	"github.com/ssdrunner/ssdrunner/runner/config"
)

// TransformInfo describes a built transform: what the model will see.
type TransformInfo struct {
	// Name is the preset's name, or the chain of steps ("chain photometric_distort -> …").
	Name string `json:"name"`
	// Size is the output width and height, or 0 when nothing resizes.
	Size int `json:"size"`
	// Mean and Std are the normalisation applied (nil when nothing normalises).
	Mean []float64 `json:"mean,omitempty"`
	Std  []float64 `json:"std,omitempty"`
}

// The options that one source of truth fixes for every transform that has them: the
// output size (the anchors' image_size), and the normalisation and canvas fill (the data
// block's mean and std).
const (
	optSize = "size"
	optMean = "mean"
	optStd  = "std"
)

// trainTransform builds the training augmentation: the data block's transform chain when
// it has one, else its augmentation preset.
func trainTransform(e *config.Experiment, size int) (transform.Transform, TransformInfo, error) {
	if len(e.Data.Transforms) == 0 {
		ref := registry.Ref{Type: e.Data.Augmentation}
		return buildTransforms(e, size, []registry.Ref{ref}, []string{"data.augmentation"}, ref.Type)
	}
	paths := make([]string, len(e.Data.Transforms))
	names := make([]string, len(e.Data.Transforms))
	for i, ref := range e.Data.Transforms {
		paths[i] = fmt.Sprintf("data.transform[%d]", i)
		names[i] = ref.Type
	}
	return buildTransforms(e, size, e.Data.Transforms, paths, "chain "+strings.Join(names, " -> "))
}

// testTransform builds the validation transform: the reference's TestTransform (resize
// and normalise) at the anchors' size with the data block's mean and std.
func testTransform(e *config.Experiment, size int) (transform.Transform, TransformInfo, error) {
	return buildTransforms(e, size, []registry.Ref{{Type: "test"}}, []string{"data.validation"}, "test")
}

// buildTransforms sets the size, mean and std options of every transform in refs that has
// them to the single values the experiment fixes (the anchors' image size, data.mean,
// data.std), refusing an option written with another value, and builds them in order.
func buildTransforms(e *config.Experiment, size int, refs []registry.Ref, paths []string, name string) (transform.Transform, TransformInfo, error) {
	info := TransformInfo{Name: name}
	fixed := map[string]any{optSize: size, optMean: e.Data.Mean, optStd: e.Data.Std}
	var errs []error
	built := make([]registry.Ref, len(refs))
	for i, ref := range refs {
		spec, err := transform.Registry.Lookup(ref.Type)
		if err != nil {
			errs = append(errs, &Error{Path: paths[i], Err: err})
			continue
		}
		var fields []registry.Field
		if spec.Config != nil {
			if fields, err = registry.Describe(spec.Config()); err != nil {
				errs = append(errs, &Error{Path: paths[i], Err: err})
				continue
			}
		}
		opts := maps.Clone(ref.Options)
		if opts == nil {
			opts = map[string]any{}
		}
		for _, f := range fields {
			want, ok := fixed[f.Name]
			if !ok {
				continue
			}
			if got, set := opts[f.Name]; set && !sameOption(got, want) {
				errs = append(errs, &Error{Path: paths[i] + "." + f.Name, Err: fmt.Errorf("%s = %v contradicts %s = %v: %s",
					f.Name, got, sourceOf(f.Name), want, whyFixed(f.Name))})
				continue
			}
			opts[f.Name] = want
			switch f.Name {
			case optSize:
				info.Size = size
			case optStd:
				info.Mean, info.Std = e.Data.Mean, e.Data.Std
			}
		}
		built[i] = registry.Ref{Type: ref.Type, Options: opts}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, info, err
	}
	var (
		t   transform.Transform
		err error
	)
	if len(built) == 1 && len(e.Data.Transforms) == 0 {
		t, err = transform.Build(built[0])
	} else {
		t, err = transform.BuildChain(built)
	}
	if err != nil {
		return nil, info, &Error{Path: paths[0], Err: err}
	}
	return t, info, nil
}

func sourceOf(opt string) string {
	if opt == optSize {
		return "the anchors' image_size"
	}
	return "data." + opt
}

func whyFixed(opt string) string {
	if opt == optSize {
		return "the priors are laid out for that input size; remove the option (it is set from the anchors) or change the anchors"
	}
	return "the data block's normalisation applies to training and validation alike; remove the option (it is set from the data block) or change data." + opt
}

// sameOption compares an option as written (a number or a list, of any numeric Go type)
// with the fixed value; a 1-value mean or std equals the same value repeated per channel.
func sameOption(got, want any) bool {
	g, okG := floats(got)
	w, okW := floats(want)
	if !okG || !okW {
		return false
	}
	if len(g) == 1 && len(w) == 3 {
		g = []float64{g[0], g[0], g[0]}
	}
	if len(w) == 1 && len(g) == 3 {
		w = []float64{w[0], w[0], w[0]}
	}
	if len(g) != len(w) {
		return false
	}
	for i := range g {
		if g[i] != w[i] && !(math.IsNaN(g[i]) && math.IsNaN(w[i])) {
			return false
		}
	}
	return true
}

func floats(v any) ([]float64, bool) {
	switch x := v.(type) {
	case int:
		return []float64{float64(x)}, true
	case int64:
		return []float64{float64(x)}, true
	case float64:
		return []float64{x}, true
	case []float64:
		return x, true
	case []int:
		out := make([]float64, len(x))
		for i, n := range x {
			out[i] = float64(n)
		}
		return out, true
	case []any:
		out := make([]float64, 0, len(x))
		for _, e := range x {
			f, ok := floats(e)
			if !ok || len(f) != 1 {
				return nil, false
			}
			out = append(out, f[0])
		}
		return out, true
	}
	return nil, false
}
