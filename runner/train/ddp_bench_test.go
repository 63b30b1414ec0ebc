package train

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// BenchmarkDataParallel compares, on the same data and the same global batch of 16, one
// process with 2 libtorch threads against 2 data-parallel ranks of 1 thread each (batch 8
// each, gradients summed by gloo over loopback): the images/s of whole training epochs
// (loading, augmentation, step, allreduce; the first epoch, a warm-up, left out), each
// run a job of its own processes, alternating. On a 2-core machine this shows the
// data-parallel overhead, not a speed-up.
func BenchmarkDataParallel(b *testing.B) {
	dir := b.TempDir()
	exp := filepath.Join(dir, "exp.hcl")
	if err := os.WriteFile(exp, []byte(ddpExperiment), 0o644); err != nil {
		b.Fatal(err)
	}
	common := []string{"output.dir=" + filepath.Join(dir, "runs"), "training.epochs=3", "training.validate_every=100",
		"training.log_every=1000", "data.train.count=96"}
	rate := func(run string) float64 {
		f, err := os.Open(filepath.Join(dir, "runs", "ddp", run, "metrics.jsonl"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		var images, secs float64
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var l struct {
				Kind    string  `json:"kind"`
				Epoch   int     `json:"epoch"`
				Images  float64 `json:"images"`
				Seconds float64 `json:"seconds"`
			}
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Kind == "epoch" && l.Epoch > 1 {
				images, secs = images+l.Images, secs+l.Seconds
			}
		}
		return images / secs
	}
	var one, two []float64
	for round := range 2 {
		name := func(s string) string { return s + "-" + string(rune('a'+round)) }
		for r, x := range spawnJobThreads(b, exp, name("one"), 1, 0, 2, append(common, "training.threads=2", "data.batch_size=16")...) {
			if x.code != 0 {
				b.Fatalf("1 process, rank %d: exit %d\n%s", r, x.code, x.stderr)
			}
		}
		for r, x := range spawnJobThreads(b, exp, name("two"), 2, 0, 1, append(common, "training.threads=1", "data.batch_size=8")...) {
			if x.code != 0 {
				b.Fatalf("2 processes, rank %d: exit %d\n%s", r, x.code, x.stderr)
			}
		}
		one, two = append(one, rate(name("one"))), append(two, rate(name("two")))
	}
	sort.Float64s(one)
	sort.Float64s(two)
	b.ReportMetric(one[len(one)-1], "1proc_x_2threads_images/s")
	b.ReportMetric(two[len(two)-1], "2procs_x_1thread_images/s")
	b.Logf("images/s, best of %d rounds: 1 process x 2 threads %.1f (rounds %v), 2 processes x 1 thread %.1f (rounds %v)",
		len(one), one[len(one)-1], one, two[len(two)-1], two)
}
