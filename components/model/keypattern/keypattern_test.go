package keypattern

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	if err := Check([]string{"fc", "fc.*", "layer[1-4]", "*.num_batches_tracked", "layer4."}); err != nil {
		t.Errorf("valid patterns refused: %v", err)
	}
	for _, c := range []struct {
		patterns []string
		want     string
	}{
		{[]string{"fc", "layer[4"}, `entry "layer[4" is not a valid glob`},
		{[]string{"[a-"}, `entry "[a-" is not a valid glob`},
		{[]string{"fc", ""}, `entry "" is not a valid glob`},
	} {
		if err := Check(c.patterns); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Check(%q): %v, want an error containing %q", c.patterns, err, c.want)
		}
	}
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		p, key string
		want   bool
	}{
		{"fc", "fc.weight", true},
		{"fc", "fc", true},
		{"fc", "fc2.weight", false},
		{"fc.*", "fc.weight", true},
		{"layer4", "layer4.0.conv1.weight", true},
		{"layer4.", "layer4.0.conv1.weight", true},
		{"layer[34].*", "layer3.1.bn1.bias", true},
		{"layer[34].*", "layer2.1.bn1.bias", false},
		{"layer[34]", "layer3.1.bn1.bias", false}, // a glob takes whole keys; only plain names take modules
		{"*.num_batches_tracked", "bn1.num_batches_tracked", true},
		{"*", "a.b", true},
	} {
		if got := Match(c.p, c.key); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.p, c.key, got, c.want)
		}
	}
}
