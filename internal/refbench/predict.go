package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/components/dataset/shapes"
	"github.com/ssdrunner/ssdrunner/registry"
	"github.com/ssdrunner/ssdrunner/runner/build"
	"github.com/ssdrunner/ssdrunner/runner/config"
	"github.com/ssdrunner/ssdrunner/runner/detect"
	"github.com/ssdrunner/ssdrunner/runner/eval"
	"github.com/ssdrunner/ssdrunner/runner/predict"
	"github.com/ssdrunner/ssdrunner/runner/train"
)

// The prediction and evaluation cases run a trained mb2-ssd-lite (random weights give
// near-uniform scores, which make every prior a candidate of every class and NMS
// unrealistically heavy). The checkpoint comes from $REFBENCH_CHECKPOINT (a checkpoint of
// `runner apply` of an mb2-ssd-lite on the shapes classes), else from a training that the
// first run does and later runs reuse (trainedRecipe, in the temporary folder; 27 minutes
// on the quiet 2-core machine). The recipe's first version (6 epochs of 256 images, a
// classification loss of 4.5 at the end) left nearly every prior above 0.01 in every
// class: 200 candidates per class and about 530 detections per image, an NMS load no
// usable detector has. This one trains until the background class dominates.
const trainedRecipe = `# refbench: mb2-ssd-lite trained on the synthetic shapes, 768 steps (24 epochs of 512
# images; channels-last, which trains the same model faster): the classification loss
# goes from 6.8 (first epoch) to 1.64 (last), and the model leaves 7-480 candidates per
# class and about 310 detections per image above eval_ssd.py's 0.01 (a fully trained
# detector leaves fewer)
inherits = "builtin:mb2-ssd-lite"

data {
  train "shapes" {
    count = 512
    seed  = 1
  }
  transform "hflip" {}
  transform "resize" {}
  transform "normalize" {}
  batch_size = 16
}

optimizer "adamw" {
  lr           = 0.003
  weight_decay = 5e-4
}

scheduler "cosine" {
  t_max    = 24
  per_step = true
  warmup {
    epochs = 0.5
  }
}

training {
  epochs        = 24
  seed          = 0
  log_every     = 4
  channels_last = true
}
`

const (
	predictImages = 20  // images of the predict cases (VOC-sized 500x375 JPEGs)
	shareImages   = 100 // images of the share cases: passes long enough to average the VM's speed over
	evalImages    = 200 // the validation set of the eval case
)

func predictCases() []benchCase {
	var out []benchCase
	out = append(out, benchCase{
		name:   "predict mb2-ssd-lite ms/image end to end (read, decode, preprocess, forward, decode, NMS), batch 1",
		ref:    "predict",
		refArg: func() (string, error) { return refArg("predict") },
		reps:   3,
		target: "≤ 0.33 (≥ 3× faster)",
		ours:   msOnly(func(reps int) ([]float64, error) { return timePredict(reps, 1, predictImages, nil) }),
	})
	for _, sc := range []struct {
		what string
		pick func(shares) []float64
	}{
		{"outside the forward pass, in the same pass", func(sh shares) []float64 { return sh.inPass }},
		{"beyond the forward pass alone, timed apart", func(sh shares) []float64 { return sh.alone }},
	} {
		out = append(out, benchCase{
			name:   fmt.Sprintf("predict batch 1, %d images: %% of end to end %s (ours; 'ms' column is %%)", shareImages, sc.what),
			reps:   5,
			target: "≤ 15 %",
			ours: msOnly(func(reps int) ([]float64, error) {
				var sh shares
				_, err := timePredict(reps, 1, shareImages, &sh)
				return sc.pick(sh), err
			}),
		})
	}
	out = append(out, benchCase{
		name:   "predict mb2-ssd-lite ms/image, batches of 8 (throughput; the reference has no batching)",
		reps:   3,
		target: "-",
		ours:   msOnly(func(reps int) ([]float64, error) { return timePredict(reps, 8, predictImages, nil) }),
	})
	out = append(out, benchCase{
		name:   fmt.Sprintf("eval mb2-ssd-lite, %d images (ms: whole evaluation; runner eval vs eval_ssd.py)", evalImages),
		ref:    "eval",
		refArg: func() (string, error) { return refArg("eval") },
		reps:   1,
		target: "≤ 0.5 (≥ 2× faster)",
		ours:   msOnly(timeEval),
	})
	return out
}

