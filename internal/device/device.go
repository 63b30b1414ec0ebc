// Package device holds the rule for device names ("cpu", "cuda", "cuda:N"), as PyTorch
// spells them. It does not need libtorch, so that checking an experiment file can use the
// same rule as internal/torch.ParseDevice, which adds what only the machine that runs can
// tell (whether that CUDA device exists).
package device

import (
	"errors"
	"strconv"
	"strings"
)

// Name is a parsed device name.
type Name struct {
	CUDA  bool // false: the CPU
	Index int  // the GPU index of a CUDA device ("cuda" is 0)
}

// Parse parses a device name: "cpu", "cuda" (the first GPU) or "cuda:N" with N a decimal
// number >= 0. The error says what is wrong without repeating the name (callers name it).
func Parse(name string) (Name, error) {
	switch {
	case name == "cpu":
		return Name{}, nil
	case name == "cuda":
		return Name{CUDA: true}, nil
	case strings.HasPrefix(name, "cuda:"):
		digits := name[len("cuda:"):]
		n, err := strconv.Atoi(digits)
		if err != nil || strings.Trim(digits, "0123456789") != "" {
			return Name{}, errors.New("the GPU index must be a number >= 0, as in cuda:0")
		}
		return Name{CUDA: true, Index: n}, nil
	}
	return Name{}, errors.New("unknown device; expected cpu, cuda or cuda:N")
}
