package detect_test

import (
	"image"
	"os"
	"path/filepath"
	"runtime"

	"github.com/rs/zerolog"

	"github.com/ssdrunner/ssdrunner/components/dataset/shapes"
	"github.com/ssdrunner/ssdrunner/runner/build"
	"github.com/ssdrunner/ssdrunner/runner/config"
)

// writeWeights saves the freshly initialised weights (seeded) of experiment's model as a
// weights file without meta record, as a reference .pth would be used, into dir.
func writeWeights(experiment, dir string) (string, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	res, diags := config.Load(experiment, config.Options{NoTrainData: true})
	if diags.HasErrors() {
		return "", diags
	}
	run, err := build.Build(res, build.Options{Log: zerolog.Nop(), NoData: true, NoOptimizer: true})
	if err != nil {
		return "", err
	}
	defer run.Close()
	path := filepath.Join(dir, "weights.pt")
	return path, run.Model.VarStore().Save(path)
}

// testImages returns n synthetic shapes images.
func testImages(n int) ([]image.Image, error) {
	c := shapes.DefaultConfig()
	c.Count, c.Seed = n, 11
	ds, err := shapes.New(c)
	if err != nil {
		return nil, err
	}
	out := make([]image.Image, n)
	for i := range out {
		s, err := ds.Sample(i)
		if err != nil {
			return nil, err
		}
		out[i] = s.Image
	}
	return out, nil
}

func mkTemp() string {
	d, err := os.MkdirTemp("", "detect-example-")
	if err != nil {
		panic(err)
	}
	return d
}
