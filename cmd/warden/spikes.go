package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/bedrock-warden/warden/pkg/awsconf"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/spikes"
	"github.com/bedrock-warden/warden/pkg/spikes/counterdb"
)

func init() {
	register(command{name: "spikes", summary: "show invocation-spike windows: counts per principal and model vs thresholds", run: runSpikes})
}

// statusNow is the clock of the status commands; tests replace it.
var statusNow = time.Now

const spikesUsage = `Usage: warden spikes status [--table T] [--policy FILE] [--windows N] [--json]

Lists the invocation counters of the current spike window (and the N-1
windows before it) from the deployed state table: per principal and per
model, the count, the threshold that applies and whether the window alerted.

The table is --table, else $WARDEN_TABLE. The policy (for thresholds) is
--policy FILE, else $WARDEN_POLICY, else the embedded default. AWS access
uses the usual SDK configuration; AWS_ENDPOINT_URL is honoured.

Exit status: 0 no key over its threshold, 1 some key over it, 2 error.

Flags:
`

func runSpikes(ctx context.Context, args []string, sio *IO) int {
	if code, ok := onlyStatus(args, spikesUsage, sio); !ok {
		return code
	}
	fl := flag.NewFlagSet("spikes status", flag.ContinueOnError)
	fl.SetOutput(sio.Stderr)
	table := fl.String("table", "", "DynamoDB state `TABLE` (default $WARDEN_TABLE)")
	policyPath := fl.String("policy", "", "policy YAML `FILE` (default $WARDEN_POLICY, else the embedded default)")
	windows := fl.Int("windows", 2, "how many windows to show, the current one first")
	asJSON := fl.Bool("json", false, "print JSON instead of a table")
	fl.Usage = func() { fmt.Fprint(fl.Output(), spikesUsage); fl.PrintDefaults() }
	if err := fl.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fl.NArg() > 0 || *windows < 1 || *windows > 288 {
		fmt.Fprintln(sio.Stderr, "warden spikes status: takes no arguments; --windows must be 1..288")
		return exitUsage
	}
	if *table == "" {
		*table = sio.Getenv("WARDEN_TABLE")
	}
	if *table == "" {
		fmt.Fprintln(sio.Stderr, "warden spikes status: no table: pass --table or set WARDEN_TABLE")
		return exitUsage
	}
	p, err := loadPolicy(*policyPath, sio.Getenv)
	if err != nil {
		fmt.Fprintf(sio.Stderr, "warden spikes status: %v\n", err)
		return exitUsage
	}
	cfg, err := awsconf.Load(ctx, "", "", nil)
	if err != nil {
		fmt.Fprintf(sio.Stderr, "warden spikes status: %v\n", err)
		return exitUsage
	}
	store := counterdb.New(dynamodb.NewFromConfig(cfg), *table)
	w := spikes.WindowLength(p.Spikes)
	cur := spikes.WindowStart(statusNow(), w)
	var report spikesReport
	report.Window, report.length = spikes.FormatWindow(w), w
	over := false
	for i := range *windows {
		start := cur.Add(-time.Duration(i) * w)
		entries, err := store.Window(ctx, start)
		if err != nil {
			fmt.Fprintf(sio.Stderr, "warden spikes status: %v\n", err)
			return exitUsage
		}
		win := spikesWindow{Start: start}
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
	if *asJSON {
		enc := json.NewEncoder(sio.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			fmt.Fprintf(sio.Stderr, "warden spikes status: write: %v\n", err)
			return exitUsage
		}
	} else {
		printSpikes(sio.Stdout, report)
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
	AlertedAt string          `json:"alertedAt,omitempty"`
	TopModels []spikes.Ranked `json:"topModels"`
	TopIPs    []spikes.Ranked `json:"topIPs"`
}

func spikeRow(s policy.SpikeSettings, e counterdb.Entry) spikesKey {
	th := spikes.ModelThreshold(s)
	if e.Key.Kind == spikes.KindPrincipal {
		th = spikes.PrincipalThreshold(s, e.Key.ID)
	}
	return spikesKey{
		Kind: e.Key.Kind, ID: e.Key.ID, Count: e.Count, Threshold: th,
		Over:      e.Alerted || (th.Max > 0 && e.Count > th.Max),
		AlertedAt: e.AlertedAt,
		TopModels: spikes.Rank(e.Models, spikes.TopN), TopIPs: spikes.Rank(e.IPs, spikes.TopN),
	}
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

func printSpikes(w io.Writer, r spikesReport) {
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
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tKEY\tCOUNT\tTHRESHOLD\tALERTED\tTOP MODELS\tTOP SOURCES")
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
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", k.Kind, id, k.Count, spikesThreshold(k.Threshold), alerted,
				spikesDash(spikes.FormatRanked(k.TopModels)), spikesDash(spikes.FormatRanked(k.TopIPs)))
		}
		tw.Flush()
	}
}

func spikesDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// onlyStatus checks that a verb whose one subcommand is "status" got it.
// When it did not, it prints usage (to stdout for --help) and returns the
// exit status and false.
func onlyStatus(args []string, usage string, sio *IO) (int, bool) {
	if len(args) > 0 && args[0] == "status" {
		return 0, true
	}
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Fprint(sio.Stdout, usage)
		return exitOK, false
	}
	fmt.Fprint(sio.Stderr, usage)
	return exitUsage, false
}
