package coldstart

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildEcho compiles testdata/echo, a real aws-lambda-go function.
func buildEcho(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, "./testdata/echo")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build echo: %v\n%s", err, out)
	}
	return bin
}

func TestMeasureServesOneEvent(t *testing.T) {
	bin := buildEcho(t)
	ev := []byte(`{"detail-type":"AWS API Call via CloudTrail","n":1}`)
	runs, err := Measure(context.Background(), Config{Binary: bin, Event: ev}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 {
		t.Fatalf("%d runs, want 3", len(runs))
	}
	for i, r := range runs {
		if r.Ready <= 0 || r.Response < r.Ready {
			t.Errorf("run %d: ready %v, response %v", i, r.Ready, r.Response)
		}
		var got struct{ Got json.RawMessage }
		if err := json.Unmarshal(r.Body, &got); err != nil || string(got.Got) != string(ev) {
			t.Errorf("run %d: response %s, want the event echoed (%v)", i, r.Body, err)
		}
	}
}

func TestMeasureReportsAFunctionThatDies(t *testing.T) {
	bin := buildEcho(t)
	_, err := Measure(context.Background(), Config{Binary: bin, Event: []byte(`{}`), Env: []string{"ECHO_FAIL_INIT=1"}, Timeout: 5 * time.Second}, 1)
	if err == nil || !strings.Contains(err.Error(), "exited before asking") {
		t.Fatalf("err = %v, want the early exit reported", err)
	}
	_, err = Measure(context.Background(), Config{Binary: filepath.Join(t.TempDir(), "missing"), Event: []byte(`{}`)}, 1)
	if err == nil {
		t.Fatal("a missing binary was not an error")
	}
}

func TestSummarise(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		var out []time.Duration
		for _, v := range n {
			out = append(out, time.Duration(v)*time.Millisecond)
		}
		return out
	}
	s, err := Summarise(ms(9, 1, 5, 3, 7, 2, 4, 6, 8, 10))
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{Min: ms(1)[0], Median: ms(5)[0], P90: ms(9)[0], Max: ms(10)[0]}
	if s != want {
		t.Fatalf("Summarise = %+v, want %+v", s, want)
	}
	if _, err := Summarise(nil); err == nil {
		t.Fatal("Summarise(nil) did not fail")
	}
}
