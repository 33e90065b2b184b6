// Package motoserver starts a private moto_server on 127.0.0.1 for tests and
// gives aws.Configs pointed at it. Each call to Start gets its own process on
// a free port, stopped when the test ends.
package motoserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bedrock-warden/warden/pkg/awsconf"
	"github.com/bedrock-warden/warden/pkg/statetable"
)

// Server is a running moto_server.
type Server struct {
	URL string // e.g. http://127.0.0.1:41234
	cmd *exec.Cmd
}

// Option sets an environment variable for the moto process, e.g.
// Env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true").
type Option func(*[]string)

// Env adds KEY=VALUE to moto_server's environment.
func Env(key, value string) Option {
	return func(env *[]string) { *env = append(*env, key+"="+value) }
}

// Start launches moto_server, waits until it answers, and registers its
// shutdown with t.Cleanup. It fails the test when moto_server is not on PATH
// unless WARDEN_SKIP_MOTO=1, in which case it skips.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		if os.Getenv("WARDEN_SKIP_MOTO") == "1" {
			t.Skip("moto_server not on PATH (WARDEN_SKIP_MOTO=1)")
		}
		t.Fatalf("moto_server not found on PATH: install moto[server] 5.x (pip install 'moto[server]'); %v", err)
	}
	port := freePort(t)
	env := append(os.Environ(), "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing")
	for _, o := range opts {
		o(&env)
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Env = env
	cmd.Stdout = io.Discard
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("start moto_server: %v", err)
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
	t.Cleanup(s.stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not answer on %s within 30s: %v", s.URL, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

func (s *Server) stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}

// Config returns an aws.Config for region us-east-1 with static test
// credentials and every client's base endpoint set to the server.
func (s *Server) Config(t testing.TB) aws.Config {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")),
		config.WithBaseEndpoint(s.URL),
		config.WithRetryMaxAttempts(2),
	)
	if err != nil {
		t.Fatalf("aws config: %v", err)
	}
	return cfg
}

// Reset clears all of moto's state.
func (s *Server) Reset(t testing.TB) {
	t.Helper()
	resp, err := http.Post(s.URL+"/moto-api/reset", "application/json", nil)
	if err != nil {
		t.Fatalf("moto reset: %v", err)
	}
	resp.Body.Close()
}

// SNSMessage is one message moto recorded as published to a topic.
type SNSMessage struct {
	TopicARN   string
	MessageID  string
	Message    string
	Subject    string
	Attributes map[string]SNSAttribute
}

// SNSAttribute is a message attribute as moto stores it.
type SNSAttribute struct {
	DataType    string
	StringValue string
}

// SNSMessages returns every message published so far, read from
// /moto-api/data.json (sns → topics → sent_notifications).
func (s *Server) SNSMessages(t testing.TB) []SNSMessage {
	t.Helper()
	resp, err := http.Get(s.URL + "/moto-api/data.json")
	if err != nil {
		t.Fatalf("moto data.json: %v", err)
	}
	defer resp.Body.Close()
	var data struct {
		SNS struct {
			Topic []struct {
				ARN               string            `json:"arn"`
				SentNotifications []json.RawMessage `json:"sent_notifications"`
			} `json:"Topic"`
		} `json:"sns"`
	}
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &data); err != nil {
		t.Fatalf("decode moto data.json: %v", err)
	}
	var out []SNSMessage
	for _, topic := range data.SNS.Topic {
		for _, raw := range topic.SentNotifications {
			// moto stores [message_id, message, subject, attributes, group_id]
			var tuple []json.RawMessage
			if err := json.Unmarshal(raw, &tuple); err != nil || len(tuple) < 3 {
				t.Fatalf("unexpected sent_notifications entry: %s", raw)
			}
			m := SNSMessage{TopicARN: topic.ARN}
			_ = json.Unmarshal(tuple[0], &m.MessageID)
			_ = json.Unmarshal(tuple[1], &m.Message)
			_ = json.Unmarshal(tuple[2], &m.Subject)
			if len(tuple) > 3 {
				var attrs map[string]struct{ Type, Value string }
				_ = json.Unmarshal(tuple[3], &attrs)
				m.Attributes = make(map[string]SNSAttribute, len(attrs))
				for k, v := range attrs {
					m.Attributes[k] = SNSAttribute{DataType: v.Type, StringValue: v.Value}
				}
			}
			out = append(out, m)
		}
	}
	return out
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// CreateTable creates the Bedrock Warden state table in moto, with the
// layout of package statetable (as template.yaml declares it): on-demand,
// TTL enabled. Every adapter shares this one table under its own pk prefix.
func (s *Server) CreateTable(t testing.TB, name string) {
	t.Helper()
	ctx := context.Background()
	client := dynamodb.NewFromConfig(s.Config(t))
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(name),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String(statetable.PK), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String(statetable.SK), AttributeType: ddbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String(statetable.PK), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String(statetable.SK), KeyType: ddbtypes.KeyTypeRange},
		},
		BillingMode: ddbtypes.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(name),
		TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{AttributeName: aws.String(statetable.TTL), Enabled: aws.Bool(true)},
	})
	if err != nil {
		t.Fatalf("enable TTL on %s: %v", name, err)
	}
}

// CreateHMACKey creates a KMS HMAC key as template.yaml declares the
// stack's finding and ledger keys (KeySpec HMAC_256, KeyUsage
// GENERATE_VERIFY_MAC) and returns its ARN.
func (s *Server) CreateHMACKey(t testing.TB, description string) string {
	t.Helper()
	out, err := kms.NewFromConfig(s.Config(t)).CreateKey(context.Background(), &kms.CreateKeyInput{
		Description: aws.String(description),
		KeySpec:     kmstypes.KeySpecHmac256,
		KeyUsage:    kmstypes.KeyUsageTypeGenerateVerifyMac,
	})
	if err != nil {
		t.Fatalf("create HMAC key: %v", err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

// recorders holds one call recorder per Lambda function name, filled by the
// integration tests through ConfigFor and read by the template's
// least-privilege test.
var (
	recordersMu sync.Mutex
	recorders   = map[string]*awsconf.Recorder{}
)

// ConfigFor is Config with every AWS call recorded as made by function (the
// Lambda's directory name under functions/, e.g. "detector"), so that the
// template test can check that function's role grants each call.
func (s *Server) ConfigFor(t testing.TB, function string) aws.Config {
	t.Helper()
	cfg := s.Config(t)
	RecorderFor(function).Attach(&cfg)
	return cfg
}

// RecorderFor returns the process-wide recorder of function.
func RecorderFor(function string) *awsconf.Recorder {
	recordersMu.Lock()
	defer recordersMu.Unlock()
	r, ok := recorders[function]
	if !ok {
		r = awsconf.NewRecorder()
		recorders[function] = r
	}
	return r
}

// RecordedCalls returns, per function, the "service:Operation" actions
// recorded so far in this test process.
func RecordedCalls() map[string][]string {
	recordersMu.Lock()
	defer recordersMu.Unlock()
	out := make(map[string][]string, len(recorders))
	for fn, r := range recorders {
		out[fn] = r.Actions()
	}
	return out
}
