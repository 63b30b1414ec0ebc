package torch

import (
	"runtime"
	"testing"
)

// BenchmarkTrainStepRSS trains the tiny net (batch 8, 3×64×64) for 200 steps per
// iteration after 50 warm-up steps, and reports the RSS and C-heap growth per step and the
// time per step, for the hand-written SGD and for libtorch's. `make bench` runs it once
// (-benchtime 1x): 2 × 250 steps, a few seconds.
func BenchmarkTrainStepRSS(b *testing.B) {
	const warmup, perIter = 50, 200
	if err := warmProcess(); err != nil {
		b.Fatal(err)
	}
	for _, opt := range []string{"manual", "libtorch"} {
		b.Run(opt, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			ManualSeed(3)
			tr, err := newTrainer(opt, 8, 64)
			if err != nil {
				b.Fatal(err)
			}
			defer tr.close()
			for i := 0; i < warmup; i++ {
				if _, err := tr.step(); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			g, err := MeasureGrowth(0, b.N*perIter, func(int) error {
				_, err := tr.step()
				return err
			})
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(g.RSSPerStep(), "rss-B/step")
			b.ReportMetric(g.MallocPerStep(), "heap-B/step")
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N*perIter), "ms/step")
		})
	}
}
