package predict

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/runner/build"
	"github.com/ssdrunner/ssdrunner/runner/config"
	"github.com/ssdrunner/ssdrunner/runner/detect"
)

const tinyExperiment = "../detect/testdata/tiny.hcl"

// tinyDetector loads the small test model of runner/detect with seeded initial weights.
func tinyDetector(t *testing.T) *detect.Detector {
	t.Helper()
	weights := filepath.Join(t.TempDir(), "weights.pt")
	func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		res, diags := config.Load(tinyExperiment, config.Options{NoTrainData: true})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		run, err := build.Build(res, build.Options{Log: zerolog.Nop(), NoData: true, NoOptimizer: true})
		if err != nil {
			t.Fatal(err)
		}
		defer run.Close()
		if err := run.Model.VarStore().Save(weights); err != nil {
			t.Fatal(err)
		}
	}()
	d, err := detect.Load(weights, detect.Options{Experiment: tinyExperiment, BatchSize: 4,
		Set: []string{"evaluation.nms.score_threshold=0.3"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

func writeImage(t *testing.T, path string, w, h int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 7), uint8(y * 5), uint8(x ^ y), 255})
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := jpeg.Encode(f, img, nil); err != nil {
		t.Fatal(err)
	}
}

// writeImages writes n test JPEGs im0.jpg … into dir, image i of size(i), and returns
// their paths.
func writeImages(t *testing.T, dir string, n int, size func(i int) (w, h int)) []string {
	t.Helper()
	var files []string
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("im%d.jpg", i))
		w, h := size(i)
		writeImage(t, p, w, h)
		files = append(files, p)
	}
	return files
}

func TestExpand(t *testing.T) {
	dir := t.TempDir()
	writeImage(t, filepath.Join(dir, "a", "x.jpg"), 8, 8)
	writeImage(t, filepath.Join(dir, "a", "sub", "y.JPG"), 8, 8)
	os.WriteFile(filepath.Join(dir, "a", "notes.txt"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "a", "sub", "v.mp4"), []byte("x"), 0o644)
	writeImage(t, filepath.Join(dir, "b", "x.jpg"), 8, 8)
	got, err := Expand([]string{filepath.Join(dir, "a"), filepath.Join(dir, "b", "x.jpg"), filepath.Join(dir, "a", "x.jpg")})
	if err != nil {
		t.Fatal(err)
	}
	var rels []string
	for _, in := range got {
		rels = append(rels, in.Rel)
		if in.Video != strings.HasSuffix(in.Path, ".mp4") {
			t.Errorf("%s: video %v", in.Path, in.Video)
		}
	}
	want := "a/sub/v.mp4 a/sub/y.JPG a/x.jpg x.jpg x-2.jpg"
	if strings.Join(rels, " ") != want {
		t.Errorf("outputs %q, want %q", strings.Join(rels, " "), want)
	}
	if _, err := Expand([]string{filepath.Join(dir, "missing.jpg")}); err == nil || !strings.Contains(err.Error(), "missing.jpg") {
		t.Errorf("missing input: %v", err)
	}
}

// Without ffmpeg a video is reported and skipped with the install hint; the images are
// processed all the same.
func TestVideoWithoutFFmpeg(t *testing.T) {
	d := tinyDetector(t)
	dir := t.TempDir()
	writeImage(t, filepath.Join(dir, "in", "a.jpg"), 64, 48)
	os.WriteFile(filepath.Join(dir, "in", "clip.mp4"), []byte("not a video"), 0o644)
	t.Setenv("PATH", t.TempDir())
	sum, err := Run(context.Background(), d, []string{filepath.Join(dir, "in")}, Options{Out: filepath.Join(dir, "out"), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Images) != 1 || len(sum.Failures) != 1 || !strings.Contains(sum.Failures[0].Error, "apt-get install ffmpeg") {
		t.Errorf("%d images, failures %+v", len(sum.Images), sum.Failures)
	}
}

func TestVideo(t *testing.T) {
	if err := FFmpeg(); err != nil {
		t.Skipf("video test skipped: %v", err)
	}
	d := tinyDetector(t)
	dir := t.TempDir()
	video := filepath.Join(dir, "clip.mp4")
	// 6 frames of 97x61 (odd sides: the encoder pads them)
	cmd := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=97x61:rate=6:duration=1",
		"-pix_fmt", "yuv444p", "-c:v", "libx264", video)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("making the test video: %v %s", err, out)
	}
	out := filepath.Join(dir, "out")
	sum, err := Run(context.Background(), d, []string{video}, Options{Out: out, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Images) != 6 || len(sum.Failures) != 0 {
		t.Fatalf("%d frames, failures %+v", len(sum.Images), sum.Failures)
	}
	for i, im := range sum.Images {
		if im.Frame == nil || *im.Frame != i || im.Width != 97 || im.Height != 61 {
			t.Errorf("frame %d: %+v", i, im)
		}
	}
	probe, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames,width,height", "-of", "csv=p=0", filepath.Join(out, "clip.mp4")).Output()
	if err != nil || strings.TrimSpace(string(probe)) != "98,62,6" {
		t.Errorf("annotated video: %q %v, want 98x62 (padded to even sides), 6 frames", probe, err)
	}
}

