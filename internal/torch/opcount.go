package torch

// #include <stdint.h>
// int ssd_opcount_start();
// int64_t ssd_opcount_stop(char* buf, int64_t cap);
import "C"

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unsafe"
)

// CountOps runs fn and returns how many times each libtorch operator ran meanwhile, by the
// name libtorch's RecordFunction gives it ("aten::conv2d", "aten::add_",
// "autograd::engine::evaluate_function: ConvolutionBackward0", …): the names
// torch.autograd.profiler reports, so a step of ours and one of the reference compare op
// for op. Counting covers every thread and slows ops down; it is a diagnostic, not for
// training. Calls do not nest.
func CountOps(fn func() error) (map[string]int64, error) {
	switch C.ssd_opcount_start() {
	case 0:
	case 1:
		return nil, errors.New("CountOps: already counting")
	default:
		return nil, errors.New("CountOps: libtorch refused the callback")
	}
	fnErr := fn()
	buf := make([]byte, 1<<16)
	n := int64(C.ssd_opcount_stop((*C.char)(unsafe.Pointer(&buf[0])), C.int64_t(len(buf))))
	if n > int64(len(buf)) {
		buf = make([]byte, n)
		n = int64(C.ssd_opcount_stop((*C.char)(unsafe.Pointer(&buf[0])), C.int64_t(len(buf))))
	}
	if n < 0 {
		return nil, errors.New("CountOps: reading the counts failed")
	}
	counts := map[string]int64{}
	for _, line := range strings.Split(strings.TrimSuffix(string(buf[:n]), "\n"), "\n") {
		if line == "" {
			continue
		}
		name, num, ok := strings.Cut(line, "\t")
		c, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("CountOps: bad line %q", line)
		}
		counts[name] = c
	}
	return counts, fnErr
}
