package progress

import (
	"bytes"
	"strings"
	"testing"
)

func TestBar(t *testing.T) {
	var b bytes.Buffer
	bar := New(&b, true, 10, 0)
	bar.Update(5, "images", "5/10", "3 MB/s")
	if got := b.String(); !strings.HasPrefix(got, "\r\033[Kimages [============            ] 5/10  3 MB/s  ETA ") {
		t.Errorf("half: %q", got)
	}
	b.Reset()
	bar.Update(6, "images", "6/10", "") // within 100 ms of the last: not drawn
	if b.Len() != 0 {
		t.Errorf("throttled update drew %q", b.String())
	}
	bar.Update(10, "images", "10/10", "") // the end always draws
	if got := b.String(); !strings.Contains(got, "[========================] 10/10  ETA 0s") {
		t.Errorf("end: %q", got)
	}
	bar.Done()
	if !strings.HasSuffix(b.String(), "\n") {
		t.Error("Done did not end the line")
	}
	// Not a terminal: nothing at all.
	b.Reset()
	quiet := New(&b, false, 10, 0)
	quiet.Update(10, "x", "10/10", "")
	quiet.Done()
	if b.Len() != 0 {
		t.Errorf("wrote %q to a non-terminal", b.String())
	}
	// Unknown total: no fill, no ETA.
	unknown := New(&b, true, 0, 0)
	unknown.Update(123, "file", "123 B", "")
	if got := b.String(); !strings.Contains(got, "[                        ] 123 B  ETA ?") {
		t.Errorf("unknown total: %q", got)
	}
}
