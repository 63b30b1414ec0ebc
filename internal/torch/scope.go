package torch

import (
	"sync"

	"github.com/sugarme/gotch/ts"
)

// Scope owns the tensors (and scalars) created during one computation and frees them
// together, so that freeing intermediates cannot be forgotten (gotch v0.7.0 has no
// finalizers: a tensor that is not dropped leaks its memory). Typical use:
//
//	s := torch.NewScope()
//	defer s.Close()
//	a := s.T(x.MustMul(y, false))
//	b := s.T(a.MustMulScalar(s.Float(0.5), false))
//	return s.Keep(b.MustSum(gotch.Float, false)) // handed to the caller, not freed
//
// In-place ops on a registered tensor must go through InPlace: gotch's bare in-place
// methods make Close free a fresh handle and leave the tensor itself allocated.
//
// A Scope is safe for concurrent use.
type Scope struct {
	mu      sync.Mutex
	tensors []*ts.Tensor
	scalars []*ts.Scalar
}

// NewScope returns an empty scope.
func NewScope() *Scope { return &Scope{} }

// T registers t with the scope and returns it, for chaining around an op call.
func (s *Scope) T(t *ts.Tensor) *ts.Tensor {
	if t == nil {
		return nil
	}
	s.mu.Lock()
	s.tensors = append(s.tensors, t)
	s.mu.Unlock()
	return t
}

// Ts registers several tensors (e.g. the results of a multi-output op).
func (s *Scope) Ts(ts ...*ts.Tensor) {
	for _, t := range ts {
		s.T(t)
	}
}

// Keep removes t from the scope (every registration of it), so Close leaves it alive; the
// caller now owns it. When t was never registered, Keep registers nothing and returns t
// unchanged.
func (s *Scope) Keep(t *ts.Tensor) *ts.Tensor {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.tensors[:0]
	for _, x := range s.tensors {
		if x != t {
			kept = append(kept, x)
		}
	}
	clear(s.tensors[len(kept):])
	s.tensors = kept
	return t
}

// Float returns a new float scalar (an op argument such as MulScalar's) that the scope
// frees on Close: gotch's scalars live in C memory too.
func (s *Scope) Float(v float64) *ts.Scalar { return s.scalar(ts.FloatScalar(v)) }

// Int returns a new integer scalar that the scope frees on Close.
func (s *Scope) Int(v int64) *ts.Scalar { return s.scalar(ts.IntScalar(v)) }

func (s *Scope) scalar(sc *ts.Scalar) *ts.Scalar {
	s.mu.Lock()
	s.scalars = append(s.scalars, sc)
	s.mu.Unlock()
	return sc
}

// Len reports how many tensors the scope currently owns.
func (s *Scope) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tensors)
}

// Close frees every tensor and scalar the scope owns, tensors in reverse order of
// registration. A tensor registered twice is freed once. Close may be called more than
// once, and the scope may be used again after it.
func (s *Scope) Close() {
	s.mu.Lock()
	tensors, scalars := s.tensors, s.scalars
	s.tensors, s.scalars = nil, nil
	s.mu.Unlock()
	for _, sc := range scalars {
		sc.MustDrop()
	}
	seen := make(map[*ts.Tensor]struct{}, len(tensors))
	for i := len(tensors) - 1; i >= 0; i-- {
		t := tensors[i]
		if _, dup := seen[t]; dup {
			continue
		}
		seen[t] = struct{}{}
		t.MustDrop()
	}
}
