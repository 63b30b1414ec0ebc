package torch

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/sugarme/gotch/ts"
)

// Bounds of the training-memory test: 400 steps of the tiny net, batch 8, 3×64×64, after
// warmProcess; growth measured from step 50 to 400 with free memory handed back to the
// kernel before both readings (MeasureGrowth).
//
// Measured on the project's 2-core machine over about 40 clean runs: the C heap grew 0 to
// 40 B/step (malloc's per-thread caches filling; 0 over 1,000 steps once warm). RSS
// changed by -1.9 to +2.9 MB over the 350 steps, without trend: usually 0-150 KB with
// libtorch's SGD and 0.3-0.6 MB with the hand-written one (a rise in its first hundred
// steps, level for thousands of steps after), and in about one run in five a one-off jump
// of ±1.5-2.5 MB (libraries and the Go runtime mapping or unmapping memory). RSS is
// therefore bounded by the size of that noise and the C heap, which counts to the byte,
// by a tight per-step bound.
//
// Leaks measured with the same loop: one forward activation not dropped (the
// [8,16,32,32] conv output): +525 KB/step of RSS and C heap; the [8,32] flattened
// features not dropped: +14 KB/step RSS, +7.7 KB/step C heap (the view keeps its autograd
// nodes alive); gotch's in-place ops instead of InPlace on the SGD intermediates: +25
// KB/step of C heap (each pins its tensor); gotch's Tensor.ZeroGrad for the 7 parameters:
// +750 B/step of C heap; gotch's CrossEntropyForLogits (one orphaned handle per call): +46
// B/step, under the bound.
const (
	flatSteps, flatWarmup = 400, 50
	maxRSSPerStep         = 16 << 10 // 5.6 MB over 350 steps: twice the largest clean change
	maxMallocPerStep      = 128      // 45 KB over 350 steps: about 3 orphaned handles per step
)

// TestTrainingMemoryFlat is the project's memory-flatness check: a training loop that
// frees everything it creates keeps RSS and the C heap flat.
func TestTrainingMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("400 training steps; skipped with -short")
	}
	if err := warmProcess(); err != nil {
		t.Fatal(err)
	}
	for _, opt := range []string{"manual", "libtorch"} {
		t.Run(opt, func(t *testing.T) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			ManualSeed(2)
			tr, err := newTrainer(opt, 8, 64)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.close()
			var first, last float64
			g, err := MeasureGrowth(flatWarmup, flatSteps-flatWarmup, func(i int) error {
				l, err := tr.step()
				if i == 0 {
					first = l
				}
				last = l
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("loss %.3f → %.3f; over %d steps RSS %+d B (%.0f B/step), C heap %+d B (%.1f B/step)",
				first, last, g.Steps, g.RSS, g.RSSPerStep(), g.Malloc, g.MallocPerStep())
			if g.RSSPerStep() > maxRSSPerStep {
				t.Errorf("RSS grew %.0f B/step, want <= %d", g.RSSPerStep(), maxRSSPerStep)
			}
			if g.MallocPerStep() > maxMallocPerStep {
				t.Errorf("C heap grew %.1f B/step, want <= %d", g.MallocPerStep(), maxMallocPerStep)
			}
			if !(last < first) {
				t.Errorf("loss did not fall: %.3f → %.3f", first, last)
			}
		})
	}
}

func TestRSS(t *testing.T) {
	r := mustRSS(t)
	if r < 1<<20 || r > 1<<40 {
		t.Errorf("RSS = %d bytes, implausible", r)
	}
}

