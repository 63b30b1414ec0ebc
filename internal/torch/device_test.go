package torch

import (
	"strings"
	"testing"

	"github.com/sugarme/gotch"
)

func TestParseDeviceCPU(t *testing.T) {
	d, err := ParseDevice("cpu")
	if err != nil || d != gotch.CPU {
		t.Errorf(`ParseDevice("cpu") = %v, %v; want gotch.CPU`, d, err)
	}
}

func TestParseDeviceInvalid(t *testing.T) {
	for _, name := range []string{"", "CPU", " cpu", "gpu", "cuda:", "cuda:x", "cuda:-1", "cuda:+1", "cuda:1.5", "cuda0", "mps"} {
		_, err := ParseDevice(name)
		if err == nil {
			t.Errorf("ParseDevice(%q): no error", name)
			continue
		}
		if !strings.Contains(err.Error(), "device "+quote(name)) {
			t.Errorf("ParseDevice(%q): error %q does not name the device", name, err)
		}
	}
}

func TestParseDeviceCUDA(t *testing.T) {
	if !gotch.CUDA.IsAvailable() {
		for _, name := range []string{"cuda", "cuda:0", "cuda:3"} {
			_, err := ParseDevice(name)
			if err == nil || !strings.Contains(err.Error(), "CUDA is not available") {
				t.Errorf("ParseDevice(%q) without CUDA: error %v, want \"CUDA is not available\"", name, err)
			}
		}
		return
	}
	for name, want := range map[string]int{"cuda": 0, "cuda:0": 0} {
		d, err := ParseDevice(name)
		if err != nil || !d.IsCuda() || d.Value != want {
			t.Errorf("ParseDevice(%q) = %v, %v; want CUDA device %d", name, d, err, want)
		}
	}
	if _, err := ParseDevice("cuda:999"); err == nil {
		t.Error(`ParseDevice("cuda:999"): no error`)
	}
}

func quote(s string) string { return `"` + s + `"` }
