package main

import (
	"bufio"
	"cmp"
	"container/heap"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/rules"
	"github.com/bedrock-warden/warden/pkg/safetext"
)

// The findings of `warden check` are printed sorted (severity, then event
// time, then input order), so they are kept until the input ends. To keep
// memory bounded whatever the input's size, they are kept in memory only
// up to spillBytes; beyond that each sorted run goes to a temporary file
// and the output merges the runs. The table's column widths are tracked as
// findings arrive, so the table too is written row by row.

// spillBytes is how much finding data is kept in memory before a sorted
// run is written to a temporary file.
var spillBytes = 8 << 20

// held is one finding with its sort key.
type held struct {
	Rank int              `json:"r"`
	Time time.Time        `json:"t"`
	Seq  int64            `json:"s"`
	F    findings.Finding `json:"f"`
	size int              // estimated bytes in memory
}

func less(a, b *held) int {
	if c := cmp.Compare(b.Rank, a.Rank); c != 0 {
		return c
	}
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	return cmp.Compare(a.Seq, b.Seq)
}

const tableCols = 8

// findingsTable is the layout of check's table: who and which model
// matter most, so on a narrow terminal EVENT, TIME and SOURCE go first.
func findingsTable() *table {
	return &table{
		header:   []string{"SEVERITY", "RULE", "TIME", "PRINCIPAL", "MODEL", "REGION", "SOURCE", "EVENT"},
		shrink:   map[int]bool{3: true, 4: true, 5: true, 6: true, 7: true},
		minWidth: map[int]int{3: 12, 4: 12, 5: 9},
		drop:     []int{7, 2, 6},
	}
}

// collector keeps findings for sorted output.
type collector struct {
	mem     []held
	bytes   int
	runs    []*os.File
	n       int64
	summary map[findings.Severity]int
	widths  [tableCols]int
}

func newCollector() *collector {
	c := &collector{summary: map[findings.Severity]int{}}
	copy(c.widths[:], findingsTable().headerWidths())
	return c
}

// add keeps a copy of f that shares no memory with the record it came from.
func (c *collector) add(f *findings.Finding) error {
	h := held{Rank: f.Severity.Rank(), Time: f.EventTime, Seq: c.n, F: detach(f)}
	c.n++
	c.summary[f.Severity]++
	for i, cell := range c.cells(&h.F) {
		c.widths[i] = max(c.widths[i], utf8.RuneCountInString(cell.text))
	}
	h.size = size(&h.F)
	c.mem = append(c.mem, h)
	c.bytes += h.size
	if c.bytes > spillBytes {
		return c.spill()
	}
	return nil
}

// total is the number of findings.
func (c *collector) total() int { return int(c.n) }

// detach copies every string of f, so that a kept finding does not keep
// the decoded record (its whole JSON text) alive.
func detach(f *findings.Finding) findings.Finding {
	g := *f
	for _, s := range []*string{&g.Rule, &g.Title, &g.EventID, &g.EventName, &g.EventSource, &g.Account,
		&g.Region, &g.InferenceRegion, &g.Principal, &g.PrincipalType, &g.SessionName, &g.AccessKeyID,
		&g.Model, &g.BaseModel, &g.ModelKind, &g.SourceIP, &g.SourceService, &g.VPCEndpointID,
		&g.UserAgent, &g.ErrorCode, &g.Reason, &g.Fingerprint} {
		*s = strings.Clone(*s)
	}
	if f.Details != nil {
		g.Details = make(map[string]string, len(f.Details))
		for k, v := range f.Details {
			g.Details[strings.Clone(k)] = strings.Clone(v)
		}
	}
	return g
}

// size estimates the memory a kept finding takes.
func size(f *findings.Finding) int {
	n := 512
	for _, s := range []string{f.Title, f.EventID, f.EventName, f.Principal, f.Model, f.BaseModel,
		f.SourceIP, f.UserAgent, f.Reason, f.Fingerprint, f.Account, f.Region} {
		n += len(s)
	}
	for k, v := range f.Details {
		n += len(k) + len(v) + 32
	}
	return n
}

