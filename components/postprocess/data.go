package postprocess

import (
	"fmt"
	"unsafe"

	"github.com/sugarme/gotch"
	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"
)

// Copies between tensors and Go slices. gotch's CopyData (behind Float64Values,
// Int64Values and Vals) inspects the destination slice element by element through
// reflection, which cost more than all of NMS's tensor math; these helpers copy with
// one memcpy after checking the dtype.

// boolValues copies a bool tensor to Go.
func boolValues(t *ts.Tensor) ([]bool, error) { return values[bool](t, gotch.Bool) }

// float32Values copies a float32 tensor to Go.
func float32Values(t *ts.Tensor) ([]float32, error) { return values[float32](t, gotch.Float) }

// float64Values copies a float64 tensor to Go.
func float64Values(t *ts.Tensor) ([]float64, error) { return values[float64](t, gotch.Double) }

// int64Values copies an int64 tensor to Go.
func int64Values(t *ts.Tensor) ([]int64, error) { return values[int64](t, gotch.Int64) }

func values[T bool | float32 | float64 | int64](t *ts.Tensor, dt gotch.DType) ([]T, error) {
	if got := t.DType(); got != dt {
		return nil, fmt.Errorf("copying a tensor: dtype %v, want %v", got, dt)
	}
	out := make([]T, t.Numel())
	if len(out) == 0 {
		return out, nil
	}
	var zero T
	lib.AtCopyData(lib.Ctensor(t.Ctensor()), unsafe.Pointer(&out[0]), uint(len(out)), uint(unsafe.Sizeof(zero)))
	if err := ts.TorchErr(); err != nil {
		return nil, err
	}
	return out, nil
}

// int64Tensor returns a new int64 tensor [len(v)] holding v.
func int64Tensor(v []int64) *ts.Tensor { return tensorOf(v, gotch.Int64) }

// float32Tensor returns a new float32 tensor [len(v)] holding v.
func float32Tensor(v []float32) *ts.Tensor { return tensorOf(v, gotch.Float) }

// tensorOf copies v into a new 1-D tensor of dtype dt (which must match T). Like gotch's
// Must* calls, it gives up only when libtorch cannot allocate the tensor (a panic here).
func tensorOf[T float32 | int64](v []T, dt gotch.DType) *ts.Tensor {
	if len(v) == 0 {
		return ts.MustZeros([]int64{0}, dt, gotch.CPU)
	}
	kind, err := gotch.DType2CInt(dt)
	if err != nil {
		panic(err) // dt is one of the two constants above
	}
	var zero T
	c := lib.AtTensorOfData(unsafe.Pointer(&v[0]), []int64{int64(len(v))}, 1, uint(unsafe.Sizeof(zero)), int(kind))
	if err := ts.TorchErr(); err != nil {
		panic(fmt.Sprintf("postprocess: creating a tensor of %d values: %v", len(v), err))
	}
	return ts.FromCtensor(unsafe.Pointer(c))
}