// The pipelined Run records the images in input order (with batch 1, each with the
// detections of a Detect call of it alone), and a corrupt file among them as a failure.
func TestRunOrderAndBadImage(t *testing.T) {
	d := tinyDetector(t)
	dir := t.TempDir()
	files := writeImages(t, filepath.Join(dir, "in"), 7, func(i int) (int, int) { return 40 + 9*i, 30 + 5*i })
	bad := filepath.Join(dir, "in", "im3b.jpg")
	os.WriteFile(bad, []byte("\xff\xd8 not really a JPEG"), 0o644)
	inputs := append(append(append([]string(nil), files[:4]...), bad), files[4:]...)
	for _, batch := range []int{1, 3} {
		t.Run(fmt.Sprintf("batch %d", batch), func(t *testing.T) {
			sum, err := Run(context.Background(), d, inputs, Options{Out: filepath.Join(dir, fmt.Sprint("out", batch)), BatchSize: batch, Log: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			if len(sum.Failures) != 1 || sum.Failures[0].Path != bad {
				t.Errorf("failures %+v, want %s", sum.Failures, bad)
			}
			if len(sum.Images) != len(files) {
				t.Fatalf("%d images, want %d", len(sum.Images), len(files))
			}
			for i, im := range sum.Images {
				if im.Path != files[i] {
					t.Fatalf("image %d is %s, want %s (input order)", i, im.Path, files[i])
				}
				if im.Width != 40+9*i {
					t.Errorf("%s: width %d, want %d", im.Path, im.Width, 40+9*i)
				}
				if batch == 1 { // the same computation as a Detect call of that image alone
					if want := detectAlone(t, d, files[i]); !reflect.DeepEqual(im.Detections, want) {
						t.Errorf("%s: %d detections, want %d", im.Path, len(im.Detections), len(want))
					}
				}
				if _, err := os.Stat(im.Output); err != nil {
					t.Errorf("annotated copy: %v", err)
				}
			}
		})
	}
}

// A cancellation stops Run after the batches already under way, with ctx's error, the
// images done so far recorded in order and the detection files written.
func TestRunCancelled(t *testing.T) {
	d := tinyDetector(t)
	dir := t.TempDir()
	var files []string
	for i := range 12 {
		p := filepath.Join(dir, "in", fmt.Sprintf("im%02d.jpg", i))
		writeImage(t, p, 32, 32)
		files = append(files, p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := filepath.Join(dir, "out")
	sum, err := Run(ctx, d, []string{filepath.Join(dir, "in")}, Options{Out: out, BatchSize: 1, NoImages: true, Log: zerolog.Nop(),
		Progress: func(done int) {
			if done == 2 {
				cancel()
			}
		}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	// the batches in flight when it was cancelled may finish or not: at most inFlight more
	if n := len(sum.Images); n < 2 || n > 2+inFlight {
		t.Errorf("%d images done, want 2 to %d", n, 2+inFlight)
	}
	for i, im := range sum.Images {
		if im.Path != files[i] {
			t.Errorf("image %d is %s, want %s", i, im.Path, files[i])
		}
	}
	if _, err := os.Stat(filepath.Join(out, "detections.json")); err != nil {
		t.Errorf("detections.json: %v", err)
	}
}

// Images decoded into the pixels of images recorded before them (each smaller than the
// last, so every one fits a recycled buffer) give what a Detect call of the image alone
// gives.
func TestRunReusesPixels(t *testing.T) {
	d := tinyDetector(t)
	dir := t.TempDir()
	files := writeImages(t, filepath.Join(dir, "in"), 9, func(i int) (int, int) { return 96 - 7*i, 80 - 5*i })
	for _, batch := range []int{1, 2} {
		sum, err := Run(context.Background(), d, files, Options{Out: filepath.Join(dir, fmt.Sprint("out", batch)), BatchSize: batch, NoImages: true, Log: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		if len(sum.Images) != len(files) {
			t.Fatalf("batch %d: %d images, want %d", batch, len(sum.Images), len(files))
		}
		if batch > 1 {
			continue // batching itself may move float32 results
		}
		for i, im := range sum.Images {
			if want := detectAlone(t, d, files[i]); !reflect.DeepEqual(im.Detections, want) {
				t.Errorf("%s: %d detections, want %d", im.Path, len(im.Detections), len(want))
			}
		}
	}
}

// detectAlone returns the detections of a Detect call of the image file alone.
func detectAlone(t *testing.T, d *detect.Detector, path string) []detect.Detection {
	t.Helper()
	img, err := dataset.DecodeImage(path, true)
	if err != nil {
		t.Fatal(err)
	}
	out, err := d.Detect(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	return out[0]
}
