package torch

import (
	"os"
	"slices"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

func TestFromSlicesCopyTo(t *testing.T) {
	x, err := FromSlices([]int64{2, 3}, []float32{1, 2}, []float32{3, 4, 5, 6})
	if err != nil {
		t.Fatal(err)
	}
	defer x.MustDrop()
	if x.DType() != gotch.Float || !slices.Equal(x.MustSize(), []int64{2, 3}) {
		t.Fatalf("dtype %v shape %v", x.DType(), x.MustSize())
	}
	got := make([]float32, 6)
	if err := CopyTo(x, got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []float32{1, 2, 3, 4, 5, 6}) {
		t.Errorf("values %v", got)
	}
	// A non-contiguous view is read in row-major order.
	xt := x.MustT(false)
	defer xt.MustDrop()
	if err := CopyTo(xt, got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []float32{1, 4, 2, 5, 3, 6}) {
		t.Errorf("transposed values %v", got)
	}

	l, err := FromSlices([]int64{3}, []int64{7, -1, 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	defer l.MustDrop()
	li := make([]int64, 3)
	if err := CopyTo(l, li); err != nil || l.DType() != gotch.Int64 || !slices.Equal(li, []int64{7, -1, 1 << 40}) {
		t.Errorf("int64: %v %v %v", err, l.DType(), li)
	}

	e, err := FromSlices[float32]([]int64{0, 4})
	if err != nil {
		t.Fatal(err)
	}
	defer e.MustDrop()
	if !slices.Equal(e.MustSize(), []int64{0, 4}) || CopyTo(e, []float32{}) != nil {
		t.Errorf("empty: %v", e.MustSize())
	}
}

func TestFromSlicesErrors(t *testing.T) {
	if _, err := FromSlices([]int64{2, 2}, []float32{1, 2, 3}); err == nil {
		t.Error("3 values for 4 elements accepted")
	}
	if _, err := FromSlices([]int64{-1}, []float32{}); err == nil {
		t.Error("negative dimension accepted")
	}
	x := ts.MustOnes([]int64{4}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	if err := CopyTo(x, make([]int64, 4)); err == nil {
		t.Error("float32 tensor copied into []int64")
	}
	if err := CopyTo(x, make([]float32, 3)); err == nil {
		t.Error("4 values copied into a slice of 3")
	}
}

// TestFromSlicesNoLeak: creating and dropping tensors, large ones (huge-page advice)
// included, leaves the C heap and RSS flat.
func TestFromSlicesNoLeak(t *testing.T) {
	data := make([]float32, 8*3*300*300) // 8.6 MB
	for i := range data {
		data[i] = float32(i)
	}
	out := make([]float32, len(data))
	g, err := MeasureGrowth(5, 50, func(int) error {
		x, err := FromSlices([]int64{8, 3, 300, 300}, data[:len(data)/2], data[len(data)/2:])
		if err != nil {
			return err
		}
		defer x.MustDrop()
		return CopyTo(x, out)
	})
	if err != nil {
		t.Fatal(err)
	}
	if g.MallocPerStep() > 256 || g.RSS > 16<<20 {
		t.Errorf("C heap grows by %.0f bytes per create/copy/drop, RSS by %d bytes in all", g.MallocPerStep(), g.RSS)
	}
	if out[12345] != 12345 || out[len(out)-1] != float32(len(out)-1) {
		t.Errorf("values read back: %v %v", out[12345], out[len(out)-1])
	}
}

// BenchmarkFromSlicesBatch builds a training batch of images (32x3x300x300 float32,
// 34.6 MB) from 32 per-image slices.
func BenchmarkFromSlicesBatch(b *testing.B) {
	parts := make([][]float32, 32)
	for i := range parts {
		parts[i] = make([]float32, 3*300*300)
	}
	b.SetBytes(32 * 3 * 300 * 300 * 4)
	for range b.N {
		x, err := FromSlices([]int64{32, 3, 300, 300}, parts...)
		if err != nil {
			b.Fatal(err)
		}
		x.MustDrop()
	}
}

// TestFromSlicesHugePages checks that a batch-sized tensor filled by FromSlices faults in
// 2 MiB at a time under both malloc policies: advised by the allocator under "hugepages",
// by FromSlices itself under "system" (the other policy runs in a child process). Skipped
// where transparent huge pages are off.
func TestFromSlicesHugePages(t *testing.T) {
	if thpOff() {
		t.Skip("transparent huge pages are off")
	}
	if os.Getenv("SSD_RERUN") == "" {
		other := "RUNNER_MALLOC=system"
		if MallocPolicy() == "system" {
			other = "RUNNER_MALLOC=hugepages"
		}
		rerunWithEnv(t, "^TestFromSlicesHugePages$", other, "SSD_RERUN=1")
	}
	const n = 64 << 20 // bytes
	src := make([]float32, n/4)
	for i := range src { // fault the source in first: only the tensor's faults count
		src[i] = float32(i)
	}
	f0 := minorFaults(t)
	x, err := FromSlices([]int64{n / 4}, src)
	if err != nil {
		t.Fatal(err)
	}
	faults := minorFaults(t) - f0
	x.MustDrop()
	t.Logf("malloc %s: %d minor faults to fill %d bytes", MallocPolicy(), faults, n)
	if faults > n/4096/4 {
		t.Errorf("malloc %s: %d minor faults to fill %d bytes, want at most %d (4 KiB pages would take %d)", MallocPolicy(), faults, n, n/4096/4, n/4096)
	}
}