// spill writes the findings in memory, sorted, to a temporary file.
func (c *collector) spill() error {
	slices.SortFunc(c.mem, func(a, b held) int { return less(&a, &b) })
	f, err := os.CreateTemp("", "warden-check-*.jsonl")
	if err != nil {
		return fmt.Errorf("findings overflow file: %w", err)
	}
	// Unlinked at once: the file disappears with the process.
	os.Remove(f.Name())
	w := bufio.NewWriterSize(f, 64<<10)
	enc := json.NewEncoder(w)
	for i := range c.mem {
		if err := enc.Encode(&c.mem[i]); err != nil {
			f.Close()
			return fmt.Errorf("findings overflow file: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("findings overflow file: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return fmt.Errorf("findings overflow file: %w", err)
	}
	c.runs = append(c.runs, f)
	c.mem, c.bytes = c.mem[:0], 0
	return nil
}

// close removes the temporary files.
func (c *collector) close() {
	for _, f := range c.runs {
		f.Close()
	}
	c.runs = nil
}

// each calls fn with every finding in order.
func (c *collector) each(fn func(f *findings.Finding) error) error {
	slices.SortFunc(c.mem, func(a, b held) int { return less(&a, &b) })
	if len(c.runs) == 0 {
		for i := range c.mem {
			if err := fn(&c.mem[i].F); err != nil {
				return err
			}
		}
		return nil
	}
	// Merge the runs on disk and the one in memory.
	var m merger
	for _, f := range c.runs {
		src := &runSource{dec: json.NewDecoder(bufio.NewReaderSize(f, 64<<10))}
		if err := src.next(); err != nil {
			return err
		}
		if src.ok {
			m = append(m, src)
		}
	}
	if len(c.mem) > 0 {
		m = append(m, &runSource{mem: c.mem, ok: true, cur: c.mem[0]})
	}
	heap.Init(&m)
	for len(m) > 0 {
		src := m[0]
		if err := fn(&src.cur.F); err != nil {
			return err
		}
		if err := src.next(); err != nil {
			return err
		}
		if src.ok {
			heap.Fix(&m, 0)
		} else {
			heap.Pop(&m)
		}
	}
	return nil
}

// runSource is one sorted run: a file or the findings in memory.
type runSource struct {
	dec *json.Decoder
	mem []held
	i   int
	cur held
	ok  bool
}

func (s *runSource) next() error {
	if s.dec == nil {
		s.i++
		s.ok = s.i < len(s.mem)
		if s.ok {
			s.cur = s.mem[s.i]
		}
		return nil
	}
	s.cur = held{}
	err := s.dec.Decode(&s.cur)
	switch {
	case err == io.EOF:
		s.ok = false
		return nil
	case err != nil:
		return fmt.Errorf("findings overflow file: %w", err)
	}
	s.ok = true
	return nil
}

type merger []*runSource

func (m merger) Len() int           { return len(m) }
func (m merger) Less(i, j int) bool { return less(&m[i].cur, &m[j].cur) < 0 }
func (m merger) Swap(i, j int)      { m[i], m[j] = m[j], m[i] }
func (m *merger) Push(x any)        { *m = append(*m, x.(*runSource)) }
func (m *merger) Pop() any {
	old := *m
	x := old[len(old)-1]
	*m = old[:len(old)-1]
	return x
}

// cells are a finding's table cells, every value neutralised
// (safetext), the severity coloured when colour is on.
func (c *collector) cells(f *findings.Finding) []cell {
	when := "-"
	if !f.EventTime.IsZero() {
		when = f.EventTime.UTC().Format("2006-01-02 15:04:05")
	}
	region := dash(f.Region)
	if f.InferenceRegion != "" && f.InferenceRegion != f.Region {
		region += "→" + safetext.Line(f.InferenceRegion)
	}
	model := f.BaseModel
	if model == "" {
		model = f.Model
	}
	row := plainCells(strings.ToUpper(string(f.Severity)), f.Rule, when, rules.ShortPrincipal(f.Principal))
	row = append(row, cell{text: dash(model)}, cell{text: region}, cell{text: dash(f.SourceIP)}, cell{text: dash(f.EventName)})
	row[0].colour = sevColour[f.Severity]
	return row
}

// writeTable writes the aligned table one row at a time: the column
// widths were measured as findings arrived, so the table fits width (a
// terminal's; ≤ 0 no limit) without holding every row.
func (c *collector) writeTable(w io.Writer, colour bool, width int) error {
	if c.n == 0 {
		return nil
	}
	t := findingsTable()
	keep, widths := t.fit(c.widths[:], width)
	bw := bufio.NewWriter(w)
	t.line(bw, t.headerCells(), keep, widths, colour)
	err := c.each(func(f *findings.Finding) error {
		t.line(bw, c.cells(f), keep, widths, colour)
		return nil
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

// writeJSON writes one finding per line.
func (c *collector) writeJSON(w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	err := c.each(func(f *findings.Finding) error { return enc.Encode(f) })
	if err != nil {
		return err
	}
	return bw.Flush()
}

// printTable writes fs as check's table, in check's order (severity, then
// time, then the order of fs).
func printTable(w io.Writer, fs []findings.Finding, colour bool, width int) error {
	c := newCollector()
	defer c.close()
	for i := range fs {
		if err := c.add(&fs[i]); err != nil {
			return err
		}
	}
	return c.writeTable(w, colour, width)
}

// printFindings prints fs in check's order: one JSON object per line, or
// the table (coloured and fitted to a terminal).
func printFindings(sio *IO, fs []findings.Finding, asJSON bool) error {
	c := newCollector()
	defer c.close()
	for i := range fs {
		if err := c.add(&fs[i]); err != nil {
			return err
		}
	}
	if asJSON {
		return c.writeJSON(sio.Stdout)
	}
	return c.writeTable(sio.Stdout, colourOn(sio), sio.Width)
}

// summary is summaryCounts of fs.
func summary(fs []findings.Finding) string {
	counts := map[findings.Severity]int{}
	for _, f := range fs {
		counts[f.Severity]++
	}
	return summaryCounts(len(fs), counts)
}
