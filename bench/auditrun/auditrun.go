// Package auditrun measures `warden audit` over a large account: it fills a
// local IAM (moto_server, AWS managed policies loaded) with N roles holding
// five policies each, made from templates as accounts are: each template
// attaches three managed policies drawn from a pool of customer managed
// ones and two AWS managed ones and adds a Bedrock inline policy of its
// own; each role also has an inline policy naming its own resources. Then
// it runs the audit as the CLI composes it (audit.Auditor over
// audit/iamsrc with real SDK clients), counting every IAM call with
// pkg/awsconf's Recorder. The evaluator's share of the run is measured by
// judging the very principals the run read a second time, in one
// goroutine and without I/O.
package auditrun

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/bedrock-warden/warden/pkg/audit"
	"github.com/bedrock-warden/warden/pkg/audit/iamsrc"
	"github.com/bedrock-warden/warden/pkg/awsconf"
	"github.com/bedrock-warden/warden/pkg/policy"
)

// Options size the account.
type Options struct {
	Roles int // default 2,000
	// Pool is the number of distinct customer managed policies the
	// templates' attachments are drawn from (default 40); two AWS managed
	// policies join them.
	Pool int
	// Templates is the number of role templates (default 100).
	Templates int
	// Workers is the audit's concurrency (audit.DefaultWorkers when 0).
	Workers int
	Seed    uint64
}

// Managed and inline policies per role.
const (
	ManagedPerRole = 3
	InlinePerRole  = 2
)

// Result is one measured run.
type Result struct {
	Roles, Workers, Templates int
	// DistinctManaged is how many managed policies the roles attach.
	DistinctManaged int
	Setup           time.Duration
	// Wall is the audit run, listing to report.
	Wall  time.Duration
	Calls map[string]int
	// JudgeInRun sums the time each principal's judgement took inside the
	// run (the workers judge while others wait on IAM); JudgeSerial is the
	// same principals judged again one after the other, without I/O: the
	// evaluator's own cost.
	JudgeInRun  time.Duration
	JudgeSerial time.Duration
	// Computed is how many principals the serial pass judged in full; the
	// others shared the verdicts of a principal with the same
	// Bedrock-relevant policies.
	Computed int
	Summary  audit.Summary
	Errors   int
}

// Total returns every IAM call of the run.
func (r Result) Total() int {
	n := 0
	for _, v := range r.Calls {
		n += v
	}
	return n
}

// CallsPerPrincipal is Total over Roles.
func (r Result) CallsPerPrincipal() float64 { return float64(r.Total()) / float64(max(r.Roles, 1)) }

// EvaluatorShare is the evaluator's serial time over the run's wall time.
func (r Result) EvaluatorShare() float64 {
	if r.Wall == 0 {
		return 0
	}
	return float64(r.JudgeSerial) / float64(r.Wall)
}

// Measure fills the IAM cfg points at and audits it once.
func Measure(ctx context.Context, cfg aws.Config, o Options) (Result, error) {
	if o.Roles == 0 {
		o.Roles = 2000
	}
	if o.Pool == 0 {
		o.Pool = 40
	}
	if o.Templates == 0 {
		o.Templates = 100
	}
	if o.Workers == 0 {
		o.Workers = audit.DefaultWorkers
	}
	res := Result{Roles: o.Roles, Workers: o.Workers, Templates: o.Templates}
	t0 := time.Now()
	distinct, err := fill(ctx, iam.NewFromConfig(cfg), o)
	if err != nil {
		return res, err
	}
	res.DistinctManaged = distinct
	res.Setup = time.Since(t0)

	rec := awsconf.NewRecorder()
	run := cfg.Copy()
	rec.Attach(&run)
	dir := &keeping{Directory: iamsrc.NewFromConfig(run)}
	p := policy.Default()
	rep, err := (&audit.Auditor{Policy: p, PolicyName: "embedded default", Directory: dir, Workers: o.Workers}).Run(ctx)
	if err != nil {
		return res, fmt.Errorf("audit: %w", err)
	}
	res.Wall, res.JudgeInRun, res.Calls = rep.Stats.Elapsed, rep.Stats.Judge, rec.Calls()
	res.Summary, res.Errors = rep.Summary, len(rep.Errors)
	if len(rep.Principals)+len(rep.Apart) != o.Roles {
		return res, fmt.Errorf("audit judged %d principals of %d (errors: %v)", len(rep.Principals)+len(rep.Apart), o.Roles, rep.Errors)
	}
	again, err := (&audit.Auditor{Policy: p, Directory: &memory{ps: dir.read}, Workers: 1}).Run(ctx)
	if err != nil {
		return res, fmt.Errorf("serial judgement: %w", err)
	}
	res.JudgeSerial, res.Computed = again.Stats.Judge, again.Stats.Computed
	return res, nil
}

