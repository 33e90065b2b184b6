package report

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/bedrock-warden/warden/bench/awscalls"
	"github.com/bedrock-warden/warden/bench/process"
)

// The goals of issue 14 ("one pass over the bytes, in bounded memory, at a
// known cost"), judged on this run's figures. Fixed here; never derived
// from the figures.

// Limits of the goals.
const (
	mib64 = 64 << 10 // KiB: the CLI's bounded-memory goal (64 MiB)
	mb64  = 62500    // KiB: the Lambda's (64 MB = 64,000,000 bytes)
)

// ratioSpread returns, per round, a's events/s over b's (b's ns/event over
// a's) for two in-process benchmarks of the same rounds.
func (r *Results) ratioSpread(a, b string) (process.Spread, bool) {
	var ra, rb []Bench
	for _, rs := range r.BenchRounds {
		if len(rs) == 0 {
			continue
		}
		switch rs[0].Key {
		case a:
			ra = rs
		case b:
			rb = rs
		}
	}
	if len(ra) == 0 || len(ra) != len(rb) {
		return process.Spread{}, false
	}
	var xs []float64
	for i := range ra {
		if ra[i].NsPerEvent > 0 {
			xs = append(xs, rb[i].NsPerEvent/ra[i].NsPerEvent)
		}
	}
	return process.SpreadOf(xs), len(xs) > 0
}

func spread(s process.Spread) string {
	return fmt.Sprintf("%.2f × (min %.2f, max %.2f)", s.Median, s.Min, s.Max)
}

// OnePassGoals judges issue 14's goals.
func OnePassGoals(r *Results) []Goal {
	var out []Goal
	add := func(goal, fig string, ok, measured bool) {
		if !measured {
			out = append(out, Goal{goal, "–", NotMeasured})
			return
		}
		out = append(out, Goal{goal, fig, status(ok)})
	}
	s, ok := r.ratioSpread("decode-valid", "valid")
	add("one pass: the decoder's validating walk (`decode.Valid`) ≥ 1.0 × `json.Valid` events/s (median of paired rounds)", spread(s), s.Median >= 1, ok)
	if p := r.Process; p != nil {
		for _, c := range p.Comparisons {
			add(fmt.Sprintf("whole process, %s: `warden check` ≥ 1.0 × the `json.Valid` program's events/s (wall, median of %d paired rounds)", c.Input, len(c.Rounds)),
				spread(c.ValidWall)+fmt.Sprintf("; CPU %.2f ×", c.ValidCPU.Median), c.ValidWall.Median >= 1, true)
			add(fmt.Sprintf("whole process, %s: `warden check` ≥ 4 × the Python baseline's events/s (wall, median)", c.Input),
				spread(c.PyWall)+fmt.Sprintf("; CPU %.2f ×", c.PyCPU.Median), c.PyWall.Median >= 4, true)
		}
		for _, m := range p.Memory {
			switch m.Name {
			case "file", "stdin":
				add(fmt.Sprintf("bounded memory: %s of %s accepted and judged in ≤ 64 MiB peak RSS", m.Input, mbBytes(m.Bytes)),
					fmt.Sprintf("%s, exit %d, %s", mb(m.Run.PeakKB), m.Run.Exit, m.Run.Wall.Round(time.Second)), m.Run.PeakKB <= mib64 && m.Run.Exit == 1, true)
			case "gzip bomb":
				add(fmt.Sprintf("gzip bomb (%s compressed, 1 GiB inflated): refused with a clear error, ≤ 64 MiB peak RSS", mbBytes(m.Bytes)),
					fmt.Sprintf("%s, exit %d, %s", mb(m.Run.PeakKB), m.Run.Exit, m.Run.Wall.Round(time.Millisecond)),
					m.Run.PeakKB <= mib64 && m.Run.Exit == 2 && strings.Contains(m.Run.Stderr, "decompression bomb"), true)
			case "named pipe":
				add("a named pipe in a directory is refused by name, never opened (no hang)",
					fmt.Sprintf("exit %d in %s: %q", m.Run.Exit, m.Run.Wall.Round(time.Millisecond), m.Summary), m.Run.Exit == 2 && strings.Contains(m.Summary, "named pipe"), true)
			}
		}
	} else {
		add("whole process and bounded memory", "", false, false)
	}
	c := r.ColdStart
	if c != nil && len(c.RSS) > 0 {
		m := c.RSS[0]
		add(fmt.Sprintf("Lambda: real bootstrap peak RSS ≤ 64 MB on a %s-record SQS batch (Runtime API harness)", thousands(m.Records)),
			fmt.Sprintf("%s (a do-nothing raw-bytes aws-lambda-go bootstrap: %s)", mbDec(m.PeakKB), mbDec(m.FloorKB)), m.PeakKB <= mb64, true)
	} else {
		add("Lambda: real bootstrap peak RSS ≤ 64 MB on a 10,000-record SQS batch (Runtime API harness)", "", false, false)
	}
	if c != nil {
		add("Lambda: init ≤ 5 ms above a bare aws-lambda-go bootstrap (exec → ready, paired, median)",
			fmt.Sprintf("+%s (min %s, max %s)", ms(c.AboveBare.Median), ms(c.AboveBare.Min), ms(c.AboveBare.Max)), c.AboveBare.Median <= 5*time.Millisecond, true)
	} else {
		add("Lambda: init ≤ 5 ms above a bare aws-lambda-go bootstrap", "", false, false)
	}
	for _, k := range []struct{ key, what string }{
		{"each-benign", "`Core.Each`"},
		{"lambda-batch-benign", "the Lambda handler (SQS batch of 1,000)"},
		{"lambda-direct-benign", "the Lambda handler (direct intake, one event per invocation)"},
	} {
		b, ok := r.Bench(k.key)
		add("per benign event through "+k.what+": ≤ 4 allocations", fmt.Sprintf("%.2f allocs/event", b.AllocsPerEvent), b.AllocsPerEvent <= 4, ok)
		add("per benign event through "+k.what+": ≤ 6 µs (wall, median round)",
			fmt.Sprintf("%.2f µs (CPU %.2f µs)", b.NsPerEvent/1000, b.CPUNsPerEvent/1000), b.NsPerEvent <= 6000, ok)
	}
	seen := false
	for _, c := range r.AWSCalls {
		if c.Mix != "benign" || c.SpikesOff || c.Metrics != "emf" || !c.Intake.Template {
			continue
		}
		seen = true
		per := float64(c.Writes()) / float64(c.Events)
		add("≤ 0.05 DynamoDB writes per benign event, template default, spike detection on: "+c.Intake.Name,
			fmt.Sprintf("%.3f (%d writes / %s events, %d invocations)", per, c.Writes(), thousands(c.Events), c.Invocations), per <= 0.05, true)
	}
	if !seen {
		add("≤ 0.05 DynamoDB writes per benign event, template default", "", false, false)
	}
	return out
}

