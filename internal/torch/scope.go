package torch

import (
	"sync"

	"github.com/sugarme/gotch/ts"
)

// Scope owns the tensors created during one computation and frees them together, so that
// freeing intermediates cannot be forgotten (gotch v0.7.0 has no finalizers: a tensor
// that is not dropped leaks its memory). Typical use:
//
//	s := torch.NewScope()
//	defer s.Close()
//	a := s.T(x.MustMul(y, false))
//	b := s.T(a.MustAdd(z, false))
//	return s.Keep(b.MustSum(gotch.Float, false)) // handed to the caller, not freed
//
// A Scope is safe for concurrent use.
type Scope struct {
	mu      sync.Mutex
	tensors []*ts.Tensor
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

// Keep removes t from the scope, so Close leaves it alive; the caller now owns it. When
// t was never registered, Keep registers nothing and returns t unchanged.
func (s *Scope) Keep(t *ts.Tensor) *ts.Tensor {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.tensors) - 1; i >= 0; i-- {
		if s.tensors[i] == t {
			s.tensors = append(s.tensors[:i], s.tensors[i+1:]...)
			break
		}
	}
	return t
}

// Len reports how many tensors the scope currently owns.
func (s *Scope) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tensors)
}

// Close frees every tensor the scope owns, in reverse order of registration. A tensor
// registered twice is freed once. Close may be called more than once.
func (s *Scope) Close() {
	s.mu.Lock()
	tensors := s.tensors
	s.tensors = nil
	s.mu.Unlock()
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
