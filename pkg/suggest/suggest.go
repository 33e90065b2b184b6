// Package suggest finds the "did you mean …?" for a mistyped name: a policy
// key, a rule id, a flag, a stack, a Region. One rule everywhere, so every
// error of the project suggests the same way.
package suggest

import "strings"

// Closest returns the candidate nearest to s when s is a plausible typo of
// it (or the start of it, two characters or more), else "". Case is
// ignored; a candidate equal to s ignoring case is returned at once. Ties
// go to the candidate that sorts first, so the answer does not depend on
// the candidates' order.
func Closest(s string, candidates []string) string {
	best, bestDist := "", -1
	ls := strings.ToLower(s)
	for _, c := range candidates {
		lc := strings.ToLower(c)
		if lc == ls {
			return c
		}
		d := Distance(ls, lc)
		if len(s) >= 2 && strings.HasPrefix(lc, ls) {
			d = 1
		}
		if bestDist < 0 || d < bestDist || (d == bestDist && c < best) {
			best, bestDist = c, d
		}
	}
	if bestDist < 0 || bestDist > 3 || bestDist > max(1, len(s)/3) {
		return ""
	}
	return best
}

// Distance is the Levenshtein distance between a and b, in bytes. Strings
// longer than 128 bytes are too long to be typos worth fixing: their
// distance is the longer length.
func Distance(a, b string) int {
	if len(a) > 128 || len(b) > 128 {
		return max(len(a), len(b))
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
