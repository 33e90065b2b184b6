package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/bedrock-warden/warden/pkg/alerts/hubpub"
	"github.com/bedrock-warden/warden/pkg/safetext"
	"github.com/bedrock-warden/warden/pkg/seal"
	"github.com/bedrock-warden/warden/pkg/seal/kmsmac"
	"github.com/bedrock-warden/warden/pkg/selftest"
	"github.com/bedrock-warden/warden/pkg/selftest/cwcount"
	"github.com/bedrock-warden/warden/pkg/selftest/lambdainv"
	"github.com/bedrock-warden/warden/pkg/selftest/sqstap"
	"github.com/bedrock-warden/warden/pkg/stack"
	"github.com/bedrock-warden/warden/pkg/state"
	"github.com/bedrock-warden/warden/pkg/state/dynamostore"
	"github.com/bedrock-warden/warden/pkg/tamper/markdb"
)

func init() {
	register(command{name: "selftest", summary: "prove a deployed stack works, hop by hop (no Bedrock call)", run: runSelftest})
}

// Test hooks: CloudWatch client options (moto speaks the query protocol),
// the poll interval, and a callback once the temporary subscription
// exists.
var (
	selftestCloudWatchOptions []func(*cloudwatch.Options)
	selftestPoll              time.Duration
	selftestSubscribed        func(ctx context.Context, s selftest.Subscription)
)

const selftestAbout = `Proves that the deployed stack works, without a Bedrock call and at the cost
of a few requests. It invokes the detector with a synthetic, clearly marked
event (eventType BedrockWardenSelfTest, principal a role under
/bedrock-warden/), waits for the alert on the stack's topic through a
temporary SQS subscription (removed afterwards), verifies the alert's seal
(when the caller may use kms:VerifyMac: the OnCallRoleArn role may), and
checks the state table, the metrics, the Security Hub finding (when
enabled) and that self-protection saw the temporary subscription. Every
hop is printed with ✓ or ✗, and how to fix a failure.

The synthetic finding (rule selftest, severity info) is never remediated:
no policy may map the rule to an action, its alert is never marked
remediable, and the remediator never touches /bedrock-warden/ roles.

The caller needs cloudformation:DescribeStacks; lambda:InvokeFunction on the
detector; sqs:CreateQueue, SetQueueAttributes, GetQueueAttributes,
ReceiveMessage, DeleteMessage, DeleteQueue; sns:Subscribe, Unsubscribe and
ConfirmSubscription on the topic; dynamodb:GetItem on the table; cloudwatch:GetMetricData; and
optionally kms:VerifyMac and securityhub:GetFindings.

Exit status: 0 every hop passed (or was skipped), 1 a hop failed, 2 usage
error or the stack could not be read.`

