// Package archive reads CloudTrail's log files where a trail delivers them:
// an S3 bucket holding, for an organisation trail, every account's and
// every Region's calls for as long as the bucket keeps them. It knows the
// bucket's key layout (this file), plans which key prefixes a scan must
// list (plan.go), and reads the objects in delivery order on parallel
// workers, judging their records with the detection core (scan.go).
// Package archive/s3src is the S3 adapter; archive/intake is the Lambda
// that judges each new log file as S3 announces it.
//
// The layout CloudTrail writes, under the trail's optional key prefix:
//
//	AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_UNIQUE.json.gz
//
// with digest files under CloudTrail-Digest/ (and Insights events under
// CloudTrail-Insight/) beside CloudTrail/. The date folders and the time
// in the file name are when the file was DELIVERED, in UTC; a file holds
// records of calls made at any time before that.
package archive

import (
	"fmt"
	"strings"
	"time"
)

// Path components of the layout.
const (
	// LogsDir is the first folder CloudTrail writes under the trail's
	// prefix.
	LogsDir = "AWSLogs/"
	// TrailDir holds the log files of one account; DigestDir (not read)
	// the integrity digests, InsightDir (not read) Insights events.
	TrailDir   = "CloudTrail"
	DigestDir  = "CloudTrail-Digest"
	InsightDir = "CloudTrail-Insight"
	// LogSuffix ends every log file's name.
	LogSuffix = ".json.gz"
	// nameTime is the layout of the delivery time in a file name.
	nameTime = "20060102T1504Z"
	dayPath  = "2006/01/02/"
)

// Kind says what an object under AWSLogs/ is.
type Kind int

// Kinds of object.
const (
	// KindOther is anything that is not in CloudTrail's layout.
	KindOther Kind = iota
	// KindLog is a CloudTrail log file: the records to judge.
	KindLog
	// KindDigest is a log file integrity digest (CloudTrail-Digest/).
	KindDigest
	// KindInsight is an Insights events file (CloudTrail-Insight/).
	KindInsight
)

// LogFile is a key of CloudTrail's layout, parsed.
type LogFile struct {
	Key  string
	Kind Kind
	// Root is the trail's key prefix with its trailing slash ("" for
	// none): everything before AWSLogs/.
	Root string
	// Org is the organisation id (o-…) of an organisation trail, "" for
	// an account's own trail.
	Org     string
	Account string
	Region  string
	// Delivered is the delivery time from the file name (to the minute):
	// the file holds records of calls made before Delivered plus a
	// minute.
	Delivered time.Time
}

// ParseKey parses an S3 key in CloudTrail's layout. ok is false for a key
// that is not under AWSLogs/; a key there that is not a log file, digest or
// Insights file in the expected shape has KindOther.
func ParseKey(key string) (LogFile, bool) {
	i := logsIndex(key)
	if i < 0 {
		return LogFile{Key: key}, false
	}
	lf := LogFile{Key: key, Root: key[:i]}
	parts := strings.Split(key[i+len(LogsDir):], "/")
	if len(parts) > 0 && isOrgID(parts[0]) {
		lf.Org, parts = parts[0], parts[1:]
	}
	// ACCOUNT / DIR / REGION / YYYY / MM / DD / NAME
	if len(parts) != 7 || !isAccount(parts[0]) {
		return lf, true
	}
	lf.Account, lf.Region = parts[0], parts[2]
	switch parts[1] {
	case TrailDir:
		lf.Kind = KindLog
	case DigestDir:
		lf.Kind = KindDigest
		return lf, true
	case InsightDir:
		lf.Kind = KindInsight
		return lf, true
	default:
		return lf, true
	}
	name := parts[6]
	head := lf.Account + "_CloudTrail_" + lf.Region + "_"
	if !strings.HasPrefix(name, head) || !strings.HasSuffix(name, LogSuffix) || len(name) < len(head)+len(nameTime)+1+len(LogSuffix) {
		lf.Kind = KindOther
		return lf, true
	}
	t, err := time.Parse(nameTime, name[len(head):len(head)+len(nameTime)])
	if err != nil || name[len(head)+len(nameTime)] != '_' || strings.Join(parts[3:6], "/")+"/" != t.Format(dayPath) {
		lf.Kind = KindOther
		return lf, true
	}
	lf.Delivered = t
	return lf, true
}

// logsIndex returns where the AWSLogs/ folder starts in key, or -1.
func logsIndex(key string) int {
	if strings.HasPrefix(key, LogsDir) {
		return 0
	}
	if i := strings.Index(key, "/"+LogsDir); i >= 0 {
		return i + 1
	}
	return -1
}

