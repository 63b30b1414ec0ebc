package plan

import (
	"reflect"
	"testing"
)

func TestSampleEpochs(t *testing.T) {
	if got := sampleEpochs(200); !reflect.DeepEqual(got, []int{0, 1, 50, 100, 150, 199}) {
		t.Errorf("sampleEpochs(200) = %v", got)
	}
	if got := sampleEpochs(1); !reflect.DeepEqual(got, []int{0}) {
		t.Errorf("sampleEpochs(1) = %v", got)
	}
}
