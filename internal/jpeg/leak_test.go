package jpeg

import (
	"testing"

	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// TestNoLeak decodes every fixture, and bad data, many times: the C heap (where TurboJPEG
// allocates its decompressors and libjpeg its working memory) and the RSS must not grow.
func TestNoLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	var inputs [][]byte
	for _, name := range fixtures(t) {
		data := readFixture(t, name)
		inputs = append(inputs, data, data[:len(data)/2], data[:300])
	}
	inputs = append(inputs, vocSizedJPEG(t), []byte("not a jpeg"))
	const steps = 200
	g, err := torch.MeasureGrowth(20, steps, func(int) error {
		for _, data := range inputs {
			_, _ = DecodeHeader("leak.jpg", data)
			_, _ = Decode("leak.jpg", data, 0)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d steps of %d decodes: C heap %+d bytes (%.1f per step), RSS %+d KiB", g.Steps, 2*len(inputs), g.Malloc, g.MallocPerStep(), g.RSS/1024)
	// A leaked decompressor is several KiB; a leaked VOC-sized image 750 KB.
	if g.MallocPerStep() > 256 || g.RSS > 16<<20 {
		t.Errorf("memory grows: C heap %.1f bytes per step, RSS %+d KiB over %d steps", g.MallocPerStep(), g.RSS/1024, g.Steps)
	}
}
