package glob

// Witness returns a shortest string that both patterns match, and false
// when no string matches both. Where the patterns leave a character free
// (a '?' or '*' meeting a '?' or '*'), the witness uses fill.
//
// It answers "can these two patterns meet?" — a policy's Resource pattern
// and the family of resources a question is about — and gives a concrete
// member of the overlap to evaluate. The search runs over pairs of pattern
// positions as a 0-1 breadth-first search (leaving a '*' costs nothing,
// each character costs one), in O(len(a)·len(b)) time.
func Witness(a, b string, fill byte) (string, bool) {
	w := len(b) + 1
	n := (len(a) + 1) * w
	const inf = int(^uint(0) >> 1)
	dist := make([]int, n)
	prev := make([]int, n)  // the state this one was reached from
	char := make([]int, n)  // the character consumed to reach it, -1 for a free step
	done := make([]bool, n) // settled
	for i := range dist {
		dist[i] = inf
	}
	dist[0], prev[0], char[0] = 0, -1, -1
	deque := []int{0}
	relax := func(from, to, cost, c int) {
		if d := dist[from] + cost; d < dist[to] {
			dist[to], prev[to], char[to] = d, from, c
			if cost == 0 {
				deque = append([]int{to}, deque...)
			} else {
				deque = append(deque, to)
			}
		}
	}
	goal := n - 1
	for len(deque) > 0 {
		s := deque[0]
		deque = deque[1:]
		if done[s] {
			continue
		}
		done[s] = true
		if s == goal {
			break
		}
		i, j := s/w, s%w
		if i < len(a) && a[i] == '*' {
			relax(s, (i+1)*w+j, 0, -1)
		}
		if j < len(b) && b[j] == '*' {
			relax(s, i*w+j+1, 0, -1)
		}
		if i == len(a) || j == len(b) {
			// One side is exhausted: only its trailing '*' steps remain,
			// and no character can be consumed by both.
			continue
		}
		ca, cb := a[i], b[j]
		var c byte
		switch {
		case ca != '*' && ca != '?':
			c = ca
		case cb != '*' && cb != '?':
			c = cb
		default:
			c = fill
		}
		ni, okA := advance(ca, c, i)
		nj, okB := advance(cb, c, j)
		if okA && okB {
			relax(s, ni*w+nj, 1, int(c))
		}
	}
	if dist[goal] == inf {
		return "", false
	}
	var rev []byte
	for s := goal; s > 0; s = prev[s] {
		if char[s] >= 0 {
			rev = append(rev, byte(char[s]))
		}
	}
	out := make([]byte, len(rev))
	for k := range rev {
		out[k] = rev[len(rev)-1-k]
	}
	// The byte-wise search treats a multi-byte character under '?' as
	// several; the answer is only given when it really matches.
	if !Match(a, string(out)) || !Match(b, string(out)) {
		return "", false
	}
	return string(out), true
}

// advance returns the position a pattern is at after consuming c at
// position i, whose pattern character is pc. A '*' stays where it is (that
// it may also end before c is the free step the search takes separately).
func advance(pc, c byte, i int) (int, bool) {
	switch pc {
	case '*':
		return i, true
	case '?':
		return i + 1, true
	}
	if pc == c {
		return i + 1, true
	}
	return 0, false
}
