package detect_test

import (
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/ssdrunner/ssdrunner/runner/detect"
)

func loadTiny(t *testing.T, opts detect.Options) (*detect.Detector, string) {
	t.Helper()
	weights, err := writeWeights("testdata/tiny.hcl", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if opts.Experiment == "" {
		opts.Experiment = "testdata/tiny.hcl"
	}
	d, err := detect.Load(weights, opts)
	if err != nil {
		t.Fatal(err)
	}
	return d, weights
}

// Detect from several goroutines gives each caller what one caller alone gets.
func TestDetectConcurrent(t *testing.T) {
	d, _ := loadTiny(t, detect.Options{Set: []string{"evaluation.nms.score_threshold=0.2"}})
	defer d.Close()
	imgs, err := testImages(4)
	if err != nil {
		t.Fatal(err)
	}
	want := make([][]detect.Detection, len(imgs))
	for i, img := range imgs {
		out, err := d.Detect(context.Background(), img)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = out[0]
	}
	var wg sync.WaitGroup
	errs := make([]error, len(imgs)*3)
	for k := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			i := k % len(imgs)
			out, err := d.Detect(context.Background(), imgs[i])
			if err == nil && !reflect.DeepEqual(out[0], want[i]) {
				err = errors.New("detections differ from the sequential call's")
			}
			errs[k] = err
		}()
	}
	wg.Wait()
	for k, err := range errs {
		if err != nil {
			t.Errorf("call %d: %v", k, err)
		}
	}
	total := 0
	for _, w := range want {
		total += len(w)
		for _, det := range w {
			if det.Label < 1 || det.Label > 2 || det.Class != d.Classes()[det.Label] || !(det.Score > 0.2) {
				t.Errorf("bad detection %+v", det)
			}
		}
	}
	t.Logf("%d detections over %d images", total, len(imgs))
}

func TestDetectBadInput(t *testing.T) {
	d, _ := loadTiny(t, detect.Options{})
	if _, err := d.Detect(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "image 0 is nil") {
		t.Errorf("nil image: %v", err)
	}
	empty := image.NewRGBA(image.Rect(0, 0, 0, 5))
	if _, err := d.Detect(context.Background(), empty); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty image: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	imgs, _ := testImages(1)
	if _, err := d.Detect(ctx, imgs...); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	d.Close()
	d.Close()
	if _, err := d.Detect(context.Background(), imgs...); !errors.Is(err, detect.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	weights, err := writeWeights("testdata/tiny.hcl", dir)
	if err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.pth")
	os.WriteFile(garbage, []byte("not a checkpoint at all"), 0o644)
	for _, c := range []struct {
		name, ckpt string
		opts       detect.Options
		want       string
	}{
		{"missing checkpoint", filepath.Join(dir, "nope.pt"), detect.Options{Experiment: "testdata/tiny.hcl"}, "nope.pt"},
		{"no model", weights, detect.Options{}, "give an experiment file or run folder, or --model NAME with --labels FILE"},
		{"model without labels", weights, detect.Options{Model: "mb1-ssd-lite"}, "--labels"},
		{"class-count mismatch", weights, detect.Options{Experiment: "testdata/tiny.hcl", Labels: "testdata/labels4.txt"}, "do not have the model's 5 classes"},
		{"another model", weights, detect.Options{Model: "mb1-ssd-lite", Labels: "testdata/labels.txt"}, "does not fit the model"},
		{"corrupt file", garbage, detect.Options{Experiment: "testdata/tiny.hcl"}, "garbage.pth"},
		{"bad override", weights, detect.Options{Experiment: "testdata/tiny.hcl", Set: []string{"evaluation.nms.method=medium"}}, "method"},
		{"unknown model", weights, detect.Options{Model: "mb9", Labels: "testdata/labels.txt"}, "mb9"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := detect.Load(c.ckpt, c.opts)
			if err == nil {
				d.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
		})
	}
}

// One call of several batches (pipelined) gives, in order, what a call per batch gives
// (the same batches: batching itself may move float32 results), both when the forward
// pass takes every core (the worker post-processes each batch itself, ending its OpenMP
// team after each forward pass) and when it leaves cores free (a second stage
// post-processes beside the next forward pass). The prepared images' buffers are reused
// between batches: a value left from another image would show as a difference.
func TestDetectBatchesInOneCall(t *testing.T) {
	for _, threads := range []int{1, runtime.NumCPU()} {
		t.Run(fmt.Sprintf("threads=%d", threads), func(t *testing.T) {
			d, _ := loadTiny(t, detect.Options{BatchSize: 2, Threads: threads, Set: []string{"evaluation.nms.score_threshold=0.2"}})
			defer d.Close()
			imgs, err := testImages(5)
			if err != nil {
				t.Fatal(err)
			}
			all, timing, err := d.DetectTimed(context.Background(), imgs...)
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != len(imgs) || timing.Images != len(imgs) || timing.Forward <= 0 {
				t.Fatalf("%d results, timing %+v for %d images", len(all), timing, len(imgs))
			}
			for lo := 0; lo < len(imgs); lo += 2 {
				hi := min(lo+2, len(imgs))
				part, err := d.Detect(context.Background(), imgs[lo:hi]...)
				if err != nil {
					t.Fatal(err)
				}
				for i := lo; i < hi; i++ {
					if !reflect.DeepEqual(all[i], part[i-lo]) {
						t.Errorf("image %d: %d detections in one call, %d in a call of its batch", i, len(all[i]), len(part[i-lo]))
					}
				}
			}
		})
	}
}