func mbDec(kb int64) string { return fmt.Sprintf("%.1f MB", float64(kb)*1024/1e6) }

// Prices used by the cost model: US East (N. Virginia), on-demand, as
// listed on 2026-11-30 (see BENCHMARKS.md for the sources).
var Prices = struct {
	LambdaRequest, LambdaGBs          float64 // per request, per GB-second (arm64)
	DynamoWRU, DynamoRRU              float64 // per unit, on demand
	LogsGB, PutMetricData, Metric     float64 // per GB ingested, per request, per metric-month
	SNSPublish, SNSEmail, KMS, SQSReq float64
}{
	LambdaRequest: 0.20 / 1e6, LambdaGBs: 0.0000133334,
	DynamoWRU: 0.625 / 1e6, DynamoRRU: 0.125 / 1e6,
	LogsGB: 0.50, PutMetricData: 0.01 / 1000, Metric: 0.30,
	SNSPublish: 0.50 / 1e6, SNSEmail: 2.0 / 1e5, KMS: 0.03 / 1e4, SQSReq: 0.40 / 1e6,
}

// Cost is the modelled bill of the monitor per million Bedrock events.
type Cost struct {
	Scenario         string
	Invocations      float64 // per million events
	LambdaGBs        float64
	WriteUnits       float64
	ReadUnits        float64
	LogGB            float64
	PutMetricData    float64
	SNSPublishes     float64
	KMSRequests      float64
	SQSRequests      float64
	Lambda, DynamoDB float64 // USD
	Logs, Metrics    float64
	SNS, KMS, SQS    float64
	Total            float64
}

// Model assumptions of the cost model.
const (
	memoryGB = 0.25 // the template's MemorySize
	// callMs is the latency assumed per AWS call the handler makes (they
	// are sequential per chunk, up to 8 spike keys at once).
	callMs = 8.0
	// platformLogBytes is what Lambda itself logs per invocation (START,
	// END, REPORT lines).
	platformLogBytes = 350
	// sqsPerEvent: EventBridge's SendMessage, and the pollers' receives
	// and deletes of up to 10 messages each.
	sqsPerEvent = 1.2
)

