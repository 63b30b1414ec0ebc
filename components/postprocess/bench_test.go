package postprocess

import (
	"syscall"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	box "github.com/ssdrunner/ssdrunner/components/boxes"
	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// saturatedInputs returns logits [1, 3000, 21] drawn from N(0, 1) (seeded), with which
// every class has nearly all 3000 priors above the 0.01 threshold (an untrained net),
// and the offsets of the golden fake net.
func saturatedInputs(b testing.TB) (conf, loc, priors *ts.Tensor) {
	_, loc, priors = goldenInputs(b)
	torch.ManualSeed(7)
	conf = ts.MustRandn([]int64{1, 3000, 21}, gotch.Float, gotch.CPU)
	b.Cleanup(conf.MustDrop)
	return conf, loc, priors
}

// benchDetect runs Detect b.N times and reports milliseconds per call: wall-clock time
// (ms/op) and the CPU time of the process (cpu-ms/op), which a machine busy with other
// work inflates less.
func benchDetect(b *testing.B, conf, loc, priors *ts.Tensor, cfg Config) {
	b.Helper()
	n := 0
	start, cpu := time.Now(), cpuTime(b)
	for b.Loop() {
		dets, err := Detect(conf, loc, priors, box.DefaultVariances, cfg)
		if err != nil {
			b.Fatal(err)
		}
		n = dets[0].Len()
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/op")
	b.ReportMetric(float64((cpuTime(b)-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(n), "detections")
}

// BenchmarkNMS3000x20 is Detect with the reference's evaluation settings (hard NMS, score
// threshold 0.01, 200 candidates, IoU 0.45) on one image of 3000 priors and 20 classes:
// "golden" is the golden fake net output (mostly background, about 70 candidates per
// class), "saturated" has nearly every prior above the threshold for every class (the
// 200-candidate cap then applies to each class); the "-agnostic" cases run one NMS over
// the candidates of all classes instead of one per class.
func BenchmarkNMS3000x20(b *testing.B) {
	perClass := Config{Method: Hard, IoUThreshold: 0.45, ScoreThreshold: 0.01, CandidateSize: 200, Sigma: 0.5}
	agnostic := perClass
	agnostic.ClassAgnostic = true
	for _, c := range []struct {
		name   string
		inputs func(testing.TB) (conf, loc, priors *ts.Tensor)
		cfg    Config
	}{
		{"golden", goldenInputs, perClass},
		{"saturated", saturatedInputs, perClass},
		{"golden-agnostic", goldenInputs, agnostic},
		{"saturated-agnostic", saturatedInputs, agnostic},
	} {
		b.Run(c.name, func(b *testing.B) {
			conf, loc, priors := c.inputs(b)
			benchDetect(b, conf, loc, priors, c.cfg)
		})
	}
}

// BenchmarkSoftNMS3000x20 is Detect with soft NMS (sigma 0.5, score threshold 0.01) on the
// golden fake net output.
func BenchmarkSoftNMS3000x20(b *testing.B) {
	conf, loc, priors := goldenInputs(b)
	benchDetect(b, conf, loc, priors, Config{Method: Soft, ScoreThreshold: 0.01, Sigma: 0.5})
}

// cpuTime returns the user and system CPU time the process has used.
func cpuTime(b testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
