package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/spikes"
	"github.com/bedrock-warden/warden/pkg/spikes/counterdb"
	"github.com/bedrock-warden/warden/pkg/stack"
)

func init() {
	register(command{name: "spikes", summary: "show invocation-spike windows: counts per principal and model vs thresholds", run: runSpikes})
}

// statusNow is the clock of the status commands; tests replace it.
var statusNow = time.Now

func runSpikes(ctx context.Context, args []string, sio *IO) int {
	return dispatch(ctx, "spikes", map[string]subcommand{
		"status": {"invocation counts per principal and model in the current spike windows", runSpikesStatus},
	}, args, sio)
}

func runSpikesStatus(ctx context.Context, args []string, sio *IO) int {
	fl := newFlags("spikes status", "warden spikes status [--stack NAME | --table TABLE] [--policy LOCATION] [--windows N] [--format text|json]",
		`Lists the invocation counters of the current spike window (and the N-1
windows before it) from the deployed state table: per principal and per
model, the count, the threshold that applies and whether the window alerted.

The table is --table, else the StateTableName output of the stack (--stack,
else $WARDEN_STACK), else $WARDEN_TABLE. The thresholds come from --policy,
else $WARDEN_POLICY, else the stack's policy parameter, else the embedded
default. AWS access uses the usual SDK configuration; AWS_ENDPOINT_URL is
honoured.

Exit status: 0 no key over its threshold, 1 some key over it, 2 error.`,
		"warden spikes status --stack bedrock-warden",
		"warden spikes status --stack bedrock-warden --windows 12 --json | jq '.windows[0].keys'").withFormat()
	st := addStackFlags(fl, sio)
	table := fl.fs.String("table", "", "DynamoDB state `TABLE` (default: the stack's StateTableName output, else $WARDEN_TABLE)")
	policyFlag := fl.fs.String("policy", "", policyFlagUsage)
	windows := fl.fs.Int("windows", 2, "show `N` windows, the current one first (1 to 288)")
	pos, code, ok := fl.parse(args, sio)
	if !ok {
		return code
	}
	failf := func(format string, a ...any) int { return fail(sio, "spikes status", fmt.Errorf(format, a...)) }
	if len(pos) > 0 {
		return failf("unexpected argument %q (spikes status takes only flags)", pos[0])
	}
	if *windows < 1 || *windows > 288 {
		return failf("--windows %d: want 1 to 288", *windows)
	}
	cfg, err := st.config(ctx)
	if err != nil {
		return failf("%v", err)
	}
	policyParam := ""
	if *table == "" && st.named() {
		s, err := st.resolve(ctx, cfg)
		if err != nil {
			return failf("%v", err)
		}
		if *table, err = s.Output(stack.OutputStateTable); err != nil {
			return failf("%v", err)
		}
		policyParam = s.Outputs[stack.OutputPolicyParameter]
	}
	if *table == "" {
		*table = sio.Getenv("WARDEN_TABLE")
	}
	if *table == "" {
		return failf("no state table: pass --stack NAME (or set WARDEN_STACK), or --table TABLE")
	}
	p, err := loadPolicy(ctx, *policyFlag, sio, policyParam)
	if err != nil {
		return failf("%v", err)
	}
	store := counterdb.New(dynamodb.NewFromConfig(cfg), *table)
	w := spikes.WindowLength(p.Spikes)
	cur := spikes.WindowStart(statusNow(), w)
	report := spikesReport{Window: spikes.FormatWindow(w), Windows: []spikesWindow{}, length: w}
	over := false
	for i := range *windows {
		start := cur.Add(-time.Duration(i) * w)
		entries, err := store.Window(ctx, start)
		if err != nil {
			return failf("%v", stack.Explain(err, "read spike counters from table "+*table, "take the table from the stack's StateTableName output (--stack) and allow dynamodb:Query on it"))
		}
		win := spikesWindow{Start: start, Keys: []spikesKey{}}
		for _, e := range entries {
			row := spikeRow(p.Spikes, e)
			over = over || row.Over
			win.Keys = append(win.Keys, row)
		}
		sort.SliceStable(win.Keys, func(a, b int) bool {
			if win.Keys[a].Count != win.Keys[b].Count {
				return win.Keys[a].Count > win.Keys[b].Count
			}
			return win.Keys[a].Kind+win.Keys[a].ID < win.Keys[b].Kind+win.Keys[b].ID
		})
		report.Windows = append(report.Windows, win)
	}
	if fl.JSON() {
		if err := writeJSON(sio.Stdout, report); err != nil {
			return failf("%v", err)
		}
	} else if err := printSpikes(sio, report); err != nil {
		return failf("%v", err)
	}
	if over {
		return exitFindings
	}
	return exitOK
}

