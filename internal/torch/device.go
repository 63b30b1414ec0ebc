package torch

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sugarme/gotch"
)

// ParseDevice maps a device name as PyTorch spells it to a gotch device: "cpu", "cuda"
// (the first GPU) or "cuda:N". Other names, and CUDA devices that libtorch cannot use
// (Debian's libtorch is built without CUDA), are errors.
func ParseDevice(name string) (gotch.Device, error) {
	if name == "cpu" {
		return gotch.CPU, nil
	}
	idx := 0
	switch {
	case name == "cuda":
	case strings.HasPrefix(name, "cuda:"):
		digits := name[len("cuda:"):]
		n, err := strconv.Atoi(digits)
		if err != nil || strings.Trim(digits, "0123456789") != "" {
			return gotch.Device{}, fmt.Errorf("device %q: the GPU index must be a number >= 0, as in \"cuda:0\"", name)
		}
		idx = n
	default:
		return gotch.Device{}, fmt.Errorf("device %q: unknown device, expected \"cpu\", \"cuda\" or \"cuda:N\"", name)
	}
	if !gotch.CUDA.IsAvailable() {
		return gotch.Device{}, fmt.Errorf("device %q: CUDA is not available to this libtorch (use \"cpu\")", name)
	}
	if n := gotch.CUDA.DeviceCount(); int64(idx) >= n {
		return gotch.Device{}, fmt.Errorf("device %q: only %d CUDA device(s) present", name, n)
	}
	return gotch.CudaBuilder(uint(idx)), nil
}
