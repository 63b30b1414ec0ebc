package torch

// #include <stdint.h>
// int64_t ssd_rng_state_size();
// int ssd_rng_get_state(uint8_t* out, int64_t n);
// int ssd_rng_set_state(const uint8_t* in, int64_t n);
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/sugarme/gotch/ts"
)

// RNGState returns the state of libtorch's default CPU generator (torch.get_rng_state) as
// a uint8 tensor the caller owns.
func RNGState() (*ts.Tensor, error) {
	n := int64(C.ssd_rng_state_size())
	if n <= 0 {
		return nil, fmt.Errorf("torch: cannot read the random generator's state")
	}
	buf := make([]uint8, n)
	if rc := C.ssd_rng_get_state((*C.uint8_t)(unsafe.Pointer(&buf[0])), C.int64_t(n)); rc != 0 {
		return nil, fmt.Errorf("torch: cannot read the random generator's state (code %d)", int(rc))
	}
	return FromSlices([]int64{n}, buf)
}

// SetRNGState restores a state returned by RNGState (torch.set_rng_state).
func SetRNGState(state *ts.Tensor) error {
	n := int64(state.Numel())
	if n <= 0 {
		return fmt.Errorf("torch: empty random generator state")
	}
	buf := make([]uint8, n)
	if err := CopyTo(state, buf); err != nil {
		return err
	}
	if rc := C.ssd_rng_set_state((*C.uint8_t)(unsafe.Pointer(&buf[0])), C.int64_t(n)); rc != 0 {
		return fmt.Errorf("torch: cannot restore the random generator's state (a state of %d bytes; code %d)", n, int(rc))
	}
	return nil
}
