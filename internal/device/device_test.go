package device

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for name, want := range map[string]Name{
		"cpu":     {},
		"cuda":    {CUDA: true},
		"cuda:0":  {CUDA: true},
		"cuda:12": {CUDA: true, Index: 12},
	} {
		if got, err := Parse(name); err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", name, got, err, want)
		}
	}
	for name, want := range map[string]string{
		"": "unknown device", "CPU": "unknown device", " cpu": "unknown device", "gpu": "unknown device",
		"cuda0": "unknown device", "mps": "unknown device",
		"cuda:": "GPU index", "cuda:x": "GPU index", "cuda:-1": "GPU index", "cuda:+1": "GPU index",
		"cuda:1.5": "GPU index", "cuda:99999999999999999999": "GPU index",
	} {
		if _, err := Parse(name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q): error %v, want one containing %q", name, err, want)
		}
	}
}
