package nmsconfig

import (
	"errors"
	"math"
	"slices"
	"testing"
)

// options lists the options err's *OptionErrors name, in order.
func options(err error) []string {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else if err != nil {
		errs = []error{err}
	}
	var out []string
	for _, e := range errs {
		var oe *OptionError
		if errors.As(e, &oe) {
			out = append(out, oe.Option)
		} else {
			out = append(out, "?"+e.Error())
		}
	}
	return out
}

func TestValidateOptions(t *testing.T) {
	ref := Config{Method: Hard, IoUThreshold: 0.45, ScoreThreshold: 0.01, CandidateSize: 200, Sigma: 0.5}
	for _, c := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"reference", ref, nil},
		{"unused by hard", Config{Method: Hard, IoUThreshold: 0.5, Sigma: -1, CandidateSize: -3, TopK: -1}, nil},
		{"unused by soft", Config{Method: Soft, IoUThreshold: 7, Sigma: 0.5}, nil},
		{"bad method", Config{Method: "greedy", IoUThreshold: 9, Sigma: -1}, []string{"method"}},
		{"hard, all wrong", Config{Method: Hard, IoUThreshold: math.NaN(), ScoreThreshold: 2}, []string{"iou_threshold", "score_threshold"}},
		{"soft, all wrong", Config{Method: Soft, ScoreThreshold: -1, Sigma: math.Inf(1)}, []string{"score_threshold", "sigma"}},
	} {
		if got := options(c.cfg.Validate()); !slices.Equal(got, c.want) {
			t.Errorf("%s: Validate names %v, want %v", c.name, got, c.want)
		}
	}
	err := Config{Method: Soft, Sigma: 0}.Validate()
	if want := "postprocess: sigma must be a positive number, got 0"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}