func runSelftest(ctx context.Context, args []string, sio *IO) int {
	fl := newFlags("selftest", "warden selftest --stack NAME [--region REGION] [--timeout 2m] [--settle 3m] [--format text|json]", selftestAbout,
		"warden selftest --stack bedrock-warden",
		"warden selftest --stack bedrock-warden --region eu-west-1 --json").withFormat()
	sf := addStackFlags(fl, sio)
	alertWait := fl.fs.Duration("timeout", 2*time.Minute, "how long to wait for the alert")
	settleWait := fl.fs.Duration("settle", 3*time.Minute, "how long to wait for metrics, Security Hub and the sentinel, which lag")
	pos, code, ok := fl.parse(args, sio)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return fail(sio, "selftest", fmt.Errorf("unexpected argument %q (selftest takes only flags)", pos[0]))
	}
	cfg, err := sf.config(ctx)
	if err != nil {
		return fail(sio, "selftest", err)
	}
	st, err := sf.resolve(ctx, cfg)
	if err != nil {
		return fail(sio, "selftest", err)
	}
	topic, err := st.Output(stack.OutputAlertTopic)
	if err != nil {
		return fail(sio, "selftest", err)
	}
	table, err := st.Output(stack.OutputStateTable)
	if err != nil {
		return fail(sio, "selftest", err)
	}
	topicARN, err := arn.Parse(topic)
	if err != nil {
		return fail(sio, "selftest", fmt.Errorf("the stack's %s output %q is not an ARN", stack.OutputAlertTopic, topic))
	}
	detector := st.Outputs[stack.OutputDetectorFunction]
	if detector == "" {
		detector = st.Name + "-detector" // the template's FunctionName
	}
	t := selftest.Target{
		Stack: st.Name, Region: topicARN.Region, Account: topicARN.AccountID, Partition: topicARN.Partition,
		Detector: detector, Topic: topic,
		Metrics:     !strings.EqualFold(st.Parameter(stack.ParameterMetricsMode), "off"),
		SecurityHub: st.Parameter(stack.ParameterSecurityHub) == "true",
	}
	marks := markdb.New(cfg, table)
	r := &selftest.Runner{
		Invoker:    lambdainv.New(cfg),
		Tap:        sqstap.New(cfg),
		State:      stateReader{dynamostore.New(dynamodb.NewFromConfig(cfg), table)},
		Metrics:    cwcount.New(cfg, selftestCloudWatchOptions...),
		Sentinel:   marks,
		AlertWait:  *alertWait,
		SettleWait: *settleWait,
		Poll:       selftestPoll,
		Subscribed: selftestSubscribed,
		NewID:      newUUID,
	}
	if key := st.Outputs[stack.OutputFindingKey]; key != "" {
		r.Verifier = sealVerifier{seal.FindingVerifier{MAC: kmsmac.New(cfg, key)}}
	}
	if t.SecurityHub {
		r.Hub = hubpub.New(cfg, hubpub.Options{Stack: st.Name, Account: t.Account, Region: t.Region, Partition: t.Partition})
	}
	colour := colourOn(sio)
	if !fl.JSON() {
		fmt.Fprintf(sio.Stdout, "Self-test of stack %s in %s (detector %s, topic %s)\n", st.Name, t.Region, safetext.Line(detector), topic)
		r.Progress = func(h selftest.Hop) { printHop(sio, h, colour) }
	}
	rep := r.Run(ctx, t)
	if fl.JSON() {
		if err := writeJSON(sio.Stdout, rep); err != nil {
			return fail(sio, "selftest", err)
		}
	} else {
		failed := 0
		for _, h := range rep.Hops {
			if h.Status == selftest.Failed {
				failed++
			}
		}
		if rep.OK {
			fmt.Fprintf(sio.Stdout, "\nThe stack works: %s checked (synthetic event %s).\n", plural(len(rep.Hops), "hop"), rep.EventID)
		} else {
			fmt.Fprintf(sio.Stdout, "\n%s of %s failed (synthetic event %s).\n", plural(failed, "hop"), plural(len(rep.Hops), "hop"), rep.EventID)
		}
	}
	if !rep.OK {
		return exitFindings
	}
	return exitOK
}

// printHop prints one hop: a mark, its name, what was seen, and the fix.
func printHop(sio *IO, h selftest.Hop, colour bool) {
	mark, code := "✓", "32"
	switch h.Status {
	case selftest.Failed:
		mark, code = "✗", "31"
	case selftest.Skipped:
		mark, code = "–", "33"
	}
	if colour {
		mark = "\x1b[" + code + "m" + mark + "\x1b[0m"
	}
	took := ""
	if h.Took >= time.Second {
		took = " (" + h.Took.Round(time.Second).String() + ")"
	}
	fmt.Fprintf(sio.Stdout, "%s %s%s: %s\n", mark, h.Name, took, safetext.Line(h.Detail))
	if h.Fix != "" && h.Status != selftest.Passed {
		fmt.Fprintf(sio.Stdout, "    fix: %s\n", safetext.Line(h.Fix))
	}
}

// stateReader adapts the state table's store to selftest.State.
type stateReader struct{ s *dynamostore.Store }

func (r stateReader) Handled(ctx context.Context, eventID string) (bool, error) {
	m, err := r.s.Handled(ctx, []string{eventID})
	return m[eventID], err
}

func (r stateReader) Alerted(ctx context.Context, fingerprint string) (bool, error) {
	w, err := r.s.Window(ctx, fingerprint)
	return w.Status == state.StatusSent, err
}

// sealVerifier adapts seal.FindingVerifier to selftest.Verifier.
type sealVerifier struct{ v seal.FindingVerifier }

func (s sealVerifier) Verify(ctx context.Context, findingJSON []byte, attrs map[string]string) error {
	_, err := s.v.Verify(ctx, findingJSON, attrs)
	return err
}

// newUUID returns a random version-4 UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
