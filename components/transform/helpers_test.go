package transform

import (
	"testing"

	"github.com/ssdrunner/ssdrunner/registry"
)

func refOf(typ string, opts map[string]any) registry.Ref {
	return registry.Ref{Type: typ, Options: opts}
}

// stepsChain builds the chain of individual steps that equals the "ssd" preset c.
func stepsChain(tb testing.TB, c SSDConfig) Chain {
	tb.Helper()
	m, _ := perChannel("mean", c.Mean)
	s, _ := stdChannels("std", c.Std)
	return Chain{
		&photometric{cfg: c.Photometric},
		&expand{opts: c.Expand, fill: m},
		&minIoUCrop{cfg: c.Crop},
		&hflip{cfg: c.Flip},
		&resize{cfg: ResizeConfig{Size: c.Size}},
		&normalize{a: &affine{mean: m, std: s}},
	}
}
