package tests

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDashboardPicture keeps docs/dashboard.svg, the picture of the
// CloudWatch dashboard in docs/deploy.md, drawn from template.yaml's
// DashboardBody: the same widgets, titles, places and sizes, with a day of
// illustrative data. Rewrite it with -update after changing the dashboard.
func TestDashboardPicture(t *testing.T) {
	tpl := loadTemplate(t)
	body, ok := props(tpl.resources()["Dashboard"])["DashboardBody"].(map[string]any)["Fn::Sub"].(string)
	if !ok {
		t.Fatal("Dashboard.DashboardBody is not a !Sub string")
	}
	body = strings.NewReplacer("${AWS::Region}", "us-east-1", "${AWS::StackName}", "bedrock-warden").Replace(body)
	var dash struct {
		Widgets []widget `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(body), &dash); err != nil {
		t.Fatalf("DashboardBody: %v", err)
	}
	if len(dash.Widgets) == 0 {
		t.Fatal("no widgets")
	}
	svg := drawDashboard(dash.Widgets)
	path := "../docs/dashboard.svg"
	if *updateAlertExample {
		if err := os.WriteFile(path, []byte(svg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != svg {
		t.Fatalf("%s is stale: the dashboard in template.yaml changed; run go test ./tests -run TestDashboardPicture -update", path)
	}
}

type widget struct {
	Type       string `json:"type"`
	X          int    `json:"x"`
	Y          int    `json:"y"`
	Width      int    `json:"width"`
	Height     int    `json:"height"`
	Properties struct {
		Title   string  `json:"title"`
		View    string  `json:"view"`
		Stacked bool    `json:"stacked"`
		Metrics [][]any `json:"metrics"`
		Query   string  `json:"query"`
	} `json:"properties"`
}

// Illustrative series for SEARCH widgets, whose dimension values exist only
// in a live account.
var searchSeries = map[string][]string{
	"Findings":     {"unauthorized-model high", "model-recon medium", "invocation-spike high", "denied-invocation medium"},
	"Model":        {"anthropic.claude-3-5-sonnet", "amazon.nova-lite-v1:0", "meta.llama3-1-70b", "unresolved"},
	"Region":       {"us-east-1", "us-west-2", "eu-west-1"},
	"FunctionName": {"detector Errors", "remediator Errors", "detector Throttles"},
}

var searchDim = regexp.MustCompile(`SEARCH\('\{[^,]+,([A-Za-z]+)`)

// legend names a widget's series: the metric names it lists, or
// illustrative values of the dimension its SEARCH expression groups by.
func legend(w widget) []string {
	var out []string
	for _, m := range w.Properties.Metrics {
		if len(m) > 0 {
			if e, ok := m[0].(map[string]any); ok {
				expr := fmt.Sprint(e["expression"])
				dim := ""
				if s := searchDim.FindStringSubmatch(expr); s != nil {
					dim = s[1]
				}
				if strings.Contains(expr, `MetricName=\"Findings\"`) || strings.Contains(expr, `MetricName="Findings"`) {
					dim = "Findings"
				}
				out = append(out, searchSeries[dim]...)
				continue
			}
		}
		if len(m) >= 2 {
			out = append(out, fmt.Sprint(m[1]))
		}
	}
	return out
}

var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// drawDashboard renders the widgets on CloudWatch's 24-column grid.
func drawDashboard(ws []widget) string {
	const colW, rowH, pad = 40.0, 34.0, 8.0
	rows := 0
	for _, w := range ws {
		rows = max(rows, w.Y+w.Height)
	}
	width, height := 24*colW+2*pad, float64(rows)*rowH+2*pad+40
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="Helvetica, Arial, sans-serif">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#f2f3f3"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="28" font-size="18" fill="#16191f">CloudWatch dashboard bedrock-warden-us-east-1 (illustrative data, last 24 hours)</text>`+"\n", pad)
	for i, w := range ws {
		x, y := pad+float64(w.X)*colW, 40+pad+float64(w.Y)*rowH
		wd, ht := float64(w.Width)*colW-pad, float64(w.Height)*rowH-pad
		fmt.Fprintf(&b, `<g><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#ffffff" stroke="#d5dbdb"/>`+"\n", x, y, wd, ht)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="13" font-weight="bold" fill="#16191f">%s</text>`+"\n", x+10, y+20, esc(w.Properties.Title))
		if w.Type == "log" {
			drawLogTable(&b, x, y, wd)
		} else {
			drawSeries(&b, w, i, x, y, wd, ht)
		}
		b.WriteString("</g>\n")
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func drawSeries(b *strings.Builder, w widget, seed int, x, y, wd, ht float64) {
	names := legend(w)
	px, py, pw, ph := x+40, y+34, wd-60, ht-96
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#879596"/>`+"\n", px, py+ph, px+pw, py+ph)
	for h := 0; h <= 24; h += 6 {
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="10" fill="#687078" text-anchor="middle">%02d:00</text>`+"\n", px+pw*float64(h)/24, py+ph+14, h)
	}
	r := rand.New(rand.NewPCG(uint64(seed), 16))
	const n = 48
	base := make([]float64, n)
	for k, name := range names {
		pts := make([]string, n)
		for j := 0; j < n; j++ {
			v := (3 + 2*math.Sin(float64(j)/6+float64(k))) * (1 + r.Float64()*0.6) / float64(k+1)
			if strings.Contains(name, "Error") || strings.Contains(name, "Throttle") {
				v /= 8 // failures are rare
			}
			if w.Properties.Stacked {
				base[j] += v
				v = base[j]
			}
			pts[j] = fmt.Sprintf("%.1f,%.1f", px+pw*float64(j)/(n-1), py+ph-ph*math.Min(v/12, 1))
		}
		c := palette[k%len(palette)]
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.6" points="%s"/>`+"\n", c, strings.Join(pts, " "))
		lx := x + 12 + float64(k%2)*(wd-24)/2
		ly := y + ht - 30 + float64(k/2)*13
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="8" height="8" fill="%s"/><text x="%.1f" y="%.1f" font-size="10" fill="#16191f">%s</text>`+"\n",
			lx, ly-7, c, lx+12, ly, esc(name))
	}
}

func drawLogTable(b *strings.Builder, x, y, wd float64) {
	cols := []string{"mode", "action", "result", "rule", "actions"}
	rows := [][]string{
		{"dry-run", "quarantine", "planned", "unauthorized-model", "7"},
		{"dry-run", "disable-credentials", "planned", "api-key-used", "2"},
		{"enforce", "quarantine", "applied", "unauthorized-model", "1"},
		{"enforce", "undo", "undone", "unauthorized-model", "1"},
	}
	cw := (wd - 20) / float64(len(cols))
	for i, c := range cols {
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="11" font-weight="bold" fill="#545b64">%s</text>`+"\n", x+10+float64(i)*cw, y+46, c)
	}
	for r, row := range rows {
		for i, c := range row {
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="11" fill="#16191f">%s</text>`+"\n", x+10+float64(i)*cw, y+66+float64(r)*18, esc(c))
		}
	}
}