// benchData prepares (once) the trained checkpoint, its labels file, the predict images
// and the eval VOC folder, and returns the reference's case argument for kind.
type benchData struct {
	checkpoint, labels string
	images             []string // JPEG files
	voc                string   // VOC folder with a test split
}

var (
	dataOnce sync.Once
	data     benchData
	dataErr  error
)

func prepare() (benchData, error) {
	dataOnce.Do(func() { data, dataErr = prepareData() })
	return data, dataErr
}

func prepareData() (benchData, error) {
	root := filepath.Join(os.TempDir(), "ssdrunner-refbench-predict")
	d := benchData{voc: filepath.Join(root, "voc-eval")}
	// the eval set (its images serve the predict cases too)
	if _, err := os.Stat(filepath.Join(d.voc, "ImageSets", "Main", "test.txt")); err != nil {
		c := shapes.DefaultConfig()
		c.Count, c.Seed, c.ImageWidth, c.ImageHeight = evalImages, 2, 500, 375
		src, err := shapes.New(c)
		if err != nil {
			return d, err
		}
		if err := dataset.WriteVOC(src, d.voc, "test"); err != nil {
			return d, err
		}
	}
	files, err := filepath.Glob(filepath.Join(d.voc, "JPEGImages", "*.jpg"))
	if err != nil || len(files) < max(predictImages, shareImages) {
		return d, fmt.Errorf("predict images in %s: %d found (%v)", d.voc, len(files), err)
	}
	d.images = files
	if p := os.Getenv("REFBENCH_CHECKPOINT"); p != "" {
		d.checkpoint = p
	} else if d.checkpoint, err = trainedCheckpoint(root); err != nil {
		return d, err
	}
	meta, err := train.ReadCheckpointMeta(d.checkpoint)
	if err != nil {
		return d, err
	}
	d.labels = filepath.Join(root, "labels.txt")
	if err := os.WriteFile(d.labels, []byte(strings.Join(meta.Classes, "\n")+"\n"), 0o644); err != nil {
		return d, err
	}
	return d, nil
}

