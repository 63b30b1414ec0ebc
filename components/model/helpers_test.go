package model

import (
	"hash/crc32"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	_ "github.com/ssdrunner/ssdrunner/components/backbone"
	"github.com/ssdrunner/ssdrunner/internal/reftest"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
)

// The two reference models of the golden tests, as this project builds them.
var variants = map[string]struct {
	backbone, head registry.Ref
}{
	"mb1_ssd": {
		registry.Ref{Type: "mobilenet_v1", Options: map[string]any{"extras": "ssd"}},
		registry.Ref{Type: "ssd"},
	},
	"mb1_ssd_lite": {
		registry.Ref{Type: "mobilenet_v1", Options: map[string]any{"extras": "ssd_lite"}},
		registry.Ref{Type: "ssd_lite", Options: map[string]any{"batch_norm": false, "activation": "relu"}},
	},
}

var sixBoxes = []int{6, 6, 6, 6, 6, 6}

func buildVariant(t *testing.T, kind string) *SSD {
	t.Helper()
	v, ok := variants[kind]
	if !ok {
		t.Fatalf("unknown variant %q", kind)
	}
	m, err := Build(nn.NewVarStore(gotch.CPU), v.backbone, v.head, sixBoxes, 21)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// hashValues mirrors testdata/gen_golden.py: n values in [-0.5, 0.5) from murmur3's
// finaliser of (i*2654435761 + crc32(name)) mod 2^32.
func hashValues(name string, n int) []float64 {
	seed := crc32.ChecksumIEEE([]byte(name))
	out := make([]float64, n)
	for i := range out {
		h := uint32(i)*2654435761 + seed
		h ^= h >> 16
		h *= 0x85ebca6b
		h ^= h >> 13
		h *= 0xc2b2ae35
		h ^= h >> 16
		out[i] = float64(h)/4294967296.0 - 0.5
	}
	return out
}

// hashTensor returns a new float32 tensor of the given shape holding u·scale + offset.
func hashTensor(name string, shape []int64, scale, offset float64) *ts.Tensor {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	u := hashValues(name, int(n))
	data := make([]float32, n)
	for i, v := range u {
		data[i] = float32(float64(v*scale) + offset) // explicit rounding: no fused multiply-add
	}
	return ts.MustOfSlice(data).MustView(shape, true)
}

// hashInit fills every variable of vs as gen_golden.py's hash_init fills the reference's
// state_dict.
func hashInit(t *testing.T, vs *nn.VarStore) {
	t.Helper()
	root := vs.Root()
	for name := range vs.Variables() {
		dst, err := root.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		shape := dst.MustSize()
		var scale, offset float64
		switch {
		case len(shape) == 4:
			scale = math.Sqrt(24.0 / float64(shape[1]*shape[2]*shape[3]))
		case strings.HasSuffix(name, "running_var"):
			scale, offset = 1, 1
		case strings.HasSuffix(name, "weight"):
			scale, offset = 0.4, 1
		default:
			scale = 0.2
		}
		src := hashTensor(name, shape, scale, offset)
		if err := copyNoGrad(dst, src); err != nil {
			t.Fatal(err)
		}
		src.MustDrop()
	}
}

func hashInput() *ts.Tensor { return hashTensor("input", []int64{2, 3, 300, 300}, 2, 0) }

func readNpy(t *testing.T, path string) *ts.Tensor {
	t.Helper()
	x, err := ts.ReadNpy(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return x
}

func golden(name string) string { return filepath.Join("testdata", name) }

// diffOf returns how far a is from the reference b (reftest.Compare: max |a-b| relative
// to max |b|) after checking the shapes agree.
func diffOf(t *testing.T, what string, a, b *ts.Tensor) reftest.Diff {
	t.Helper()
	if as, bs := a.MustSize(), b.MustSize(); !slices.Equal(as, bs) {
		t.Fatalf("%s: shapes %v and %v", what, as, bs)
	}
	return reftest.Compare(a.Float64Values(), b.Float64Values())
}

// cloneValues returns a new tensor with x's values in its own storage.
func cloneValues(x *ts.Tensor) *ts.Tensor {
	z := x.MustDetach(false).MustZerosLike(true)
	if err := copyNoGrad(z, x); err != nil {
		panic(err)
	}
	return z
}

// withGrad locks the test's goroutine to its OS thread and switches gradient recording
// on there (libtorch keeps the mode per thread, and gotch's ts.NoGrad, run by
// VarStore.Load, may leave it off); the returned function undoes both.
func withGrad(t *testing.T) func() {
	t.Helper()
	runtime.LockOSThread()
	prev, err := torch.SetGradEnabled(true)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	return func() {
		_, _ = torch.SetGradEnabled(prev)
		runtime.UnlockOSThread()
	}
}

// loadStrict loads a reference .pth into m and requires every variable to load, with only
// num_batches_tracked counters ignored (the model has no variable for them).
func loadStrict(t *testing.T, m *SSD, path string) LoadReport {
	t.Helper()
	rep, err := LoadPTH(m.VarStore(), path, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rep.Loaded) != len(m.VariableNames()) {
		t.Errorf("loaded %d of %d variables", len(rep.Loaded), len(m.VariableNames()))
	}
	for _, k := range rep.Ignored {
		if !strings.HasSuffix(k, ".num_batches_tracked") {
			t.Errorf("ignored %s", k)
		}
	}
	return rep
}
