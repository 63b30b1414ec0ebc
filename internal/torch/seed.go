package torch

// #include <stdint.h>
// void at_manual_seed(int64_t seed);
import "C"

// ManualSeed seeds libtorch's default random generators (torch.manual_seed), which
// drive random tensor creation (ts.Randn…) and gotch's nn initialisers.
func ManualSeed(seed int64) { C.at_manual_seed(C.int64_t(seed)) }
