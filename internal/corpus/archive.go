package corpus

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// ArchiveFile is one object of a trail archive: a CloudTrail log file
// ({"Records":[…]}, gzip) under its S3 key.
type ArchiveFile struct {
	Key     string
	Body    []byte
	Records int
	// Delivered is the delivery time the key names.
	Delivered time.Time
}

// FallbackAccount holds the records whose recipientAccountId is not a
// 12-digit account (the corpus has a few malformed ones on purpose).
const FallbackAccount = "999988887777"

// ArchiveWindow is how many minutes of calls one log file gathers, per
// account and Region.
const ArchiveWindow = 5 * time.Minute

// ArchiveOptions say how an archive is laid out.
type ArchiveOptions struct {
	// Root is the trail's key prefix ("" or ending in "/"); Org the
	// organisation id ("" for an account's trail).
	Root, Org string
	Seed      int64
	// Others is how many records of other services (STS, S3, EC2, KMS,
	// CloudWatch Logs, all read-only calls by application roles) each
	// Bedrock record comes with, as in a real trail where Bedrock is a
	// small share of the calls.
	Others int
}

// Archive lays events out as an organisation trail delivers them to S3:
// the records of each account and Region, a file per ArchiveWindow of call
// time, each delivered 1 to 9 minutes after its window ends (seeded),
// named and filed by delivery time:
//
//	ROOT/AWSLogs/[ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_UNIQUE.json.gz
//
// The files come in key order. The same events and options give the same
// bytes.
func Archive(events []Event, o ArchiveOptions) ([]ArchiveFile, error) {
	root, org, seed := o.Root, o.Org, o.Seed
	other := newGen(seed ^ 0x6f74686572)
	type group struct {
		account, region string
		window          time.Time
		records         []json.RawMessage
		times           []time.Time
	}
	groups := map[string]*group{}
	for i := range events {
		var env struct {
			Detail json.RawMessage `json:"detail"`
		}
		if err := json.Unmarshal(events[i].JSON, &env); err != nil {
			return nil, fmt.Errorf("corpus: event %d: %w", i, err)
		}
		var rec struct {
			EventTime          time.Time `json:"eventTime"`
			AWSRegion          string    `json:"awsRegion"`
			RecipientAccountID string    `json:"recipientAccountId"`
		}
		if err := json.Unmarshal(env.Detail, &rec); err != nil {
			return nil, fmt.Errorf("corpus: event %d detail: %w", i, err)
		}
		account := rec.RecipientAccountID
		if len(account) != 12 {
			account = FallbackAccount
		}
		w := rec.EventTime.UTC().Truncate(ArchiveWindow)
		k := account + "/" + rec.AWSRegion + "/" + w.Format(time.RFC3339)
		g := groups[k]
		if g == nil {
			g = &group{account: account, region: rec.AWSRegion, window: w}
			groups[k] = g
		}
		g.records = append(g.records, env.Detail)
		g.times = append(g.times, rec.EventTime)
		for range o.Others {
			at := rec.EventTime.Add(-time.Duration(other.rng.IntN(60_000)) * time.Millisecond)
			if at.Before(w) {
				at = w
			}
			b, err := json.Marshal(other.otherRecord(account, rec.AWSRegion, at))
			if err != nil {
				return nil, err
			}
			g.records = append(g.records, b)
			g.times = append(g.times, at)
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x4152434849564553))
	base := root + "AWSLogs/"
	if org != "" {
		base += org + "/"
	}
	out := make([]ArchiveFile, 0, len(groups))
	for _, k := range keys {
		g := groups[k]
		order := make([]int, len(g.records))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return g.times[a].Compare(g.times[b]) })
		var buf bytes.Buffer
		buf.WriteString(`{"Records":[`)
		for n, i := range order {
			if n > 0 {
				buf.WriteByte(',')
			}
			buf.Write(g.records[i])
		}
		buf.WriteString("]}")
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		if _, err := zw.Write(buf.Bytes()); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		delivered := g.window.Add(ArchiveWindow + time.Duration(1+rng.IntN(9))*time.Minute)
		var unique strings.Builder
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
		for range 16 {
			unique.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
		key := fmt.Sprintf("%s%s/CloudTrail/%s/%s%s_CloudTrail_%s_%s_%s.json.gz",
			base, g.account, g.region, delivered.Format("2006/01/02/"), g.account, g.region, delivered.Format("20060102T1504Z"), unique.String())
		out = append(out, ArchiveFile{Key: key, Body: gz.Bytes(), Records: len(g.records), Delivered: delivered})
	}
	slices.SortFunc(out, func(a, b ArchiveFile) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// otherCalls are the other services' calls an archive mixes in.
var otherCalls = []struct{ source, name string }{
	{"sts.amazonaws.com", "AssumeRole"}, {"s3.amazonaws.com", "GetBucketLocation"}, {"ec2.amazonaws.com", "DescribeInstances"},
	{"kms.amazonaws.com", "Decrypt"}, {"logs.amazonaws.com", "DescribeLogGroups"}, {"dynamodb.amazonaws.com", "DescribeTable"},
	{"lambda.amazonaws.com", "GetFunction"}, {"ssm.amazonaws.com", "GetParameter"},
}

// otherRecord is a read-only call of another service by an application
// role of account, at t.
func (g *gen) otherRecord(account, region string, t time.Time) record {
	call := pick(g, otherCalls)
	r := g.common(account, g.assumedRole(account, "/", pick(g, appRoles), pick(g, sessionNames)), region, call.name)
	r.EventSource = call.source
	r.EventTime = t.UTC().Format(time.RFC3339)
	r.ReadOnly = true
	return r
}
