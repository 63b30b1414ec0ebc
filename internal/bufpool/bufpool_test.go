package bufpool

import "testing"

func TestPool(t *testing.T) {
	var p Pool[float32]
	if b := p.Any(); b != nil {
		t.Fatalf("an empty pool gave %d values", len(b))
	}
	b := p.Take(10)
	if len(b) != 10 {
		t.Fatalf("Take(10) gave %d values", len(b))
	}
	b[9] = 7
	p.Put(b[:3]) // kept at its full capacity
	// sync.Pool may drop what it keeps (a collection, another P): only check what comes back.
	if got := p.Any(); got != nil && (len(got) != 10 || got[9] != 7) {
		t.Errorf("Any gave %d values (last %v), want the kept 10", len(got), got[len(got)-1])
	}
	p.Put(make([]float32, 4))
	if got := p.Take(8); len(got) != 8 {
		t.Errorf("Take(8) over a kept slice of 4 gave %d values", len(got))
	}
	p.Put(nil) // ignored
}