// isOrgID reports whether s is an organisation id: "o-" and 10 to 32
// lower-case letters or digits.
func isOrgID(s string) bool {
	if len(s) < 12 || len(s) > 34 || !strings.HasPrefix(s, "o-") {
		return false
	}
	for _, c := range s[2:] {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// isAccount reports whether s is a 12-digit account id.
func isAccount(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Partition is the log files of one account in one Region: the unit a
// scan lists, a day at a time.
type Partition struct {
	Root, Org, Account, Region string
}

// Prefix is the partition's folder: ROOT/AWSLogs/[ORG/]ACCOUNT/CloudTrail/REGION/.
func (p Partition) Prefix() string {
	return p.accountPrefix() + TrailDir + "/" + p.Region + "/"
}

// accountPrefix is ROOT/AWSLogs/[ORG/]ACCOUNT/.
func (p Partition) accountPrefix() string {
	s := p.Root + LogsDir
	if p.Org != "" {
		s += p.Org + "/"
	}
	return s + p.Account + "/"
}

// DayPrefix is the folder of the files delivered on day's UTC date.
func (p Partition) DayPrefix(day time.Time) string {
	return p.Prefix() + day.UTC().Format(dayPath)
}

// NameAt is the start of the name of a file delivered in t's minute,
// without the "Z_UNIQUE.json.gz" that follows. In a day folder the keys
// sort in delivery order, and DayPrefix(t)+NameAt(t) sorts after every
// key delivered before t's minute and before every key delivered in it or
// later: the StartAfter of a listing that begins at t.
func (p Partition) NameAt(t time.Time) string {
	return p.Account + "_CloudTrail_" + p.Region + "_" + t.UTC().Format("20060102T1504")
}

// String names the partition as "ACCOUNT/REGION" (with the organisation
// when there is one).
func (p Partition) String() string {
	if p.Org != "" {
		return p.Org + "/" + p.Account + "/" + p.Region
	}
	return p.Account + "/" + p.Region
}

// Location is where a scan reads: a bucket, the trail's key prefix, and
// optionally the organisation, account and Region an s3:// URL already
// names.
type Location struct {
	Bucket string
	// Root is the trail's key prefix, "" or ending in "/".
	Root                 string
	Org, Account, Region string
}

// URL returns s3://BUCKET/ROOT[AWSLogs/...].
func (l Location) URL() string {
	s := "s3://" + l.Bucket + "/" + l.Root
	if l.Org != "" || l.Account != "" {
		s += LogsDir
		if l.Org != "" {
			s += l.Org + "/"
		}
		if l.Account != "" {
			s += l.Account + "/"
			if l.Region != "" {
				s += TrailDir + "/" + l.Region + "/"
			}
		}
	}
	return s
}

// ParseURL reads s3://BUCKET[/PREFIX]. PREFIX is the trail's key prefix
// (what comes before AWSLogs/), or a path into the layout down to a
// Region: PREFIX/AWSLogs/o-ORG/, …/ACCOUNT/, …/ACCOUNT/CloudTrail/REGION/.
// Days are chosen with --since and --until, not in the URL.
func ParseURL(s string) (Location, error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return Location{}, fmt.Errorf("%q is not an s3:// URL (like s3://my-trail-bucket or s3://my-trail-bucket/prefix)", s)
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	if !validBucket(bucket) {
		return Location{}, fmt.Errorf("%q is not an S3 bucket name", bucket)
	}
	loc := Location{Bucket: bucket}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	i := logsIndex(prefix)
	if i < 0 {
		loc.Root = prefix
		return loc, nil
	}
	loc.Root = prefix[:i]
	parts := strings.Split(strings.TrimSuffix(prefix[i+len(LogsDir):], "/"), "/")
	if len(parts) == 1 && parts[0] == "" {
		return loc, nil
	}
	if isOrgID(parts[0]) {
		loc.Org, parts = parts[0], parts[1:]
	}
	deep := func() error {
		return fmt.Errorf("%s: a prefix may name the organisation, the account and the Region (…/AWSLogs/o-ORG/ACCOUNT/CloudTrail/REGION/); choose days with --since and --until", s)
	}
	if len(parts) == 0 {
		return loc, nil
	}
	if !isAccount(parts[0]) {
		return Location{}, fmt.Errorf("%s: %q after AWSLogs/ is neither an organisation id (o-…) nor a 12-digit account", s, parts[0])
	}
	loc.Account, parts = parts[0], parts[1:]
	switch {
	case len(parts) == 0:
		return loc, nil
	case parts[0] != TrailDir:
		return Location{}, fmt.Errorf("%s: only %s/ holds log files (not %s/)", s, TrailDir, parts[0])
	case len(parts) == 1:
		return loc, nil
	case len(parts) == 2:
		loc.Region = parts[1]
		return loc, nil
	}
	return Location{}, deep()
}

// validBucket reports whether s can be an S3 bucket name: 3 to 63
// lower-case letters, digits, dots and hyphens.
func validBucket(s string) bool {
	if len(s) < 3 || len(s) > 63 {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '.' && c != '-' {
			return false
		}
	}
	return true
}
