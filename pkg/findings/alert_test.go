package findings

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseAlertIgnoresMarkerInsideFields(t *testing.T) {
	f := Finding{Rule: RuleUnauthorizedModel, Fingerprint: "fp", Principal: "arn:aws:iam::1:role/r",
		UserAgent: "evil\n" + AlertMarker + "\n{\"rule\":\"x\"}", Model: AlertMarker}
	js, _ := json.Marshal(f)
	body := "Bedrock Warden alert\nUser agent: " + f.UserAgent + "\n\n" + AlertMarker + "\n" + string(js) + "\n"
	got, err := ParseAlert(body)
	if err != nil {
		t.Fatalf("ParseAlert: %v", err)
	}
	if got.Principal != f.Principal || got.UserAgent != f.UserAgent || got.Model != AlertMarker {
		t.Fatalf("got %+v", got)
	}
}

func TestParseAlertRejects(t *testing.T) {
	for name, body := range map[string]string{
		"no marker":        "just text\n{\"rule\":\"r\",\"fingerprint\":\"f\",\"principal\":\"p\"}",
		"marker not last":  AlertMarker + "\n{\"rule\":\"r\",\"fingerprint\":\"f\",\"principal\":\"p\"}\ntrailing text",
		"bad json":         "x\n" + AlertMarker + "\n{not json}",
		"missing fields":   "x\n" + AlertMarker + "\n{\"rule\":\"r\"}",
		"chat without key": `{"version":"1.0","metadata":{"additionalContext":{}}}`,
		"empty":            "",
	} {
		if _, err := ParseAlert(body); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	chat := `{"version":"1.0","metadata":{"additionalContext":{"finding":` + strings.ReplaceAll(`"{\"rule\":\"r\",\"fingerprint\":\"f\",\"principal\":\"p\"}"`, "\n", "") + `}}}`
	if f, err := ParseAlert(chat); err != nil || f.Rule != "r" {
		t.Errorf("chat: %+v %v", f, err)
	}
}

func TestFingerprintStable(t *testing.T) {
	a := Fingerprint("r", "p", "m", "us-east-1")
	if a != Fingerprint("r", "p", "m", "us-east-1") || len(a) != 32 {
		t.Fatal("fingerprint not stable")
	}
	// Field boundaries matter: ("ab","c") differs from ("a","bc").
	if Fingerprint("r", "ab", "c", "x") == Fingerprint("r", "a", "bc", "x") {
		t.Fatal("fingerprint ignores field boundaries")
	}
}