// CostOf models the bill per million events from one measured scenario of
// 1,000 (or n) events; cpuNsPerEvent is the handler's CPU time per event.
func CostOf(c awscalls.Result, cpuNsPerEvent float64) Cost {
	scale := 1e6 / float64(c.Events)
	out := Cost{Scenario: c.Mix + ", " + c.Metrics + " metrics, " + c.Intake.Name}
	out.Invocations = float64(c.Invocations) * scale
	ms := cpuNsPerEvent*float64(c.Events)/1e6 + callMs*float64(c.Total("")) + 1.0*float64(c.Invocations)
	out.LambdaGBs = ms / 1000 * memoryGB * scale
	out.WriteUnits = writeUnits(c) * scale
	reads := 0.0
	for op, n := range c.Calls {
		switch op {
		case "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query":
			reads += 0.5 * float64(n) // eventually consistent, items under 4 KB
		}
	}
	out.ReadUnits = reads * scale
	out.LogGB = (float64(c.LogBytes) + platformLogBytes*float64(c.Invocations)) * scale / 1e9
	out.PutMetricData = float64(c.Calls["cloudwatch:PutMetricData"]) * scale
	out.SNSPublishes = float64(c.Total("sns")) * scale
	out.KMSRequests = float64(c.Total("kms")) * scale
	if c.Intake.BatchSize > 0 {
		out.SQSRequests = sqsPerEvent * 1e6
	}
	p := Prices
	out.Lambda = out.Invocations*p.LambdaRequest + out.LambdaGBs*p.LambdaGBs
	out.DynamoDB = out.WriteUnits*p.DynamoWRU + out.ReadUnits*p.DynamoRRU
	out.Logs = out.LogGB * p.LogsGB
	out.Metrics = out.PutMetricData * p.PutMetricData
	out.SNS = out.SNSPublishes * (p.SNSPublish + p.SNSEmail)
	out.KMS = out.KMSRequests * p.KMS
	out.SQS = out.SQSRequests * p.SQSReq
	out.Total = out.Lambda + out.DynamoDB + out.Logs + out.Metrics + out.SNS + out.KMS + out.SQS
	return out
}

// writeUnits estimates the write units of a scenario. A write is billed
// per KB (rounded up) of the larger of the item before and after it. The
// spike counts item of a window grows by 16 bytes per event (two 8-byte
// hashes) and about 3 × the key's name plus 150 bytes per key; spread over
// the window's writes, the average write sees half the final item. Other
// writes (alert state) are taken as items under 1 KB, transactions at 2
// units per item.
func writeUnits(c awscalls.Result) float64 {
	counterWrites := float64(c.Calls["dynamodb:UpdateItem"])
	other := 0.0
	for op, n := range c.Calls {
		switch op {
		case "dynamodb:PutItem", "dynamodb:DeleteItem":
			other += float64(n)
		case "dynamodb:TransactWriteItems":
			other += 2 * 2 * float64(n)
		}
	}
	events := 0
	for _, w := range c.Windows {
		events += w.Events
	}
	if events == 0 || counterWrites == 0 {
		return counterWrites + other
	}
	units := 0.0
	for _, w := range c.Windows {
		final := 100 + 16*float64(w.Events) + 3*float64(w.KeyBytes) + 150*float64(w.Keys)
		writes := counterWrites * float64(w.Events) / float64(events)
		units += writes * math.Ceil(final/2/1024)
	}
	return units + other
}

