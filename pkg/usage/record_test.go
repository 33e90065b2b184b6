package usage

import (
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bedrock-warden/warden/pkg/policy"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseRecordFromCapturedShapes(t *testing.T) {
	r, err := ParseRecord(readTestdata(t, "converse-assumed-role.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := Record{Time: time.Date(2026, 11, 24, 9, 58, 17, 0, time.UTC), Account: "123456789012", Region: "us-east-1",
		RequestID: "915a6a04-3f83-4c70-a277-7fbf7ea546b3", Operation: "Converse", ModelID: "anthropic.claude-3-haiku-20240307-v1:0",
		Identity: "arn:aws:sts::123456789012:assumed-role/team-a-app/botocore-session-1732442297",
		Counters: Counters{Invocations: 1, InputTokens: 35, OutputTokens: 446}}
	if r != want {
		t.Errorf("record =\n%+v\nwant\n%+v", r, want)
	}
	r, err = ParseRecord(readTestdata(t, "conversestream-user-cache.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Counters != (Counters{Invocations: 1, InputTokens: 4, OutputTokens: 38, CacheReadTokens: 2000, CacheWriteTokens: 1000}) ||
		r.Identity != "arn:aws:iam::123456789012:user/dev/dheeraj" || r.ModelID != "us.amazon.nova-lite-v1:0" {
		t.Errorf("record = %+v", r)
	}
	if r.Counters.Tokens() != 3042 {
		t.Errorf("tokens = %d, want 3042 (the Converse usage.totalTokens)", r.Counters.Tokens())
	}
}

func TestParseRecordRejectsWithoutQuotingContent(t *testing.T) {
	full := readTestdata(t, "converse-assumed-role.json")
	for name, c := range map[string]struct {
		msg, reason string
	}{
		"not json":      {"SECRET-PROMPT plain text", ReasonNotJSON},
		"truncated":     {full[:len(full)/2], ReasonNotJSON},
		"other schema":  {strings.Replace(full, `"ModelInvocationLog"`, `"SomethingElse"`, 1), ReasonSchema},
		"no request id": {strings.Replace(full, `"requestId":"915a6a04-3f83-4c70-a277-7fbf7ea546b3",`, "", 1), ReasonMissing},
		"no identity":   {strings.Replace(full, `"identity":{"arn":"arn:aws:sts::123456789012:assumed-role/team-a-app/botocore-session-1732442297"},`, "", 1), ReasonMissing},
		"bad time":      {strings.Replace(full, `"2026-11-24T09:58:17Z"`, `"yesterday SECRET-PROMPT"`, 1), ReasonBadValue},
		"negative":      {strings.Replace(full, `"inputTokenCount":35`, `"inputTokenCount":-35`, 1), ReasonBadValue},
		"fraction":      {strings.Replace(full, `"outputTokenCount":446`, `"outputTokenCount":44.6`, 1), ReasonBadValue},
		"token string":  {strings.Replace(full, `"outputTokenCount":446`, `"outputTokenCount":"SECRET-PROMPT"`, 1), ReasonBadValue},
		"control char":  {strings.Replace(full, `"operation":"Converse"`, `"operation":"Con\u0007verse"`, 1), ReasonBadValue},
	} {
		_, err := ParseRecord(c.msg)
		var re *RecordError
		if !errors.As(err, &re) || re.Reason != c.reason {
			t.Errorf("%s: error %v, want reason %s", name, err, c.reason)
			continue
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: the error quotes the record: %v", name, err)
		}
	}
}

func TestBounds(t *testing.T) {
	at := time.Date(2026, 11, 26, 17, 4, 5, 0, time.FixedZone("x", -8*3600)) // Thursday 27 Nov 01:04 UTC
	for period, want := range map[string][2]string{
		policy.PeriodDay:   {"2026-11-27T00:00:00Z", "2026-11-28T00:00:00Z"},
		policy.PeriodWeek:  {"2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z"},
		policy.PeriodMonth: {"2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"},
	} {
		s, e, err := Bounds(period, at)
		if err != nil || s.Format(time.RFC3339) != want[0] || e.Format(time.RFC3339) != want[1] {
			t.Errorf("%s: [%s, %s) %v; want %v", period, s.Format(time.RFC3339), e.Format(time.RFC3339), err, want)
		}
	}
	// A Sunday belongs to the week that started the Monday before; a
	// Monday at midnight starts its own.
	if s, _, _ := Bounds(policy.PeriodWeek, time.Date(2026, 11, 29, 23, 59, 59, 0, time.UTC)); s.Day() != 23 {
		t.Errorf("Sunday's week starts %v", s)
	}
	if s, _, _ := Bounds(policy.PeriodWeek, time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)); s.Day() != 30 {
		t.Errorf("Monday's week starts %v", s)
	}
	if _, _, err := Bounds("year", at); err == nil {
		t.Error("unknown period accepted")
	}
}

func TestCostUsesAllFourPrices(t *testing.T) {
	c := Counters{InputTokens: 1000, OutputTokens: 2000, CacheReadTokens: 10_000, CacheWriteTokens: 4000}
	got := Cost(c, policy.DefaultPrices()["anthropic.claude-sonnet-4*"])
	want := 1*0.003 + 2*0.015 + 10*0.0003 + 4*0.00375
	if math.Abs(got-want) > 1e-12 {
		t.Errorf("cost = %v, want %v", got, want)
	}
}

func TestDigestIgnoresOrderButNotContent(t *testing.T) {
	k := Key{Period: "day", Start: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), Subject: PrincipalSubject("arn:aws:iam::1:role/a"), Model: "m"}
	if Digest(k, []string{"a", "b"}) != Digest(k, []string{"b", "a"}) {
		t.Error("digest depends on order")
	}
	k2 := k
	k2.Model = "n"
	if Digest(k, []string{"a"}) == Digest(k, []string{"a", "b"}) || Digest(k, []string{"a"}) == Digest(k2, []string{"a"}) {
		t.Error("digest collides")
	}
}

func TestBar(t *testing.T) {
	for pct, want := range map[float64]string{0: "[----------]", 49.9: "[####------]", 85: "[########--]", 100: "[!!!!!!!!!!]", 250: "[!!!!!!!!!!]", -3: "[----------]"} {
		if got := Bar(pct, 10); got != want {
			t.Errorf("Bar(%v) = %s, want %s", pct, got, want)
		}
	}
}
