package registry

import "strings"

// Suggest returns the candidate closest to name, or "" when none is close enough to be a
// likely typo. Case, '-' and '_' differences are ignored first ("mb2_ssd_lite" finds
// "mb2-ssd-lite"), then a candidate that the name starts ("vgg" finds "vgg16"); otherwise
// the smallest edit distance wins if it is at most a third of the longer name's length
// (at least 1, at most 3).
func Suggest(name string, candidates []string) string {
	norm := func(s string) string {
		return strings.NewReplacer("-", "", "_", "", " ", "").Replace(strings.ToLower(s))
	}
	n := norm(name)
	for _, c := range candidates {
		if norm(c) == n {
			return c
		}
	}
	if len(n) >= 3 {
		for _, c := range candidates {
			if strings.HasPrefix(norm(c), n) {
				return c
			}
		}
	}
	best, bestD := "", 0
	for _, c := range candidates {
		nc := norm(c)
		limit := min(3, max(1, max(len([]rune(n)), len([]rune(nc)))/3))
		if d := distance(n, nc); d <= limit && (best == "" || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}

// distance is the optimal-string-alignment edit distance (insert, delete, substitute and
// swap of two neighbours each cost 1).
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
