package metric

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/ssdrunner/ssdrunner/registry"
)

// cpuSeconds returns the user and system CPU time this process has used.
func cpuSeconds(b *testing.B) float64 {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		b.Fatal(err)
	}
	sec := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return sec(u.Utime) + sec(u.Stime)
}

// classNames returns the background and n classes.
func classNames(n int) []string {
	names := []string{"BACKGROUND"}
	for c := 1; c <= n; c++ {
		names = append(names, fmt.Sprintf("class%d", c))
	}
	return names
}

// synthetic returns images of 500×375 px with 1 to 5 objects each (20% difficult) and
// detsPerImage detections each: half of them jittered copies of the objects (labels
// mostly right), the rest random boxes of random classes, all with random scores.
func synthetic(images, classes, detsPerImage int, seed uint64) ([]GroundTruth, []Detection) {
	r := rand.New(rand.NewPCG(seed, 1))
	randomBox := func() [4]float64 {
		w, h := 10+r.Float64()*200, 10+r.Float64()*200
		x, y := r.Float64()*(500-w), r.Float64()*(375-h)
		return [4]float64{x, y, x + w, y + h}
	}
	gts := make([]GroundTruth, images)
	dets := make([]Detection, 0, images*detsPerImage)
	for i := range gts {
		g := GroundTruth{ImageID: fmt.Sprintf("%06d", i)}
		for k := 1 + r.IntN(5); k > 0; k-- {
			g.Boxes = append(g.Boxes, randomBox())
			g.Labels = append(g.Labels, 1+r.IntN(classes))
			g.Difficult = append(g.Difficult, r.Float64() < 0.2)
		}
		gts[i] = g
		for k := 0; k < detsPerImage; k++ {
			d := Detection{ImageID: g.ImageID, Box: randomBox(), Label: 1 + r.IntN(classes), Score: r.Float64()}
			if k%2 == 0 {
				o := r.IntN(len(g.Boxes))
				b := g.Boxes[o]
				s := 0.3 * r.Float64()
				w, h := b[2]-b[0], b[3]-b[1]
				d.Box = [4]float64{b[0] + s*w*r.NormFloat64(), b[1] + s*h*r.NormFloat64(), 0, 0}
				d.Box[2] = max(d.Box[0]+1, b[2]+s*w*r.NormFloat64())
				d.Box[3] = max(d.Box[1]+1, b[3]+s*h*r.NormFloat64())
				if r.Float64() < 0.9 {
					d.Label = g.Labels[o]
				}
			}
			dets = append(dets, d)
		}
	}
	return gts, dets
}

// BenchmarkVOC2007Size evaluates data the size of VOC2007 test with 200 detections per
// image (4952 images, ~15k objects, ~1M detections, 20 classes). Run it with
// -bench VOC2007Size -benchtime 1x.
func BenchmarkVOC2007Size(b *testing.B) {
	gts, dets := synthetic(4952, 20, 200, 2007)
	names := classNames(20)
	objects := 0
	for _, g := range gts {
		objects += len(g.Boxes)
	}
	b.Logf("%d images, %d objects, %d detections", len(gts), objects, len(dets))
	for _, name := range []string{"voc", "coco"} {
		m, err := Build(registry.Ref{Type: name})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			cpu0 := cpuSeconds(b)
			for b.Loop() {
				if _, err := m.Evaluate(names, gts, dets); err != nil {
					b.Fatal(err)
				}
			}
			// CPU time is the steadier number on a shared machine
			b.ReportMetric((cpuSeconds(b)-cpu0)/float64(b.N), "cpu-s/op")
		})
	}
}
