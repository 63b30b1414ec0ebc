package eval

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/ssdrunner/ssdrunner/internal/reftest"
	"github.com/ssdrunner/ssdrunner/internal/rng"
)

// TestNumpyArgsortMatchesReference compares numpyArgsort with NumPy's np.argsort on arrays full of ties
// (where the order of equal values is the algorithm's signature), of sizes that take
// the insertion sort, the quicksort partitions and the heapsort fallback's inputs.
func TestNumpyArgsortMatchesReference(t *testing.T) {
	reftest.RequirePython(t, "numpy")
	r := rng.New(3).SplitMix64()
	var cases [][]float64
	for _, n := range []int{0, 1, 2, 5, 16, 17, 18, 40, 100, 1000, 5000} {
		for _, distinct := range []int{1, 2, 3, 7, 50} {
			v := make([]float64, n)
			for i := range v {
				v[i] = -float64(r.IntN(distinct)) / 8
			}
			cases = append(cases, v)
		}
	}
	// an adversarial-ish input: sorted with many ties
	sorted := make([]float64, 3000)
	for i := range sorted {
		sorted[i] = float64(i / 7)
	}
	cases = append(cases, sorted)
	js, _ := json.Marshal(cases)
	prog := "import json,sys,numpy as np\nc=json.load(sys.stdin)\nprint(json.dumps([np.argsort(np.array(v,dtype=np.float64)).tolist() for v in c]))"
	cmd := exec.Command(reftest.Python(), "-c", prog)
	cmd.Stdin = strings.NewReader(string(js))
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var want [][]int
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	for i, v := range cases {
		if got := numpyArgsort(v); !slices.Equal(got, want[i]) {
			t.Errorf("case %d (n=%d): order differs from NumPy's%s", i, len(v), firstDiff(got, want[i]))
		}
	}
}

func firstDiff(a, b []int) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf(" at %d: %d, numpy %d", i, a[i], b[i])
		}
	}
	return ""
}
