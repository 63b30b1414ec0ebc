package torch

import (
	"fmt"

	"github.com/sugarme/gotch"

	"github.com/ssdrunner/ssdrunner/internal/device"
)

// ParseDevice maps a device name as PyTorch spells it to a gotch device: "cpu", "cuda"
// (the first GPU) or "cuda:N". Other names, and CUDA devices that libtorch cannot use
// (Debian's libtorch is built without CUDA), are errors.
func ParseDevice(name string) (gotch.Device, error) {
	d, err := device.Parse(name) // the syntax, shared with the experiment files' validation
	if err != nil {
		return gotch.Device{}, fmt.Errorf("device %q: %w", name, err)
	}
	if !d.CUDA {
		return gotch.CPU, nil
	}
	if !gotch.CUDA.IsAvailable() {
		return gotch.Device{}, fmt.Errorf("device %q: CUDA is not available to this libtorch (use \"cpu\")", name)
	}
	if n := gotch.CUDA.DeviceCount(); int64(d.Index) >= n {
		return gotch.Device{}, fmt.Errorf("device %q: only %d CUDA device(s) present", name, n)
	}
	return gotch.CudaBuilder(uint(d.Index)), nil
}
