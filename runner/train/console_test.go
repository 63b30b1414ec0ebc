package train

import (
	"bytes"
	"strings"
	"testing"
)

func TestConsoleBar(t *testing.T) {
	var b bytes.Buffer
	c := newConsole(&b, true)
	bar := c.startEpoch(3, 8, 400, 0)
	bar.update(120, 4.1234, 16.4, map[string]float64{"heads": 0.01, "base_net": 0.005})
	want := "\r\033[Kepoch 3/8 [=======                 ] 120/400  16.4 img/s  loss 4.1234  lr base_net 0.005, heads 0.01  ETA "
	if !strings.HasPrefix(b.String(), want) {
		t.Errorf("bar %q, want the prefix %q", b.String(), want)
	}
	bar.done()
	if !strings.HasSuffix(b.String(), "\n") {
		t.Error("done did not end the line")
	}
	// Not a terminal: no bar.
	b.Reset()
	c = newConsole(&b, false)
	bar = c.startEpoch(1, 1, 10, 0)
	bar.update(10, 1, 1, nil)
	bar.done()
	if b.Len() != 0 {
		t.Errorf("wrote %q without a terminal", b.String())
	}
}