func TestMeasureGrowth(t *testing.T) {
	var held []*ts.Tensor
	defer func() {
		for _, x := range held {
			x.MustDrop()
		}
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	g, err := MeasureGrowth(2, 20, func(int) error {
		held = append(held, mibTensor(1)) // "leaks" 1 MiB per step
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 22 || g.Steps != 20 {
		t.Fatalf("ran %d steps, measured %d; want 22 and 20", len(held), g.Steps)
	}
	if m := g.MallocPerStep(); m < mib || m > mib+4096 {
		t.Errorf("C heap grew %.0f B/step, want 1 MiB (+ malloc's chunk header)", m)
	}
	if r := g.RSSPerStep(); r < 0.9*mib {
		t.Errorf("RSS grew %.0f B/step, want about 1 MiB", r)
	}

	fail := errors.New("boom")
	for _, c := range []struct {
		at   int
		want string
	}{{1, "warm-up step 1"}, {4, "step 4"}} {
		_, err := MeasureGrowth(2, 5, func(i int) error {
			if i == c.at {
				return fail
			}
			return nil
		})
		if !errors.Is(err, fail) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q wrapping %v", err, c.want, fail)
		}
	}
	if (Growth{}).RSSPerStep() != 0 || (Growth{}).MallocPerStep() != 0 {
		t.Error("per-step values of zero steps must be 0")
	}
	calls := 0
	if g, err := MeasureGrowth(1, 3, func(int) error { calls++; return nil }); err != nil || calls != 4 || g.Steps != 3 {
		t.Errorf("3 measured steps: %d calls, %+v, %v", calls, g, err)
	}
}

// TestMallocPolicy checks the allocator set-up that the C constructor in arena.go makes
// for each RUNNER_MALLOC value and malloc setting of the environment. Each case runs this
// test binary again, since the constructor runs once, before main.
func TestMallocPolicy(t *testing.T) {
	if want := os.Getenv("SSD_WANT_MALLOC_POLICY"); want != "" {
		if got := MallocPolicy(); got != want {
			t.Fatalf("MallocPolicy() = %q, want %q (RUNNER_MALLOC=%q, GLIBC_TUNABLES=%q)", got, want, os.Getenv("RUNNER_MALLOC"), os.Getenv("GLIBC_TUNABLES"))
		}
		if got, want := MallocTunedByEnvironment(), os.Getenv("SSD_WANT_MALLOC_ENV") == "1"; got != want {
			t.Fatalf("MallocTunedByEnvironment() = %v, want %v (GLIBC_TUNABLES=%q)", got, want, os.Getenv("GLIBC_TUNABLES"))
		}
		return
	}
	huge := "hugepages"
	if thpOff() {
		huge = "system"
	}
	for _, c := range []struct {
		env, want string
		byEnv     bool
	}{
		{"", huge, false},
		{"RUNNER_MALLOC=hugepages", huge, false},
		{"RUNNER_MALLOC=system", "system", false},
		{"RUNNER_MALLOC=fast", "system", false},
		{"MALLOC_ARENA_MAX=2", huge, false},
		{"MALLOC_TRIM_THRESHOLD_=131072", "system", true},
		{"GLIBC_TUNABLES=glibc.malloc.mmap_max=65536", "system", true},
	} {
		byEnv := map[bool]string{false: "0", true: "1"}[c.byEnv]
		rerunWithEnv(t, "^TestMallocPolicy$", "SSD_WANT_MALLOC_POLICY="+c.want, "SSD_WANT_MALLOC_ENV="+byEnv, c.env)
	}
}

// thpOff reports whether transparent huge pages are switched off (or unknown).
func thpOff() bool {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	return err != nil || strings.Contains(string(b), "[never]")
}

// rerunWithEnv runs the tests that match pattern in a new process of this test binary,
// with the environment's malloc settings replaced by env (empty entries are skipped),
// and fails t with its output if they fail.
func rerunWithEnv(t *testing.T, pattern string, env ...string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run="+pattern, "-test.count=1", "-test.v")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MALLOC_") && !strings.HasPrefix(kv, "GLIBC_TUNABLES=") && !strings.HasPrefix(kv, "RUNNER_MALLOC=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for _, kv := range env {
		if kv != "" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("%s with %q: %v\n%s", pattern, env, err, out)
		return
	}
	if !strings.Contains(string(out), "--- PASS") {
		t.Errorf("%s with %q ran no test:\n%s", pattern, env, out)
	}
}
