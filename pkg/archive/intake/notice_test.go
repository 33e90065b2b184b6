package intake

import (
	"errors"
	"testing"

	"github.com/bedrock-warden/warden/pkg/findings"
)

func TestParseNotice(t *testing.T) {
	const key = "AWSLogs/o-abcdef1234/111122223333/CloudTrail/us-east-1/2026/11/20/111122223333_CloudTrail_us-east-1_20261120T1405Z_Mu0KsOhtH1ar15ZZ.json.gz"
	for _, c := range []struct {
		name string
		body string
		want Notice
		err  bool
	}{
		{"S3 event, key URL-encoded", `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-11-20T14:06:01.123Z","eventName":"ObjectCreated:Put",
			"s3":{"s3SchemaVersion":"1.0","configurationId":"warden","bucket":{"name":"org-trail-logs","arn":"arn:aws:s3:::org-trail-logs"},
			"object":{"key":"my+logs/AWSLogs/o-abcdef1234/111122223333/CloudTrail/us-east-1/2026/11/20/111122223333_CloudTrail_us-east-1_20261120T1405Z_Mu0KsOhtH1ar15ZZ.json.gz","size":2048,"eTag":"0123","sequencer":"0A1B"}}}]}`,
			Notice{Objects: []ObjectRef{{Bucket: "org-trail-logs", Key: "my logs/" + key, Size: 2048}}}, false},
		{"S3 event, deletion ignored", `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`,
			Notice{Ignored: 1}, false},
		{"S3 test event", `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-20T14:00:00.000Z","Bucket":"org-trail-logs","RequestId":"X","HostId":"Y"}`,
			Notice{Test: true}, false},
		{"EventBridge Object Created, key as is", `{"version":"0","id":"c988","detail-type":"Object Created","source":"aws.s3","account":"999988887777","time":"2026-11-20T14:06:01Z","region":"us-east-1",
			"resources":["arn:aws:s3:::org-trail-logs"],"detail":{"version":"0","bucket":{"name":"org-trail-logs"},"object":{"key":"` + key + `","size":4096,"etag":"x","sequencer":"00"},"request-id":"R","requester":"cloudtrail.amazonaws.com","reason":"PutObject"}}`,
			Notice{Objects: []ObjectRef{{Bucket: "org-trail-logs", Key: key, Size: 4096}}}, false},
		{"EventBridge Object Deleted ignored", `{"detail-type":"Object Deleted","source":"aws.s3","detail":{"bucket":{"name":"b"},"object":{"key":"k"}}}`, Notice{Ignored: 1}, false},
		{"CloudTrail record, not a notification", `{"Records":[{"eventSource":"bedrock.amazonaws.com","eventName":"InvokeModel"}]}`, Notice{}, true},
		{"EventBridge event from another source", `{"detail-type":"AWS API Call via CloudTrail","source":"aws.bedrock","detail":{}}`, Notice{}, true},
		{"bad key encoding", `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"%zz"}}}]}`, Notice{}, true},
		{"not JSON", `hello`, Notice{}, true},
		{"other JSON", `{"hello":"world"}`, Notice{}, true},
	} {
		got, err := ParseNotice([]byte(c.body))
		if c.err {
			if !errors.Is(err, ErrUnknownNotice) {
				t.Errorf("%s: %+v, %v; want ErrUnknownNotice", c.name, got, err)
			}
			continue
		}
		if err != nil || got.Test != c.want.Test || got.Ignored != c.want.Ignored || len(got.Objects) != len(c.want.Objects) {
			t.Errorf("%s: %+v, %v; want %+v", c.name, got, err, c.want)
			continue
		}
		for i := range got.Objects {
			if got.Objects[i] != c.want.Objects[i] {
				t.Errorf("%s: object %+v, want %+v", c.name, got.Objects[i], c.want.Objects[i])
			}
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := ConfigFromEnv(env(map[string]string{EnvBucket: "org-trail-logs", EnvPrefix: "/logs/"}))
	if err != nil || c.Trail != (Trail{Bucket: "org-trail-logs", Root: "logs/"}) || c.MaxObjectBytes != DefaultMaxObjectBytes {
		t.Errorf("config %+v, %v", c, err)
	}
	if _, err := ConfigFromEnv(env(nil)); err == nil {
		t.Error("no bucket accepted")
	}
	if _, err := ConfigFromEnv(env(map[string]string{EnvBucket: "b", EnvMaxObjectBytes: "12"})); err == nil {
		t.Error("a 12-byte limit accepted")
	}
}

// TestRemediableOnlyForOtherAccounts: a log file's finding reaches the
// remediator (which refuses it with the plan) only when its principal is in
// another account than the stack's, whatever account the record claims;
// never when it names the stack's own account or cannot be placed.
func TestRemediableOnlyForOtherAccounts(t *testing.T) {
	const own = "999988887777"
	for _, c := range []struct {
		principal, account string
		want               bool
	}{
		{"arn:aws:iam::444455556666:role/app-chat", "444455556666", true},
		{"arn:aws:iam::999988887777:role/Admin", "999988887777", false},
		{"arn:aws:iam::999988887777:role/Admin", "444455556666", false}, // a forged recipient account
		{"bedrock.amazonaws.com", "444455556666", false},
		{"", "444455556666", false},
	} {
		f := &findings.Finding{Principal: c.principal, Account: c.account}
		if got := Remediable(f, own); got != c.want {
			t.Errorf("%s in %s: remediable %v", c.principal, c.account, got)
		}
	}
	if Remediable(&findings.Finding{Principal: "arn:aws:iam::444455556666:role/app-chat"}, "") {
		t.Error("remediable although the stack's account is unknown")
	}
}
