// Package bufpool keeps slices that a hot path would otherwise allocate anew on every
// call (decoded pixels, prepared images, scratch images): a sync.Pool of slices of one
// element type, which the garbage collector may empty at any time.
package bufpool

import "sync"

// Pool keeps slices of T. The zero Pool is ready to use; it is safe for concurrent use.
type Pool[T any] struct{ p sync.Pool }

// Any returns a kept slice at its full capacity, with whatever it held, or nil when none
// is kept: for a callee that writes into a destination it is given when that is large
// enough and allocates otherwise.
func (p *Pool[T]) Any() []T {
	if b, ok := p.p.Get().(*[]T); ok {
		return (*b)[:cap(*b)]
	}
	return nil
}

// Take returns a slice of length n: a kept one when it has the capacity (with whatever it
// held), else a new one (a kept one too small is dropped).
func (p *Pool[T]) Take(n int) []T {
	if b := p.Any(); cap(b) >= n {
		return b[:n]
	}
	return make([]T, n)
}

// Put keeps b for a later Any or Take; the caller must not use it afterwards. A nil or
// empty slice is ignored.
func (p *Pool[T]) Put(b []T) {
	if cap(b) > 0 {
		p.p.Put(&b)
	}
}
