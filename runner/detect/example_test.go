package detect_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/ssdrunner/ssdrunner/runner/detect"
)

// A detector from a weights file and the experiment that describes its model (a
// checkpoint of `runner apply` needs neither Experiment nor Labels: it records both).
func Example() {
	dir := mkTemp()
	defer os.RemoveAll(dir)
	weights, err := writeWeights("testdata/tiny.hcl", dir) // a model's weights, as training leaves them
	if err != nil {
		log.Fatal(err)
	}
	images, err := testImages(3) // any image.Image: decoded JPEGs, PNGs, video frames
	if err != nil {
		log.Fatal(err)
	}

	d, err := detect.Load(weights, detect.Options{
		Experiment: "testdata/tiny.hcl",
		Set:        []string{"evaluation.nms.score_threshold=0.5", "evaluation.nms.top_k=5"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()

	out, err := d.Detect(context.Background(), images...)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Classes(), d.ImageSize(), len(out))
	for _, det := range out[0] {
		_ = det.Box // xmin, ymin, xmax, ymax in the image's pixels, det.Class, det.Score
	}
	// Output: [BACKGROUND circle square] 300 3
}
