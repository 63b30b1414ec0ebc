package metric

import (
	"fmt"
	"unsafe"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// These helpers move flat data between Go and libtorch in one copy each. gotch's generic
// paths (NewTensorFromData, CopyData, Float64Values) check every element through
// reflection, which costs seconds for the millions of values of a VOC-sized evaluation.

// boxTensor returns the [n, 4] tensor of data (float32 or float64, n*4 values),
// registered with sc.
func boxTensor[T float32 | float64](sc *torch.Scope, data []T, n int) (*ts.Tensor, error) {
	if len(data) != 4*n || n == 0 {
		return nil, fmt.Errorf("%d box values for %d boxes", len(data), n)
	}
	flat, err := ts.OfSlice(data) // one binary.Write of the whole slice
	if err != nil {
		return nil, fmt.Errorf("boxes to tensor: %w", err)
	}
	sc.T(flat)
	return sc.T(flat.MustView([]int64{int64(n), 4}, false)), nil
}

// flagTensor returns the [len(v)] bool tensor of v (bytes 0 or 1), registered with sc.
func flagTensor(sc *torch.Scope, v []byte) (*ts.Tensor, error) {
	if len(v) == 0 {
		return nil, fmt.Errorf("empty flag list")
	}
	t, err := ts.OfDataSize(v, []int64{int64(len(v))}, gotch.Bool)
	if err != nil {
		return nil, fmt.Errorf("flags to tensor: %w", err)
	}
	return sc.T(t), nil
}

// float64s returns the values of a float64 tensor, in row-major order.
func float64s(sc *torch.Scope, t *ts.Tensor) ([]float64, error) {
	if t.DType() != gotch.Double {
		return nil, fmt.Errorf("reading a %v tensor as float64", t.DType())
	}
	c := sc.T(t.MustContiguous(false))
	n := int(c.Numel())
	if n == 0 {
		return nil, nil
	}
	p, err := c.DataPtr()
	if err != nil {
		return nil, fmt.Errorf("reading a tensor: %w", err)
	}
	return append([]float64(nil), unsafe.Slice((*float64)(p), n)...), nil
}