// writeOnePass writes the sections of issue 14's measurements.
func writeOnePass(p func(string, ...any), r *Results) {
	p("## Whole processes: `warden check` vs the `json.Valid` program vs Python\n\n")
	if pr := r.Process; pr != nil && len(pr.Comparisons) > 0 {
		p("The same input file, three programs, each a fresh process (stdout discarded): `warden check --format json` (built with `go build`), `bench/cmd/validonly` (reads the input the same way, gzip-aware, and runs `encoding/json.Valid` on every line of JSON lines, or on the whole of a log file; nothing else) and `bench/python/baseline.py` (%s; `json`, `fnmatch`, `ipaddress`: the same policy, given as the Go policy's JSON, and the same event rules; it sorts its findings as warden does). Before any timing, warden and the baseline must report the same findings (event id and rule) on each input. Rounds are paired: every program once per round, the first one rotating, so that load from the machine's other users falls on each side in turn; each ratio is computed per round (events/s of warden over the other's, i.e. the other's time over warden's) and given as median (min–max). Wall time is what a user waits; CPU time (user + system, every thread) shows the work, warden using both cores (decoding on one goroutine, judging on another).\n\n", pr.Python)
		p("| Input | Size | Events | Findings agreed | warden ÷ json.Valid (wall) | ÷ json.Valid (CPU) | warden ÷ Python (wall) | ÷ Python (CPU) | warden peak RSS |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, c := range pr.Comparisons {
			p("| %s | %s | %s | %s | **%.2f** (%.2f–%.2f) | %.2f (%.2f–%.2f) | **%.2f** (%.2f–%.2f) | %.2f (%.2f–%.2f) | %s |\n", c.Input, mbBytes(c.Bytes), thousands(c.Events), thousands(c.Findings),
				c.ValidWall.Median, c.ValidWall.Min, c.ValidWall.Max, c.ValidCPU.Median, c.ValidCPU.Min, c.ValidCPU.Max,
				c.PyWall.Median, c.PyWall.Min, c.PyWall.Max, c.PyCPU.Median, c.PyCPU.Min, c.PyCPU.Max, mb(c.WardenPeakKB))
		}
		p("\nEvery run, in the order it ran:\n\n| Input | Round | Program | Wall | CPU | Peak RSS |\n|---|---:|---|---:|---:|---:|\n")
		for _, c := range pr.Comparisons {
			for i, rd := range c.Rounds {
				for _, name := range rd.Order {
					run := rd.Runs[name]
					p("| %s | %d | %s | %s | %s | %s |\n", c.Input, i+1, name, run.Wall.Round(time.Millisecond), run.CPU.Round(time.Millisecond), mb(run.PeakKB))
				}
			}
		}
		p("\n")
		p("### Bounded memory\n\n`warden check --format json` on inputs chosen for memory; peak RSS is `VmHWM` sampled from `/proc` every 5 ms.\n\n")
		p("| Input | Size | Peak RSS | Wall | Exit | Last line on stderr |\n|---|---:|---:|---:|---:|---|\n")
		for _, m := range pr.Memory {
			size := "–"
			if m.Bytes > 0 {
				size = mbBytes(m.Bytes)
			}
			p("| %s | %s | %s | %s | %d | %s |\n", m.Input, size, mb(m.Run.PeakKB), m.Run.Wall.Round(time.Millisecond), m.Run.Exit, strings.ReplaceAll(m.Summary, "|", "\\|"))
		}
		p("\nThe large input is the comparison corpus repeated (its findings repeat too, so they are kept in sorted runs on a temporary file past 8 MiB and merged on output); read from a file, then through a pipe on stdin. The bomb is refused once it has inflated past 64 MiB at more than 100 × its compressed size.\n\n")
	} else {
		p("Not measured: %s\n\n", r.ProcessErr)
	}

	p("## Per event through the deployed paths\n\n")
	p("| Path | Corpus | ns/event (wall) | CPU ns/event | allocs/event | B/event |\n|---|---|---:|---:|---:|---:|\n")
	for _, k := range []string{"each-benign", "lambda-batch-benign", "lambda-direct-benign"} {
		if b, ok := r.Bench(k); ok {
			p("| %s | %s | %s | %s | %.2f | %s |\n", b.Name, b.Corpus, num(b.NsPerEvent), num(b.CPUNsPerEvent), b.AllocsPerEvent, thousands(int(b.BytesPerOp)))
		}
	}
	p("\nThe Lambda rows enter the handler as the deployed runtime loop does (`lambdaenv.Serve` calls `Handler.InvokeReader` on the payload as it arrives; here a `bytes.Reader` over it), with the spike analyzer on `spikes.MemoryStore`, the alerter on the in-memory state store and EMF metrics discarded. A direct (EventBridge) invocation carries one event, so the per-invocation work (the batch's analyzer, sinks and response) falls on that one event.\n\n")
	if s, ok := r.ratioSpread("decode-valid", "valid"); ok {
		p("The decoder's validating walk alone (`decode.Valid`, what skips the subtrees the detector does not read) runs at %s the events/s of `json.Valid` on the same events (median, min, max of the interleaved rounds); the whole decode at %s.\n\n", spread(s), func() string {
			if d, ok := r.ratioSpread("decode", "valid"); ok {
				return spread(d)
			}
			return "–"
		}())
	}

	if c := r.ColdStart; c != nil {
		p("## The Lambda bootstrap under the Runtime API harness\n\n")
		p("Init, paired: each of %d starts of the detector beside one of a bare aws-lambda-go bootstrap (`bench/coldstart/testdata/echo`), alternating which goes first. Bare exec → ready: median %s; detector minus bare, per pair: median **+%s** (min %s, max %s).\n\n", c.Runs, ms(c.Bare.Median), ms(c.AboveBare.Median), ms(c.AboveBare.Min), ms(c.AboveBare.Max))
		if c.RSSErr != "" {
			p("Peak RSS of the real bootstrap: not measured (%s).\n\n", c.RSSErr)
		}
		if len(c.RSS) > 0 {
			p("Peak RSS of the real `bootstrap` (built as deployed), served one SQS batch (standard mix) by the harness, with its AWS peers on moto_server (spike counters, alert state, SNS); `VmHWM` read from `/proc` once it has posted its response. Its runtime loop (`lambdaenv.Serve`) hands the handler the Runtime API's response body, which it decodes as it reads (`Handler.InvokeReader`), a chunk of 1,000 events at a time: the payload is never held whole, so the peak does not grow with the batch. Beside it, an aws-lambda-go bootstrap that takes the payload as bytes and does nothing (`bench/coldstart/testdata/raw`): what aws-lambda-go's runtime client costs by itself (it reads the body into a `bytes.Buffer` that doubles as it fills).\n\n")
			p("| Records | Payload | Detector peak RSS | Do-nothing bootstrap | exec → response |\n|---:|---:|---:|---:|---:|\n")
			for _, m := range c.RSS {
				p("| %s | %s | **%s** | %s | %s |\n", thousands(m.Records), mbBytes(int64(m.PayloadBytes)), mbDec(m.PeakKB), mbDec(m.FloorKB), m.Response.Round(time.Millisecond))
			}
			p("\n")
		}
	}

	p("## Cost per million Bedrock events\n\n")
	var costs []Cost
	cpu := 0.0
	if b, ok := r.Bench("lambda-batch-benign"); ok {
		cpu = b.CPUNsPerEvent
	}
	for _, c := range r.AWSCalls {
		if c.SpikesOff || c.Metrics != "emf" {
			continue
		}
		if c.Intake.Template && c.Intake.Pollers == 1 || c.Intake.BatchSize == 0 {
			costs = append(costs, CostOf(c, cpu))
		}
	}
	if len(costs) == 0 {
		p("Not measured: the AWS-call scenarios did not run.\n\n")
		return
	}
	p("Modelled from this run's measured calls per 1,000 events (the AWS-calls table below: the template's defaults, EMF metrics, spike detection on; and direct intake for comparison), scaled to a million events. Prices: US East (N. Virginia), on-demand, as listed on 2026-11-30 — Lambda arm64 $0.20 per million requests and $0.0000133334 per GB-second; DynamoDB on-demand $0.625 per million write request units and $0.125 per million read request units; CloudWatch Logs ingestion $0.50 per GB, PutMetricData $0.01 per 1,000 requests, $0.30 per custom metric-month; SNS $0.50 per million publishes and $2 per 100,000 e-mail deliveries; KMS $0.03 per 10,000 requests; SQS standard $0.40 per million requests. (AWS's pricing pages could not be fetched from this machine; the figures are those pages' as quoted by 2025–2026 pricing guides — check them before relying on the totals.)\n\n")
	p("Assumptions: %.0f MB functions; billed duration = the handler's CPU time per event (measured: %.1f µs) × events + %.0f ms per AWS call + 1 ms per invocation; Lambda's own log lines %d B per invocation; write units estimated from the spike counts item's growth (16 B per event, about 150 B plus three times its name per key; a write billed per KB of the larger item, the average write seeing half the final item), alert-state items under 1 KB, reads eventually consistent under 4 KB; SQS %.1f requests per event. EventBridge delivers AWS service events at no charge. Fixed monthly costs are not per event and not in the table: the custom metrics (about 20 metric-dimension series at $0.30), the KMS key ($1), the idle pollers' long polls (five pollers, one 20 s poll each: about 650,000 requests, $0.26 a month).\n\n", memoryGB*1000, cpu/1000, callMs, platformLogBytes, sqsPerEvent)
	p("| Scenario | Invocations | Lambda GB-s | DynamoDB write units | read units | Logs GB | SNS publishes | KMS | Lambda $ | DynamoDB $ | Logs $ | SNS $ | KMS $ | SQS $ | **Total $** |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range costs {
		p("| %s | %s | %s | %s | %s | %.2f | %s | %s | %.2f | %.2f | %.2f | %.2f | %.3f | %.2f | **%.2f** |\n", c.Scenario, num(c.Invocations), num(c.LambdaGBs), num(c.WriteUnits), num(c.ReadUnits),
			c.LogGB, num(c.SNSPublishes), num(c.KMSRequests), c.Lambda, c.DynamoDB, c.Logs, c.SNS, c.KMS, c.SQS, c.Total)
	}
	p("\n")
}
