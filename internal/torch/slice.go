package torch

import (
	"fmt"
	"unsafe"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Element is a Go type that FromSlices and CopyTo move between Go and CPU tensors.
type Element interface {
	float32 | float64 | int64 | int32 | uint8
}

// dtypeOf returns the tensor dtype of the Go type T.
func dtypeOf[T Element]() gotch.DType {
	var z T
	switch any(z).(type) {
	case float32:
		return gotch.Float
	case float64:
		return gotch.Double
	case int64:
		return gotch.Int64
	case int32:
		return gotch.Int
	default:
		return gotch.Uint8
	}
}

// FromSlices returns a new CPU tensor of the given shape (owned by the caller) holding the
// concatenation of parts, in row-major order: one uninitialised allocation and one memory
// copy per part. gotch's own constructors (ts.OfSlice, NewTensorFromData) encode the data
// element by element into a temporary C buffer first, and then copy it again; for a batch of
// images (millions of values) that is most of the cost. The parts' lengths must add up to
// the shape's element count. Large tensors are backed by transparent huge pages where the
// system allows it (Linux), which makes filling fresh memory about 3 times faster.
func FromSlices[T Element](shape []int64, parts ...[]T) (*ts.Tensor, error) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("torch: negative dimension in shape %v", shape)
		}
		n *= d
	}
	total := int64(0)
	for _, p := range parts {
		total += int64(len(p))
	}
	if total != n {
		return nil, fmt.Errorf("torch: %d values for shape %v (%d elements)", total, shape, n)
	}
	t, err := ts.Empty(shape, dtypeOf[T](), gotch.CPU)
	if err != nil {
		return nil, fmt.Errorf("torch: allocating %v: %w", shape, err)
	}
	if n == 0 {
		return t, nil
	}
	ptr, err := t.DataPtr()
	if err != nil {
		t.MustDrop()
		return nil, fmt.Errorf("torch: %w", err)
	}
	var z T
	adviseHugePages(ptr, uintptr(n)*unsafe.Sizeof(z))
	dst := unsafe.Slice((*T)(ptr), n)
	off := 0
	for _, p := range parts {
		off += copy(dst[off:], p)
	}
	return t, nil
}

// CopyTo copies the values of t, a CPU tensor of T's dtype with exactly len(dst) elements
// (any strides), into dst in row-major order, with one memory copy when t is contiguous.
// gotch's CopyData inspects every element of dst through reflection first.
func CopyTo[T Element](t *ts.Tensor, dst []T) error {
	if t == nil {
		return fmt.Errorf("torch: copy from a nil tensor")
	}
	if want := dtypeOf[T](); t.DType() != want {
		return fmt.Errorf("torch: copy of a %v tensor into a %v slice", t.DType(), want)
	}
	// Device() reports the CPU as {CPU 1}, unlike gotch.CPU ({CPU -1}): compare names.
	if dev, err := t.Device(); err != nil {
		return fmt.Errorf("torch: %w", err)
	} else if dev.Name != gotch.CPU.Name {
		return fmt.Errorf("torch: copy from a tensor on %s:%d: move it to the CPU first", dev.Name, dev.Value)
	}
	if n := int(t.Numel()); n != len(dst) {
		return fmt.Errorf("torch: copy of %d values into a slice of %d", n, len(dst))
	}
	if len(dst) == 0 {
		return nil
	}
	c, err := t.Contiguous(false) // a new handle, sharing t's storage when t is contiguous
	if err != nil {
		return fmt.Errorf("torch: %w", err)
	}
	defer c.MustDrop()
	ptr, err := c.DataPtr()
	if err != nil {
		return fmt.Errorf("torch: %w", err)
	}
	copy(dst, unsafe.Slice((*T)(ptr), len(dst)))
	return nil
}
