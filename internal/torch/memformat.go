package torch

// int ssd_channels_last(void* t, void** out);
// int ssd_set_channels_last(void* t);
// int ssd_is_channels_last(void* t);
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/sugarme/gotch/ts"
)

// ChannelsLast returns a new tensor handle on x laid out channels-last (torch's
// x.contiguous(memory_format=torch.channels_last)): a 4-D tensor's values in NHWC order
// behind the same NCHW shape, copied unless x already is. The caller owns the result.
func ChannelsLast(x *ts.Tensor) (*ts.Tensor, error) {
	if d := x.Dim(); d != 4 {
		return nil, fmt.Errorf("torch: channels-last needs a 4-D tensor, got %d dimensions", d)
	}
	var out unsafe.Pointer
	if rc := C.ssd_channels_last(x.Ctensor(), &out); rc != 0 || out == nil {
		return nil, fmt.Errorf("torch: cannot lay a %v tensor out channels-last", x.MustSize())
	}
	return ts.FromCtensor(out), nil
}

// SetChannelsLast lays a 4-D variable's data out channels-last in place (torch's
// module.to(memory_format=torch.channels_last) for one parameter): the same variable,
// so that optimizers and stores holding it keep working, with the same values. Tensors
// of other ranks are left alone.
func SetChannelsLast(t *ts.Tensor) error {
	if t.Dim() != 4 {
		return nil
	}
	if rc := C.ssd_set_channels_last(t.Ctensor()); rc != 0 {
		return fmt.Errorf("torch: cannot lay a %v variable out channels-last", t.MustSize())
	}
	return nil
}

// IsChannelsLast reports whether t is laid out channels-last.
func IsChannelsLast(t *ts.Tensor) bool { return C.ssd_is_channels_last(t.Ctensor()) == 1 }
