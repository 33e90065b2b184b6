package metrics_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/metrics"
)

func TestSetSumsSameMetricAndDimensions(t *testing.T) {
	var s metrics.Set
	s.Add(metrics.Findings, 1, metrics.Dimension{Name: "Severity", Value: "high"}, metrics.Dimension{Name: "Rule", Value: "r"})
	s.Add(metrics.Findings, 2, metrics.Dimension{Name: "Rule", Value: "r"}, metrics.Dimension{Name: "Severity", Value: "high"})
	s.Add(metrics.Findings, 1, metrics.Dimension{Name: "Rule", Value: ""})
	ds := s.Datums()
	if len(ds) != 2 || ds[0].Value != 3 || ds[0].Dimensions[0].Name != "Rule" {
		t.Fatalf("datums = %+v", ds)
	}
	if ds[1].Dimensions[0].Value != "unknown" {
		t.Errorf("empty dimension value = %q, want unknown", ds[1].Dimensions[0].Value)
	}
}

func TestWriteEMFOneLinePerDimensionValues(t *testing.T) {
	var s metrics.Set
	s.Add(metrics.EventsProcessed, 5)
	s.Add(metrics.AlertsSent, 1)
	s.Add(metrics.Invocations, 3, metrics.Dimension{Name: metrics.DimModel, Value: "m1"})
	s.Add(metrics.Invocations, 2, metrics.Dimension{Name: metrics.DimModel, Value: "m2"})
	var buf bytes.Buffer
	ts := time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)
	if err := metrics.WriteEMF(&buf, "NS", ts, s.Datums()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), buf.String())
	}
	var first struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		EventsProcessed float64
		AlertsSent      float64
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	d := first.AWS.CloudWatchMetrics[0]
	if first.AWS.Timestamp != ts.UnixMilli() || d.Namespace != "NS" || len(d.Dimensions) != 1 || len(d.Dimensions[0]) != 0 ||
		len(d.Metrics) != 2 || d.Metrics[0].Unit != "Count" || first.EventsProcessed != 5 || first.AlertsSent != 1 {
		t.Errorf("dimensionless line = %s", lines[0])
	}
	var second map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	if second["Model"] != "m1" || second["Invocations"] != 3.0 {
		t.Errorf("model line = %s", lines[1])
	}
}

func TestWriteEMFRejectsNameClash(t *testing.T) {
	err := metrics.WriteEMF(&bytes.Buffer{}, "NS", time.Now(), []metrics.Datum{{Name: "Model", Dimensions: []metrics.Dimension{{Name: "Model", Value: "x"}}}})
	if err == nil {
		t.Error("want an error when a metric and a dimension share a name")
	}
}