// trainedCheckpoint returns the checkpoint of trainedRecipe, training it first when the
// temporary folder has none.
func trainedCheckpoint(root string) (string, error) {
	// one folder per recipe: a changed recipe trains afresh
	h := sha256.Sum256([]byte(trainedRecipe))
	dir := filepath.Join(root, "train-"+hex.EncodeToString(h[:4]))
	ckpt := filepath.Join(dir, "runs", "refbench-mb2", "trained", "checkpoints", "last.pt")
	if _, err := train.ReadCheckpointMeta(ckpt); err == nil {
		return ckpt, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	exp := filepath.Join(dir, "refbench-mb2.hcl")
	if err := os.WriteFile(exp, []byte(trainedRecipe), 0o644); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "refbench: training the mb2-ssd-lite of the predict and eval cases once (%s; set REFBENCH_CHECKPOINT to use another)…\n", exp)
	res, diags := config.Load(exp, config.Options{Set: []string{"output.dir=" + filepath.Join(dir, "runs")}})
	if diags.HasErrors() {
		return "", diags
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	run, err := build.Build(res, build.Options{Log: zerolog.Nop()})
	if err != nil {
		return "", err
	}
	defer run.Close()
	old := filepath.Join(dir, "runs", "refbench-mb2", "trained")
	os.RemoveAll(old) // an earlier, unfinished attempt
	sum, err := train.Apply(context.Background(), res, run, train.Options{Log: zerolog.Nop(), RunName: "trained"})
	if err != nil {
		return "", fmt.Errorf("training the bench model: %w", err)
	}
	fmt.Fprintf(os.Stderr, "refbench: trained in %.0f s\n", sum.WallSeconds)
	return ckpt, nil
}

// shares are the share cases' samples, one per repetition, in percent of the end-to-end
// time: inPass is what the pass spent outside its own forward passes (timed inside the
// pipeline, where nothing runs beside a forward pass when it takes every core: see
// detect's gate), alone what it spent beyond the mean of two passes of the forward pass
// alone over the same images (just before and just after it). The first follows the VM's
// speed within the pass; the second compares passes a second or more apart, between which
// this VM's speed has moved by up to a third.
type shares struct{ inPass, alone []float64 }

// timePredict loads the checkpoint and, per repetition, runs what `runner predict
// --no-images` does over the first n predict images (predict.Run: read, decode and
// detect, batch images per forward pass, pipelined, and the detection files written); it
// returns ms per image. With sh set, it also records each repetition's shares (and times
// the forward pass alone, the images decoded beforehand and detected one batch at a time,
// nothing else running beside them, before the first repetition and after each one).
func timePredict(reps, batch, n int, sh *shares) ([]float64, error) {
	d, err := prepare()
	if err != nil {
		return nil, err
	}
	images := d.images[:n]
	det, err := detect.Load(d.checkpoint, detect.Options{BatchSize: batch, Threads: benchThreads, Log: zerolog.Nop()})
	if err != nil {
		return nil, err
	}
	defer det.Close()
	out, err := os.MkdirTemp("", "refbench-predict-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(out)
	var inPassFwd time.Duration // the forward passes of the last end-to-end pass
	endToEnd := func() (time.Duration, error) {
		t := time.Now()
		sum, err := predict.Run(context.Background(), det, images, predict.Options{Out: out, NoImages: true, BatchSize: batch, Log: zerolog.Nop()})
		if err == nil && len(sum.Failures) > 0 {
			err = fmt.Errorf("%s: %s", sum.Failures[0].Path, sum.Failures[0].Error)
		}
		if sum != nil {
			inPassFwd = sum.Timing.Forward
		}
		return time.Since(t), err
	}
	var imgs []image.Image
	if sh != nil {
		for _, f := range images {
			img, err := dataset.DecodeImage(f, true)
			if err != nil {
				return nil, err
			}
			imgs = append(imgs, img)
		}
	}
	forwardAlone := func() (time.Duration, error) {
		var fwd time.Duration
		for lo := 0; lo < len(imgs); lo += batch {
			_, t, err := det.DetectTimed(context.Background(), imgs[lo:min(lo+batch, len(imgs))]...)
			if err != nil {
				return 0, err
			}
			fwd += t.Forward
		}
		return fwd, nil
	}
	if _, err := endToEnd(); err != nil { // warm-up
		return nil, err
	}
	var ms []float64
	var before time.Duration // the forward-alone pass just before this repetition's end to end
	if sh != nil {
		if before, err = forwardAlone(); err != nil {
			return nil, err
		}
	}
	for range reps {
		total, err := endToEnd()
		if err != nil {
			return nil, err
		}
		ms = append(ms, float64(total.Microseconds())/1000/float64(len(images)))
		if sh != nil {
			after, err := forwardAlone()
			if err != nil {
				return nil, err
			}
			fwd := (before + after) / 2
			sh.alone = append(sh.alone, 100*(1-fwd.Seconds()/total.Seconds()))
			sh.inPass = append(sh.inPass, 100*(1-inPassFwd.Seconds()/total.Seconds()))
			before = after
		}
	}
	return ms, nil
}

// timeEval times what `runner eval` does after its start: the model built and loaded,
// the evaluation of every image, and the result files written.
func timeEval(reps int) ([]float64, error) {
	d, err := prepare()
	if err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	out, err := os.MkdirTemp("", "refbench-eval-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(out)
	var ms []float64
	for range reps {
		t := time.Now()
		run, _, err := detect.BuildRun(d.checkpoint, detect.Options{Threads: benchThreads, Log: zerolog.Nop()})
		if err != nil {
			return nil, err
		}
		ds, err := dataset.Build(registry.Ref{Type: "voc", Options: map[string]any{"roots": []any{d.voc}, "split": "test"}}, dataset.Env{})
		if err == nil {
			var res *eval.Result
			if res, err = eval.Evaluate(context.Background(), run, ds, eval.Options{Log: zerolog.Nop()}); err == nil {
				err = eval.Write(out, res, run.Classes, eval.NewReport(res, run.Classes, "bench", d.checkpoint, d.voc))
			}
		}
		run.Close()
		if err != nil {
			return nil, err
		}
		ms = append(ms, float64(time.Since(t).Microseconds())/1000)
	}
	return ms, nil
}

// refArg is the reference.py case argument of the predict and eval cases.
func refArg(kind string) (string, error) {
	d, err := prepare()
	if err != nil {
		return "", err
	}
	switch kind {
	case "predict":
		list := filepath.Join(filepath.Dir(d.labels), "images.txt")
		if err := os.WriteFile(list, []byte(strings.Join(d.images[:predictImages], "\n")+"\n"), 0o644); err != nil {
			return "", err
		}
		return fmt.Sprintf("predict:%s:%s:%s", d.checkpoint, d.labels, list), nil
	case "eval":
		out := filepath.Join(filepath.Dir(d.labels), "reference-eval")
		return fmt.Sprintf("eval:%s:%s:%s:%s", d.checkpoint, d.labels, d.voc, out), nil
	}
	return "", errors.New("unknown case " + kind)
}
