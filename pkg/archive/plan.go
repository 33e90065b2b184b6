package archive

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// DeliveryHorizon is how long after a call CloudTrail is assumed to have
// delivered the log file that holds it. AWS says delivery takes about 5
// minutes on average (it used to say "within 15 minutes") and guarantees
// none; an hour leaves a wide margin. A scan lists files delivered up to
// --until plus the horizon, since calls made just before --until arrive
// after it, and judges recon-then-invoke in time order up to the horizon
// behind the files read (see SequenceJudge). A call delivered later than
// that is still judged by every per-event rule.
const DeliveryHorizon = time.Hour

// Plan is what a scan reads: the log files of the location's partitions
// (every account and Region found there, or those named) that can hold
// calls made in [Since, Until).
type Plan struct {
	Location
	Since, Until time.Time
	// Accounts and Regions narrow the partitions; empty means every one
	// the bucket holds.
	Accounts, Regions []string
}

// Days returns the UTC dates whose folders the scan lists: from Since's
// date to the date of Until plus DeliveryHorizon.
func (p Plan) Days() []time.Time {
	first := p.Since.UTC().Truncate(24 * time.Hour)
	last := p.Until.Add(DeliveryHorizon).UTC().Truncate(24 * time.Hour)
	var out []time.Time
	for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
		out = append(out, d)
	}
	return out
}

// lastDelivery is the latest delivery minute a scan reads.
func (p Plan) lastDelivery() time.Time { return p.Until.Add(DeliveryHorizon) }

// firstDelivery is the earliest delivery minute that can hold a call made
// at Since or later: a file named with minute M was delivered before M
// plus a minute and holds calls made before that.
func (p Plan) firstDelivery() time.Time { return p.Since.UTC().Truncate(time.Minute) }

// prefixes lists every common prefix under prefix (one level down).
func prefixes(ctx context.Context, b Bucket, bucket, prefix string) ([]string, error) {
	var out []string
	in := ListInput{Bucket: bucket, Prefix: prefix, Delimiter: "/"}
	for {
		page, err := b.List(ctx, in)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Prefixes...)
		if page.Next == "" {
			return out, nil
		}
		in.Token = page.Next
	}
}

// lastPart returns the final component of a common prefix ("a/b/c/" → "c").
func lastPart(prefix string) string {
	s := strings.TrimSuffix(prefix, "/")
	return s[strings.LastIndexByte(s, '/')+1:]
}

// Partitions finds the partitions of the plan: one listing of AWSLogs/
// (and of each organisation folder) for the accounts, one of each
// account's CloudTrail/ folder for its Regions, each with delimiter "/" so
// that no log file is listed. Accounts and Regions the plan names but the
// bucket does not hold are returned as notes.
func Partitions(ctx context.Context, b Bucket, p Plan) ([]Partition, []string, error) {
	var notes []string
	type acct struct{ org, id string }
	var accts []acct
	if p.Account != "" {
		accts = append(accts, acct{p.Org, p.Account})
	} else {
		orgs := []string{p.Org}
		if p.Org == "" {
			found, err := prefixes(ctx, b, p.Bucket, p.Root+LogsDir)
			if err != nil {
				return nil, nil, err
			}
			orgs = orgs[:0]
			for _, f := range found {
				switch name := lastPart(f); {
				case isOrgID(name):
					orgs = append(orgs, name)
				case isAccount(name):
					accts = append(accts, acct{"", name})
				}
			}
		}
		for _, org := range orgs {
			found, err := prefixes(ctx, b, p.Bucket, p.Root+LogsDir+org+"/")
			if err != nil {
				return nil, nil, err
			}
			for _, f := range found {
				if name := lastPart(f); isAccount(name) {
					accts = append(accts, acct{org, name})
				}
			}
		}
	}
	if len(p.Accounts) > 0 {
		var kept []acct
		for _, want := range p.Accounts {
			n := len(kept)
			for _, a := range accts {
				if a.id == want {
					kept = append(kept, a)
				}
			}
			if len(kept) == n {
				notes = append(notes, fmt.Sprintf("no log files for account %s under %s", want, p.URL()))
			}
		}
		accts = kept
	}
	if len(accts) == 0 && len(p.Accounts) == 0 {
		return nil, notes, fmt.Errorf("%s holds no CloudTrail logs (no AWSLogs/ACCOUNT/ or AWSLogs/o-ORG/ACCOUNT/ folders): is the prefix the trail's S3 key prefix?", p.URL())
	}
	var parts []Partition
	regionSeen := map[string]bool{}
	for _, a := range accts {
		base := Partition{Root: p.Root, Org: a.org, Account: a.id}
		var regions []string
		if p.Region != "" {
			regions = []string{p.Region}
		} else {
			found, err := prefixes(ctx, b, p.Bucket, base.accountPrefix()+TrailDir+"/")
			if err != nil {
				return nil, nil, err
			}
			for _, f := range found {
				regions = append(regions, lastPart(f))
			}
		}
		for _, r := range regions {
			if len(p.Regions) > 0 && !slices.Contains(p.Regions, r) {
				continue
			}
			regionSeen[r] = true
			part := base
			part.Region = r
			parts = append(parts, part)
		}
	}
	for _, r := range p.Regions {
		if !regionSeen[r] && len(accts) > 0 {
			notes = append(notes, fmt.Sprintf("no log files for Region %s under %s", r, p.URL()))
		}
	}
	return parts, notes, nil
}

// listDay returns the log files of part delivered on day within the plan,
// in delivery order, and how many other keys the folder held (digests are
// in their own folder and never listed). It starts after the plan's first
// delivery minute on the first day and stops at its last.
func listDay(ctx context.Context, b Bucket, p Plan, part Partition, day time.Time) ([]LogFile, []ObjectInfo, int, error) {
	in := ListInput{Bucket: p.Bucket, Prefix: part.DayPrefix(day)}
	if from := p.firstDelivery(); from.Truncate(24 * time.Hour).Equal(day) {
		in.StartAfter = in.Prefix + part.NameAt(from)
	}
	last := p.lastDelivery()
	var (
		files []LogFile
		infos []ObjectInfo
		other int
	)
	for {
		page, err := b.List(ctx, in)
		if err != nil {
			return nil, nil, 0, err
		}
		for _, o := range page.Objects {
			lf, _ := ParseKey(o.Key)
			if lf.Kind != KindLog {
				other++
				continue
			}
			if lf.Delivered.After(last) {
				return files, infos, other, nil
			}
			if lf.Delivered.Before(p.firstDelivery()) {
				continue
			}
			files = append(files, lf)
			infos = append(infos, o)
		}
		if page.Next == "" {
			return files, infos, other, nil
		}
		in.Token = page.Next
	}
}
