package reports

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"math/rand"
	"sort"
	"testing"
)

var vocClasses = []string{
	"aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
	"diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
}

// synthClass simulates the detections of one class with a detector of the given quality and
// returns its PR curve (recall ascending) and its all-point-interpolated AP.
func synthClass(rng *rand.Rand, name string, quality float64) ClassAP {
	positives := 20 + rng.Intn(200)
	nDet := positives + rng.Intn(3*positives)
	type det struct {
		score float64
		tp    bool
	}
	dets := make([]det, nDet)
	for i := range dets {
		tp := i < positives && rng.Float64() < 0.5+0.45*quality
		score := 0.75 * rng.Float64()
		if tp {
			score = 0.45*rng.Float64() + 0.55*quality
		}
		dets[i] = det{score, tp}
	}
	sort.SliceStable(dets, func(a, b int) bool { return dets[a].score > dets[b].score })
	c := ClassAP{Class: name}
	tp, fp := 0, 0
	for _, d := range dets {
		if d.tp {
			tp++
		} else {
			fp++
		}
		c.Precision = append(c.Precision, float64(tp)/float64(tp+fp))
		c.Recall = append(c.Recall, float64(tp)/float64(positives))
	}
	// All-point AP: area under the precision envelope.
	env := append([]float64(nil), c.Precision...)
	for i := len(env) - 2; i >= 0; i-- {
		env[i] = max(env[i], env[i+1])
	}
	prev := 0.0
	for i, r := range c.Recall {
		c.AP += (r - prev) * env[i]
		prev = r
	}
	return c
}

// vocEval builds a deterministic synthetic evaluation over the 20 VOC classes.
func vocEval(run string, epoch int, seed int64, quality float64) Eval {
	return synthEval(run, epoch, seed, quality, vocClasses)
}

func synthEval(run string, epoch int, seed int64, quality float64, classes []string) Eval {
	rng := rand.New(rand.NewSource(seed))
	e := Eval{Run: run, Epoch: epoch}
	for _, name := range classes {
		q := min(1, max(0, quality+0.3*(rng.Float64()-0.5)))
		c := synthClass(rng, name, q)
		e.Classes = append(e.Classes, c)
		e.MAP += c.AP
	}
	e.MAP /= float64(len(classes))
	return e
}

// cocoClasses returns n class names, some long.
func cocoClasses(n int) []string {
	base := []string{"person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
		"traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse",
		"sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie",
		"suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove",
		"skateboard", "surfboard", "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon",
		"bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut",
		"cake", "chair", "couch", "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse",
		"remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book",
		"clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush"}
	out := make([]string, n)
	for i := range out {
		out[i] = base[i%len(base)]
		if i >= len(base) {
			out[i] = fmt.Sprintf("%s %d", base[i%len(base)], i/len(base))
		}
	}
	if n > 3 {
		out[3] = "Vehicle registration plate (Open Images)"
	}
	return out
}

// trainingSeries simulates val_loss and mAP of a run.
func trainingSeries(run string, epochs int, speed float64) (loss, mAP Series) {
	loss = Series{Run: run, Name: "val_loss"}
	mAP = Series{Run: run, Name: "mAP"}
	for ep := 0; ep < epochs; ep++ {
		t := float64(ep+1) * speed
		loss.Points = append(loss.Points, Point{ep, 2.2 + 6/(1+t) + 0.05*float64(ep%3)})
		mAP.Points = append(mAP.Points, Point{ep, 0.75 * t / (t + 8)})
	}
	return loss, mAP
}

// decodePNG decodes b as a PNG and fails the test unless it is.
func decodePNG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("output is not a valid PNG: %v (%d bytes)", err, len(b))
	}
	return img
}
