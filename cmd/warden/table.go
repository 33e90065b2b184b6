package main

import (
	"io"
	"strings"
	"unicode/utf8"

	"github.com/bedrock-warden/warden/pkg/safetext"
)

// table is an aligned text table. Cells are measured in runes of the text
// people see: colour is added after padding, so escape codes never count
// as width. With a width limit (a terminal's), the shrinkable columns give
// up characters, widest first, and their cells end in "…".
type table struct {
	header []string
	rows   [][]cell
	// shrink marks the columns that may be cut to fit; the others keep
	// their width (severities, times, ids).
	shrink map[int]bool
	// drop lists the columns left out, in this order, when the table
	// cannot fit even with every shrinkable column at its narrowest.
	drop []int
	// minWidth overrides minShrunk per column.
	minWidth map[int]int
}

// narrowest is how far column i may shrink.
func (t *table) narrowest(i int) int {
	if m, ok := t.minWidth[i]; ok {
		return m
	}
	return minShrunk
}

// cell is one table cell: text (already neutralised) and an optional SGR
// colour code ("31" red, "1;31" bold red) used only when colour is on.
type cell struct {
	text   string
	colour string
}

// minShrunk is the narrowest a shrinkable column gets.
const minShrunk = 8

// plainCells makes a row of uncoloured cells; every value passes through
// safetext.Line, as anything event-derived must before a person sees it.
func plainCells(values ...string) []cell {
	out := make([]cell, len(values))
	for i, v := range values {
		out[i] = cell{text: safetext.Line(v)}
	}
	return out
}

// render writes the table. width ≤ 0 means no limit.
func (t *table) render(w io.Writer, width int, colour bool) error {
	widths := t.headerWidths()
	for _, r := range t.rows {
		for i := 0; i < len(widths) && i < len(r); i++ {
			widths[i] = max(widths[i], utf8.RuneCountInString(r[i].text))
		}
	}
	keep, widths := t.fit(widths, width)
	var b strings.Builder
	t.line(&b, t.headerCells(), keep, widths, colour)
	for _, r := range t.rows {
		t.line(&b, r, keep, widths, colour)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// headerWidths are the header's widths, where column widths start.
func (t *table) headerWidths() []int {
	widths := make([]int, len(t.header))
	for i, h := range t.header {
		widths[i] = utf8.RuneCountInString(h)
	}
	return widths
}

func (t *table) headerCells() []cell {
	head := make([]cell, len(t.header))
	for i, h := range t.header {
		head[i] = cell{text: h}
	}
	return head
}

// gap is the space between columns.
const gap = 2

// fit decides, for column widths measured over every row, which columns
// are kept and how wide each is within width (≤ 0: no limit). A caller
// that streams rows (warden check's bounded-memory output) measures as
// rows arrive, fits once, then writes each row with line.
func (t *table) fit(widths []int, width int) (keep []bool, fitted []int) {
	n := len(t.header)
	widths = append([]int(nil), widths...)
	keep = make([]bool, n)
	for i := range keep {
		keep[i] = true
	}
	if width <= 0 {
		return keep, widths
	}
	total := func(narrowest bool) int {
		s := 0
		cols := 0
		for i, x := range widths {
			if !keep[i] {
				continue
			}
			if narrowest && t.shrink[i] {
				x = min(x, t.narrowest(i))
			}
			s += x
			cols++
		}
		return s + gap*max(cols-1, 0)
	}
	for _, col := range t.drop {
		if total(true) <= width {
			break
		}
		keep[col] = false
	}
	for total(false) > width {
		// Take one character from the widest shrinkable column.
		col := -1
		for i := range widths {
			if keep[i] && t.shrink[i] && widths[i] > t.narrowest(i) && (col < 0 || widths[i] > widths[col]) {
				col = i
			}
		}
		if col < 0 {
			break // nothing left to give: let the terminal wrap
		}
		widths[col]--
	}
	return keep, widths
}

// line writes one row laid out by fit.
func (t *table) line(b interface{ WriteString(string) (int, error) }, cells []cell, keep []bool, widths []int, colour bool) {
	last := -1
	for i := range keep {
		if keep[i] {
			last = i
		}
	}
	for i := range keep {
		if !keep[i] {
			continue
		}
		var c cell
		if i < len(cells) {
			c = cells[i]
		}
		text := fit(c.text, widths[i])
		pad := widths[i] - utf8.RuneCountInString(text)
		if colour && c.colour != "" {
			b.WriteString("\x1b[" + c.colour + "m" + text + "\x1b[0m")
		} else {
			b.WriteString(text)
		}
		if i < last {
			b.WriteString(strings.Repeat(" ", pad+gap))
		}
	}
	b.WriteString("\n")
}

// fit cuts s to at most n runes, ending in "…" when cut.
func fit(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 1 {
		return "…"
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// colourOn reports whether output to stdout may carry colour: a terminal,
// NO_COLOR unset or empty (https://no-color.org), TERM not "dumb".
func colourOn(sio *IO) bool {
	if !sio.IsTerminal {
		return false
	}
	get := sio.Getenv
	if get == nil {
		return true
	}
	return get("NO_COLOR") == "" && !strings.EqualFold(get("TERM"), "dumb")
}