// keeping is a Directory that keeps what it read, for the serial pass.
type keeping struct {
	audit.Directory
	mu   sync.Mutex
	read []audit.Principal
}

func (k *keeping) Principal(ctx context.Context, r audit.Ref) (audit.Principal, error) {
	p, err := k.Directory.Principal(ctx, r)
	if err == nil {
		k.mu.Lock()
		k.read = append(k.read, p)
		k.mu.Unlock()
	}
	return p, err
}

// memory serves principals already read.
type memory struct {
	ps    []audit.Principal
	byARN map[string]audit.Principal
}

func (m *memory) Principals(context.Context) ([]audit.Ref, error) {
	out := make([]audit.Ref, len(m.ps))
	for i, p := range m.ps {
		out[i] = audit.Ref{ARN: p.ARN, Name: p.Name, Path: p.Path, Kind: p.Kind}
	}
	return out, nil
}

func (m *memory) Principal(_ context.Context, r audit.Ref) (audit.Principal, error) {
	if m.byARN == nil {
		m.byARN = make(map[string]audit.Principal, len(m.ps))
		for _, p := range m.ps {
			m.byARN[p.ARN] = p
		}
	}
	if p, ok := m.byARN[r.ARN]; ok {
		return p, nil
	}
	return audit.Principal{}, audit.ErrGone
}

// awsManaged are the AWS managed policies some roles hold.
var awsManaged = []string{"arn:aws:iam::aws:policy/AmazonBedrockFullAccess", "arn:aws:iam::aws:policy/AmazonBedrockReadOnly"}

// managedDocument is the k-th customer managed policy of the pool: the
// shapes real accounts hold (model and region allow-lists, profile-only
// access, network conditions, guardrail and logging administration, a
// deny list), each with its own model family and region.
func managedDocument(k int) string {
	families := []string{"anthropic.claude-3-5-sonnet-*", "anthropic.claude-3-haiku-*", "amazon.nova-*", "meta.llama3-*", "anthropic.*", "cohere.embed-*", "*opus*", "mistral.*"}
	regions := []string{"us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1"}
	fam, region := families[k%len(families)], regions[k%len(regions)]
	switch k % 6 {
	case 0:
		return `{"Version":"2012-10-17","Statement":[{"Sid":"Invoke","Effect":"Allow","Action":["bedrock:InvokeModel","bedrock:InvokeModelWithResponseStream"],"Resource":"arn:aws:bedrock:*::foundation-model/` + fam + `","Condition":{"StringEquals":{"aws:RequestedRegion":"` + region + `"}}}]}`
	case 1:
		return `{"Version":"2012-10-17","Statement":[{"Sid":"Profiles","Effect":"Allow","Action":"bedrock:InvokeModel*","Resource":"arn:aws:bedrock:*:*:inference-profile/*.` + fam + `"},{"Sid":"Hops","Effect":"Allow","Action":"bedrock:InvokeModel*","Resource":"arn:aws:bedrock:*::foundation-model/` + fam + `","Condition":{"Null":{"bedrock:InferenceProfileArn":"false"}}}]}`
	case 2:
		return `{"Version":"2012-10-17","Statement":[{"Sid":"Office","Effect":"Allow","Action":"bedrock:Invoke*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":["10.` + fmt.Sprint(k) + `.0.0/16","203.0.113.0/24"]}}}]}`
	case 3:
		return `{"Version":"2012-10-17","Statement":[{"Sid":"Guardrails","Effect":"Allow","Action":["bedrock:*Guardrail*","bedrock:GetModelInvocationLoggingConfiguration"],"Resource":"arn:aws:bedrock:` + region + `:*:guardrail/*"}]}`
	case 4:
		return `{"Version":"2012-10-17","Statement":[{"Sid":"NoFamily","Effect":"Deny","Action":"bedrock:*","Resource":["arn:aws:bedrock:*::foundation-model/` + fam + `","arn:aws:bedrock:*:*:inference-profile/*` + fam + `"]}]}`
	default:
		return `{"Version":"2012-10-17","Statement":[{"Sid":"Read","Effect":"Allow","Action":["bedrock:Get*","bedrock:List*"],"Resource":"*"},{"Sid":"Logs","Effect":"Allow","Action":"logs:*","Resource":"arn:aws:logs:` + region + `:*:log-group:/app/` + fmt.Sprint(k) + `*"}]}`
	}
}

