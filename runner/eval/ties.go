package eval

import (
	"math/bits"

	"github.com/ssdrunner/ssdrunner/components/metric"
)

// ReferenceOrder returns dets reordered so that, class by class, they come in the order
// in which eval_ssd.py ranks them: np.argsort(-scores) over the lines of the class's
// det_test file (image order). NumPy's default argsort is an introsort, which is not
// stable: detections of equal score come out in an order that depends on every score of
// the class, and the VOC metric's AP depends on that order when a true and a false
// positive tie. The "voc" metric ranks with a stable sort, so handing it the detections
// in this order reproduces eval_ssd.py's ranking, ties included. Detections of
// different classes keep their relative positions (the metric separates them anyway).
func ReferenceOrder(dets []metric.Detection) []metric.Detection {
	byClass := map[int][]int{}
	var labels []int
	for i, d := range dets {
		if _, ok := byClass[d.Label]; !ok {
			labels = append(labels, d.Label)
		}
		byClass[d.Label] = append(byClass[d.Label], i)
	}
	out := make([]metric.Detection, len(dets))
	copy(out, dets)
	for _, l := range labels {
		idx := byClass[l]
		neg := make([]float64, len(idx))
		for k, i := range idx {
			neg[k] = -dets[i].Score
		}
		order := numpyArgsort(neg)
		// the class's slots, in input order, get its detections in ranking order
		for k, i := range idx {
			out[i] = dets[idx[order[k]]]
		}
	}
	return out
}

// numpyArgsort is NumPy's argsort(kind="quicksort") for float64 (numpy/core/src/npysort/
// quicksort.cpp, aquicksort_, NumPy <= 1.24 and every CPU without AVX-512 in later
// versions): an introsort with median-of-3 partitions, insertion sort for runs of at most
// 16 elements and heapsort past a depth limit. NaNs sort last.
func numpyArgsort(v []float64) []int {
	const smallQuicksort = 15
	n := len(v)
	tosort := make([]int, n)
	for i := range tosort {
		tosort[i] = i
	}
	if n < 2 {
		return tosort
	}
	less := func(a, b float64) bool { return a < b || (b != b && a == a) }
	type frame struct{ pl, pr, depth int }
	var stack []frame
	pl, pr := 0, n-1
	cdepth := (bits.Len(uint(n)) - 1) * 2
	for {
		if cdepth < 0 {
			aheapsort(v, tosort[pl:pr+1], less)
		} else {
			for pr-pl > smallQuicksort {
				pm := pl + (pr-pl)>>1
				if less(v[tosort[pm]], v[tosort[pl]]) {
					tosort[pm], tosort[pl] = tosort[pl], tosort[pm]
				}
				if less(v[tosort[pr]], v[tosort[pm]]) {
					tosort[pr], tosort[pm] = tosort[pm], tosort[pr]
				}
				if less(v[tosort[pm]], v[tosort[pl]]) {
					tosort[pm], tosort[pl] = tosort[pl], tosort[pm]
				}
				vp := v[tosort[pm]]
				pi, pj := pl, pr-1
				tosort[pm], tosort[pj] = tosort[pj], tosort[pm]
				for {
					pi++
					for less(v[tosort[pi]], vp) {
						pi++
					}
					pj--
					for less(vp, v[tosort[pj]]) {
						pj--
					}
					if pi >= pj {
						break
					}
					tosort[pi], tosort[pj] = tosort[pj], tosort[pi]
				}
				pk := pr - 1
				tosort[pi], tosort[pk] = tosort[pk], tosort[pi]
				cdepth--
				// the larger partition waits on the stack
				if pi-pl < pr-pi {
					stack = append(stack, frame{pi + 1, pr, cdepth})
					pr = pi - 1
				} else {
					stack = append(stack, frame{pl, pi - 1, cdepth})
					pl = pi + 1
				}
			}
			for pi := pl + 1; pi <= pr; pi++ { // insertion sort
				vi := tosort[pi]
				vp := v[vi]
				pj := pi
				for pj > pl && less(vp, v[tosort[pj-1]]) {
					tosort[pj] = tosort[pj-1]
					pj--
				}
				tosort[pj] = vi
			}
		}
		if len(stack) == 0 {
			break
		}
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		pl, pr, cdepth = f.pl, f.pr, f.depth
	}
	return tosort
}

// aheapsort is NumPy's aheapsort_ (the introsort's fallback) over the indices tosort.
func aheapsort(v []float64, tosort []int, less func(a, b float64) bool) {
	n := len(tosort)
	a := func(i int) *int { return &tosort[i-1] } // one-based, as NumPy's
	for l := n >> 1; l > 0; l-- {
		tmp := *a(l)
		i, j := l, l<<1
		for j <= n {
			if j < n && less(v[*a(j)], v[*a(j + 1)]) {
				j++
			}
			if less(v[tmp], v[*a(j)]) {
				*a(i) = *a(j)
				i = j
				j += j
			} else {
				break
			}
		}
		*a(i) = tmp
	}
	for ; n > 1; n-- {
		tmp := *a(n)
		*a(n) = *a(1)
		n1 := n - 1
		i, j := 1, 2
		for j <= n1 {
			if j < n1 && less(v[*a(j)], v[*a(j + 1)]) {
				j++
			}
			if less(v[tmp], v[*a(j)]) {
				*a(i) = *a(j)
				i = j
				j += j
			} else {
				break
			}
		}
		*a(i) = tmp
	}
}
