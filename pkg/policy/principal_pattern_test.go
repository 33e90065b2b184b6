package policy

import (
	"strings"
	"testing"
)

func TestSTSPrincipalPatternsRejected(t *testing.T) {
	_, err := Load("p.yaml", []byte("principals:\n  exempt:\n    - \"arn:aws:sts::*:assumed-role/BreakGlass/*\"\n"))
	if err == nil || !strings.Contains(err.Error(), "p.yaml:3") || !strings.Contains(err.Error(), "role/NAME") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Load("p.yaml", []byte("principals:\n  allow: [\"arn:aws:iam::*:role/app-*\"]\n")); err != nil {
		t.Fatal(err)
	}
}