// inlineDocument is the j-th inline policy of a role of template t: the
// first names the role's own data, the second is the template's Bedrock
// grant beside the role's own queue.
func inlineDocument(role string, t, j int) string {
	if j == 0 {
		return `{"Version":"2012-10-17","Statement":[{"Sid":"Data","Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::data-` + role + `/*"}]}`
	}
	models := []string{"amazon.titan-embed-*", "cohere.embed-*", "anthropic.claude-3-haiku-*", "amazon.nova-micro-*"}
	regions := []string{"us-east-1", "us-west-2", "eu-west-1"}
	return `{"Version":"2012-10-17","Statement":[{"Sid":"Queue","Effect":"Allow","Action":"sqs:SendMessage","Resource":"arn:aws:sqs:us-east-1:*:` + role + `"},{"Sid":"Invoke","Effect":"Allow","Action":"bedrock:InvokeModel","Resource":"arn:aws:bedrock:` + regions[t%len(regions)] + `::foundation-model/` + models[t%len(models)] + `"}]}`
}

const trust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// fill creates the pool and the roles, eight requests at a time, and
// returns how many distinct managed policies the roles attach.
func fill(ctx context.Context, c *iam.Client, o Options) (int, error) {
	var pool []string
	for k := range o.Pool {
		out, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(fmt.Sprintf("bedrock-%02d", k)), PolicyDocument: aws.String(managedDocument(k))})
		if err != nil {
			return 0, fmt.Errorf("create policy %d: %w", k, err)
		}
		pool = append(pool, aws.ToString(out.Policy.Arn))
	}
	pool = append(pool, awsManaged...)
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x5bd1e995))
	templates := make([][]string, o.Templates)
	for t := range templates {
		for _, k := range rng.Perm(len(pool))[:ManagedPerRole] {
			templates[t] = append(templates[t], pool[k])
		}
	}
	tmpl := make([]int, o.Roles)
	used := map[string]bool{}
	for i := range tmpl {
		tmpl[i] = rng.IntN(o.Templates)
		for _, arn := range templates[tmpl[i]] {
			used[arn] = true
		}
	}
	jobs := make(chan int)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := createRole(ctx, c, i, tmpl[i], templates[tmpl[i]]); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for i := range o.Roles {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	return len(used), nil
}

func createRole(ctx context.Context, c *iam.Client, i, t int, managed []string) error {
	name := fmt.Sprintf("app-%04d", i)
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		return fmt.Errorf("create role %s: %w", name, err)
	}
	for _, arn := range managed {
		if _, err := c.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(name), PolicyArn: aws.String(arn)}); err != nil {
			return fmt.Errorf("attach %s to %s: %w", arn, name, err)
		}
	}
	for j := range InlinePerRole {
		if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(fmt.Sprintf("inline-%d", j)), PolicyDocument: aws.String(inlineDocument(name, t, j))}); err != nil {
			return fmt.Errorf("inline policy of %s: %w", name, err)
		}
	}
	return nil
}
