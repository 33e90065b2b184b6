package archive

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseKey(t *testing.T) {
	at := time.Date(2026, 11, 20, 14, 5, 0, 0, time.UTC)
	for _, c := range []struct {
		key  string
		ok   bool
		want LogFile
	}{
		{"AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/111122223333_CloudTrail_us-east-1_20261120T1405Z_Mu0KsOhtH1ar15ZZ.json.gz", true,
			LogFile{Kind: KindLog, Account: "111122223333", Region: "us-east-1", Delivered: at}},
		{"logs/AWSLogs/o-abcdef1234/111122223333/CloudTrail/eu-west-1/2026/11/20/111122223333_CloudTrail_eu-west-1_20261120T1405Z_Mu0KsOhtH1ar15ZZ.json.gz", true,
			LogFile{Kind: KindLog, Root: "logs/", Org: "o-abcdef1234", Account: "111122223333", Region: "eu-west-1", Delivered: at}},
		{"AWSLogs/o-abcdef1234/111122223333/CloudTrail-Digest/us-east-1/2026/11/20/111122223333_CloudTrail-Digest_us-east-1_org_us-east-1_20261120T140512Z.json.gz", true,
			LogFile{Kind: KindDigest, Org: "o-abcdef1234", Account: "111122223333", Region: "us-east-1"}},
		{"AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2026/11/20/x.json.gz", true, LogFile{Kind: KindInsight, Account: "111122223333", Region: "us-east-1"}},
		// The date folder must agree with the name; the name with the folder's account and Region.
		{"AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/21/111122223333_CloudTrail_us-east-1_20261120T1405Z_Mu0KsOhtH1ar15ZZ.json.gz", true,
			LogFile{Kind: KindOther, Account: "111122223333", Region: "us-east-1"}},
		{"AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/444455556666_CloudTrail_us-east-1_20261120T1405Z_Mu0KsOhtH1ar15ZZ.json.gz", true,
			LogFile{Kind: KindOther, Account: "111122223333", Region: "us-east-1"}},
		{"AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/", true, LogFile{Account: "111122223333"}},
		{"AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/111122223333_CloudTrail_us-east-1_20261120T1405Z_Mu0KsOhtH1ar15ZZ.json", true,
			LogFile{Kind: KindOther, Account: "111122223333", Region: "us-east-1"}},
		{"other/key.json.gz", false, LogFile{}},
		{"xAWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/111122223333_CloudTrail_us-east-1_20261120T1405Z_U.json.gz", false, LogFile{}},
	} {
		got, ok := ParseKey(c.key)
		c.want.Key = c.key
		if ok != c.ok {
			t.Errorf("%s: ok %v", c.key, ok)
			continue
		}
		if !ok {
			continue
		}
		if got.Kind != c.want.Kind || got.Root != c.want.Root || got.Org != c.want.Org || got.Account != c.want.Account ||
			(c.want.Kind != KindOther && got.Region != c.want.Region) || !got.Delivered.Equal(c.want.Delivered) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.key, got, c.want)
		}
	}
}

// TestNameAtSortsBetweenMinutes: the StartAfter of a listing beginning at
// t's minute sorts after the files delivered the minute before and before
// the files delivered in t's minute.
func TestNameAtSortsBetweenMinutes(t *testing.T) {
	p := Partition{Org: "o-abcdef1234", Account: "111122223333", Region: "us-east-1"}
	at := time.Date(2026, 11, 20, 10, 0, 40, 0, time.UTC)
	start := p.DayPrefix(at) + p.NameAt(at)
	key := func(m time.Time, u string) string {
		return p.DayPrefix(m) + p.Account + "_CloudTrail_" + p.Region + "_" + m.Format("20060102T1504Z") + "_" + u + LogSuffix
	}
	before := key(at.Add(-time.Minute), "zzzzzzzzzzzzzzzz")
	same := key(at, "0000000000000000")
	if !(before < start && start < same) {
		t.Errorf("order: %q < %q < %q does not hold", before, start, same)
	}
	if !strings.HasPrefix(start, "AWSLogs/o-abcdef1234/111122223333/CloudTrail/us-east-1/2026/11/20/") {
		t.Errorf("day prefix %q", start)
	}
}

func TestParseURL(t *testing.T) {
	for _, c := range []struct {
		url  string
		want Location
		err  string
	}{
		{"s3://trail-bucket", Location{Bucket: "trail-bucket"}, ""},
		{"s3://trail-bucket/", Location{Bucket: "trail-bucket"}, ""},
		{"s3://trail-bucket/logs", Location{Bucket: "trail-bucket", Root: "logs/"}, ""},
		{"s3://trail-bucket/logs/AWSLogs/", Location{Bucket: "trail-bucket", Root: "logs/"}, ""},
		{"s3://trail-bucket/AWSLogs/o-abcdef1234/", Location{Bucket: "trail-bucket", Org: "o-abcdef1234"}, ""},
		{"s3://trail-bucket/AWSLogs/o-abcdef1234/111122223333", Location{Bucket: "trail-bucket", Org: "o-abcdef1234", Account: "111122223333"}, ""},
		{"s3://trail-bucket/AWSLogs/111122223333/CloudTrail/eu-west-1/", Location{Bucket: "trail-bucket", Account: "111122223333", Region: "eu-west-1"}, ""},
		{"s3://trail-bucket/AWSLogs/111122223333/CloudTrail/eu-west-1/2026/", Location{}, "--since and --until"},
		{"s3://trail-bucket/AWSLogs/111122223333/CloudTrail-Digest/", Location{}, "only CloudTrail/"},
		{"s3://trail-bucket/AWSLogs/prod/", Location{}, "neither an organisation id"},
		{"trail-bucket/logs", Location{}, "not an s3:// URL"},
		{"s3://Trail_Bucket/", Location{}, "not an S3 bucket name"},
	} {
		got, err := ParseURL(c.url)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.url, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %+v, %v; want %+v", c.url, got, err, c.want)
		}
		if err == nil {
			if back, _ := ParseURL(got.URL()); back != got {
				t.Errorf("%s: URL() %q parses back to %+v", c.url, got.URL(), back)
			}
		}
	}
}

func TestPlanDays(t *testing.T) {
	p := Plan{Since: time.Date(2026, 11, 18, 22, 0, 0, 0, time.UTC), Until: time.Date(2026, 11, 20, 23, 30, 0, 0, time.UTC)}
	var got []string
	for _, d := range p.Days() {
		got = append(got, d.Format("2006-01-02"))
	}
	// Calls made before midnight may be delivered the next day.
	if want := []string{"2026-11-18", "2026-11-19", "2026-11-20", "2026-11-21"}; !slices.Equal(got, want) {
		t.Errorf("days %v, want %v", got, want)
	}
}