type spikesReport struct {
	Window  string         `json:"window"`
	Windows []spikesWindow `json:"windows"`
	length  time.Duration
}

type spikesWindow struct {
	Start time.Time   `json:"start"`
	Keys  []spikesKey `json:"keys"`
}

type spikesKey struct {
	Kind      string           `json:"kind"`
	ID        string           `json:"id"`
	Count     int64            `json:"count"`
	Threshold spikes.Threshold `json:"threshold"`
	// Over reports count > threshold.max, or an alert already raised
	// (the baseline test needs history this view does not read).
	Over      bool            `json:"over"`
	AlertedAt string          `json:"alertedAt"`
	TopModels []spikes.Ranked `json:"topModels"`
	TopIPs    []spikes.Ranked `json:"topIPs"`
}

func spikeRow(s policy.SpikeSettings, e counterdb.Entry) spikesKey {
	th := spikes.ModelThreshold(s)
	if e.Key.Kind == spikes.KindPrincipal {
		th = spikes.PrincipalThreshold(s, e.Key.ID)
	}
	k := spikesKey{
		Kind: e.Key.Kind, ID: e.Key.ID, Count: e.Count, Threshold: th,
		Over:      e.Alerted || (th.Max > 0 && e.Count > th.Max),
		AlertedAt: e.AlertedAt,
		TopModels: spikes.Rank(e.Models, spikes.TopN), TopIPs: spikes.Rank(e.IPs, spikes.TopN),
	}
	if k.TopModels == nil {
		k.TopModels = []spikes.Ranked{}
	}
	if k.TopIPs == nil {
		k.TopIPs = []spikes.Ranked{}
	}
	return k
}

func spikesThreshold(t spikes.Threshold) string {
	var parts []string
	if t.Max > 0 {
		parts = append(parts, "max "+strconv.FormatInt(t.Max, 10))
	}
	if t.BaselineFactor > 0 && t.BaselineWindows > 0 {
		parts = append(parts, fmt.Sprintf("%s×mean(%d) above %d", strconv.FormatFloat(t.BaselineFactor, 'f', -1, 64), t.BaselineWindows, t.Floor))
	}
	if len(parts) == 0 {
		return "off"
	}
	return strings.Join(parts, ", ")
}

func printSpikes(sio *IO, r spikesReport) error {
	w := sio.Stdout
	for i, win := range r.Windows {
		if i > 0 {
			fmt.Fprintln(w)
		}
		label := "current"
		if i > 0 {
			label = fmt.Sprintf("%d before", i)
		}
		fmt.Fprintf(w, "Window %s – %s UTC (%s, %s)\n", win.Start.Format("2006-01-02 15:04"), win.Start.Add(r.length).Format("15:04"), r.Window, label)
		if len(win.Keys) == 0 {
			fmt.Fprintln(w, "  no invocations counted")
			continue
		}
		t := &table{header: []string{"KIND", "KEY", "COUNT", "THRESHOLD", "ALERTED", "TOP MODELS", "TOP SOURCES"},
			shrink: map[int]bool{1: true, 5: true, 6: true}}
		for _, k := range win.Keys {
			id := k.ID
			if k.Kind == spikes.KindPrincipal {
				id = spikes.ShortPrincipal(id)
			}
			alerted := "-"
			if k.AlertedAt != "" {
				alerted = k.AlertedAt
			} else if k.Over {
				alerted = "over"
			}
			row := plainCells(k.Kind, id, strconv.FormatInt(k.Count, 10), spikesThreshold(k.Threshold), alerted,
				spikesDash(spikes.FormatRanked(k.TopModels)), spikesDash(spikes.FormatRanked(k.TopIPs)))
			if k.Over {
				row[2].colour = "31"
			}
			t.rows = append(t.rows, row)
		}
		if err := t.render(w, sio.Width, colourOn(sio)); err != nil {
			return err
		}
	}
	return nil
}

func spikesDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
