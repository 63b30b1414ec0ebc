package build

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	_ "github.com/ssdrunner/ssdrunner/components/all"
	"github.com/ssdrunner/ssdrunner/components/anchors"
	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/components/dataset/shapes"
	"github.com/ssdrunner/ssdrunner/components/loss"
	"github.com/ssdrunner/ssdrunner/runner/config"
)

// loadText writes an experiment file and loads it.
func loadText(t *testing.T, src string, sets ...string) *config.Result {
	t.Helper()
	path := filepath.Join(t.TempDir(), "exp.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	res, diags := config.Load(path, config.Options{Set: sets})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return res
}

// onShapes is an experiment inheriting a built-in base, trained and validated on a tiny
// synthetic set.
func onShapes(name string, data ...string) string {
	return "inherits = \"builtin:" + name + "\"\ndata {\n  train \"shapes\" {\n    count = 4\n  }\n  validation \"shapes\" {\n    count = 2\n  }\n  batch_size = 2\n" +
		strings.Join(data, "\n") + "}\n"
}

// TestBuildNamedModels builds every named model from its built-in base, as `runner plan`
// and `runner apply` do, and checks what a run depends on: the prior count, the
// backbone's feature maps against the anchors (Build checks them), the transforms' output
// size against the anchors' image size and their normalisation against the data block,
// and that Close frees the run.
func TestBuildNamedModels(t *testing.T) {
	if testing.Short() {
		t.Skip("builds eleven models")
	}
	for _, c := range []struct {
		name      string
		priors    int
		size      int
		mean, std []float64
	}{
		{"mb1-ssd", 3000, 300, []float64{127, 127, 127}, []float64{128}},
		{"mb1-ssd-lite", 3000, 300, []float64{127, 127, 127}, []float64{128}},
		{"mb2-ssd-lite", 3000, 300, []float64{127, 127, 127}, []float64{128}},
		{"mb3-large-ssd-lite", 3000, 300, []float64{127, 127, 127}, []float64{128}},
		{"mb3-small-ssd-lite", 3000, 300, []float64{127, 127, 127}, []float64{128}},
		{"sq-ssd-lite", 2568, 300, []float64{127, 127, 127}, []float64{128}},
		{"vgg16-ssd", 8732, 300, []float64{123, 117, 104}, []float64{1}},
		{"ssd-resnet50", 8732, 300, nil, nil},
		{"ssd7", 7160, 0, nil, nil},
		{"ssd512-vgg16", 24564, 512, []float64{123, 117, 104}, []float64{1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := loadText(t, onShapes(c.name))
			run, err := Build(res, Options{Log: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			defer run.Close()
			e := res.Experiment
			if n := anchors.NumPriors(run.Anchors.FeatureMaps()); n != c.priors {
				t.Errorf("%d priors, want %d", n, c.priors)
			}
			if c.size == 0 {
				c.size = run.ImageSize
			}
			if run.ImageSize != c.size {
				t.Errorf("image size %d, want %d", run.ImageSize, c.size)
			}
			if c.mean == nil {
				c.mean, c.std = e.Data.Mean, e.Data.Std
			}
			for _, info := range []TransformInfo{run.TrainInfo, run.ValInfo} {
				if info.Size != run.ImageSize {
					t.Errorf("%s: output size %d, the anchors' image size is %d", info.Name, info.Size, run.ImageSize)
				}
				if !slices.Equal(info.Mean, e.Data.Mean) || !slices.Equal(info.Std, e.Data.Std) ||
					!slices.Equal(info.Mean, c.mean) || !slices.Equal(info.Std, c.std) {
					t.Errorf("%s: normalisation (x - %v) / %v, data block (x - %v) / %v, want (x - %v) / %v",
						info.Name, info.Mean, info.Std, e.Data.Mean, e.Data.Std, c.mean, c.std)
				}
			}
			if run.Optimizer == nil || len(run.OptimizerGroups) == 0 || run.Matcher == nil || run.Priors == nil {
				t.Errorf("incomplete run: %+v", run)
			}
			if n := run.Matcher.NumPriors(); int(n) != c.priors {
				t.Errorf("matcher over %d priors", n)
			}
			run.Close()
			if run.Model != nil || run.Priors != nil || run.Optimizer != nil {
				t.Error("Close left objects behind")
			}
		})
	}
}

// TestTransformsFollowAnchorsAndData: a transform option that contradicts the anchors'
// image size or the data block's normalisation is refused at the option; unset ones are
// taken from them.
func TestTransformsFollowAnchorsAndData(t *testing.T) {
	res := loadText(t, onShapes("ssd512-vgg16", "transform \"ssd\" {\n    size = 300\n    mean = [127]\n  }\n"))
	_, err := Build(res, Options{Log: zerolog.Nop(), NoOptimizer: true})
	var paths []string
	for _, e := range flatten(err) {
		var be *Error
		if errors.As(e, &be) {
			paths = append(paths, be.Path)
		}
	}
	if !slices.Contains(paths, "data.transform[0].size") || !slices.Contains(paths, "data.transform[0].mean") {
		t.Fatalf("errors at %v: %v", paths, err)
	}
	if !strings.Contains(err.Error(), "size = 300 contradicts the anchors' image_size = 512") {
		t.Errorf("err = %v", err)
	}
	// the same values as the anchors and data block are accepted, and a chain of steps gets them too
	res = loadText(t, onShapes("ssd512-vgg16", "transform \"hflip\" {}\n  transform \"resize\" {\n    size = 512\n  }\n  transform \"normalize\" {}\n"))
	run, err := Build(res, Options{Log: zerolog.Nop(), NoOptimizer: true})
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	if run.TrainInfo.Size != 512 || !slices.Equal(run.TrainInfo.Mean, []float64{123, 117, 104}) || !slices.Equal(run.TrainInfo.Std, []float64{1}) {
		t.Errorf("chain: %+v", run.TrainInfo)
	}
	if run.TrainInfo.Name != "chain hflip -> resize -> normalize" {
		t.Errorf("chain name %q", run.TrainInfo.Name)
	}
}

// TestBuildErrorsNameTheirKey: each problem is an *Error naming the key it comes from,
// all reported together.
func TestBuildErrorsNameTheirKey(t *testing.T) {
	res := loadText(t, onShapes("mb1-ssd-lite"), "training.device=cuda", "model.num_classes=5", "training.resume=/nonexistent/last.pt")
	_, err := Build(res, Options{Log: zerolog.Nop()})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{"training.device: device \"cuda\": CUDA is not available", "model: the model has 5 classes but the training dataset has 9",
		"training.resume: nothing to resume from"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

// TestOnBadSampleSkip: with data.on_bad_sample = "skip" a dataset whose annotation file is
// broken builds without it, and the run lists the sample with its file; with "fail" the
// build stops at it, naming the file.
func TestOnBadSampleSkip(t *testing.T) {
	dir := t.TempDir()
	ds, err := shapes.New(func() shapes.Config { c := shapes.DefaultConfig(); c.Count = 6; return c }())
	if err != nil {
		t.Fatal(err)
	}
	if err := dataset.WriteVOC(ds, dir, "trainval"); err != nil {
		t.Fatal(err)
	}
	xmls, _ := filepath.Glob(filepath.Join(dir, "Annotations", "*.xml"))
	if len(xmls) != 6 {
		t.Fatalf("%d annotation files", len(xmls))
	}
	if err := os.WriteFile(xmls[2], []byte("<annotation><object><name>circle</name>"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"skip", "fail"} {
		res := loadText(t, "inherits = \"builtin:mb1-ssd-lite\"\ndata {\n  train \"voc\" {\n    roots = [\""+dir+
			"\"]\n    split = \"trainval\"\n  }\n  batch_size = 2\n  on_bad_sample = \""+mode+"\"\n}\n")
		run, err := Build(res, Options{Log: zerolog.Nop(), NoOptimizer: true})
		if mode == "fail" {
			if err == nil || !strings.Contains(err.Error(), filepath.Base(xmls[2])) {
				t.Errorf("fail: err = %v, want it to name %s", err, filepath.Base(xmls[2]))
			}
			continue
		}
		if err != nil {
			t.Fatalf("skip: %v", err)
		}
		if run.Train.Len() != 5 || len(run.Problems) != 1 || !strings.Contains(run.Problems[0].Err.Error(), filepath.Base(xmls[2])) {
			t.Errorf("skip: %d images, problems %v", run.Train.Len(), run.Problems)
		}
		run.Close()
	}
}

// TestLossBlock: the experiment's loss block reaches the run's loss, and without one the
// run gets the reference's MultiBox loss (hard negatives 3:1).
func TestLossBlock(t *testing.T) {
	for _, c := range []struct {
		sets     []string
		ratio    float64
		matchIoU float64
	}{
		{nil, 3, 0.5},
		{[]string{"loss.type=multibox", "loss.neg_pos_ratio=1.5"}, 1.5, 0.5},
		{[]string{"loss.type=multibox", "loss.match_iou=0.35"}, 3, 0.35},
	} {
		res := loadText(t, onShapes("mb1-ssd-lite"), c.sets...)
		run, err := Build(res, Options{Log: zerolog.Nop(), NoOptimizer: true})
		if err != nil {
			t.Fatal(err)
		}
		want, err := loss.NewMultibox(loss.MultiboxConfig{NegPosRatio: c.ratio, MatchIoU: c.matchIoU})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(run.Loss, loss.Loss(want)) {
			t.Errorf("sets %v: loss %+v, want %+v", c.sets, run.Loss, want)
		}
		// The matcher that makes the targets uses the loss's threshold.
		if got := run.Matcher.IoUThreshold(); got != c.matchIoU {
			t.Errorf("sets %v: matcher IoU threshold %g, want %g", c.sets, got, c.matchIoU)
		}
		run.Close()
	}
}
